package cache

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/sync/singleflight"
)

// stores holds the stores, keyed by size settings, so a reload keeps them and
// handlers with the same sizes share one.
var stores = caddy.NewUsagePool()

// pooledStore is a store in stores with its in-flight upstream requests.
type pooledStore struct {
	*Store
	flights singleflight.Group
}

// Destruct frees the store when the last handler using it is cleaned up.
func (p *pooledStore) Destruct() error {
	p.Close()
	return nil
}

// loadStore takes the store of these sizes from the pool, making it if it is
// not there. The caller releases it with stores.Delete(key).
func loadStore(maxSize, maxItem int64) (key string, p *pooledStore, err error) {
	key = fmt.Sprintf("api_cache/%d/%d", maxSize, maxItem)
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, err := NewStore(Config{
			MaxSize:  maxSize,
			MaxItem:  maxItem,
			OnEvict:  func(int64) { cacheEvictions.Inc() },
			OnReject: func() { cacheRejections.Inc() },
		})
		if err != nil {
			return nil, err
		}
		return &pooledStore{Store: s}, nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("api_cache: %w", err)
	}
	return key, v.(*pooledStore), nil
}

// MaxPurgePath bounds the path a purge names.
const MaxPurgePath = 8 << 10

// ValidPurgePath reports whether p may name the responses to purge: it
// starts with /, holds no control characters and is at most MaxPurgePath
// bytes long. The admin API and `caddy api-cache purge` check it.
func ValidPurgePath(p string) bool {
	if !strings.HasPrefix(p, "/") || len(p) > MaxPurgePath {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return false
		}
	}
	return true
}

// Purge drops every stored response (path "") or makes those of path stale,
// in every store, and returns how many stores there are. The admin API's
// DELETE /api_gateway/cache calls it.
func Purge(path string) int {
	n := 0
	stores.Range(func(_, v any) bool {
		p := v.(*pooledStore)
		if path == "" {
			p.Purge()
		} else {
			p.Invalidate(path)
		}
		n++
		return true
	})
	cacheInvalidations.Inc()
	return n
}
