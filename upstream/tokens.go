package upstream

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// subjectKey identifies a cached token: the SHA-256 of the subject token (the
// token itself is never kept), or a fixed key for the gateway's own token.
type subjectKey [32]byte

// ownKey is the key of the gateway's own token (client_credentials, and the
// fallback of API-key callers): SHA-256 never gives it for a subject token.
var ownKey = subjectKey{}

// cached is a token ready for the upstream: the header value it is sent as,
// in a slice of capacity one so that it can be assigned to a request's header
// map without allocating (an append by a later handler copies it). It is
// immutable once cached.
type cached struct {
	key    subjectKey
	header []string
	until  time.Time
}

// tokenCache holds the tokens of one api_upstream_auth configuration: bounded
// in entries, each until shortly before its expiry, and a flight per key so
// that concurrent misses make one token request. It lives in a UsagePool
// keyed by the configuration's hash, so a reload that keeps the
// configuration keeps the tokens. Safe for concurrent use.
type tokenCache struct {
	rc      *ristretto.Cache[uint64, *cached]
	flights singleflight.Group
}

// Destruct frees the cache when the last handler using it is cleaned up.
func (c *tokenCache) Destruct() error {
	c.rc.Close()
	return nil
}

var caches = caddy.NewUsagePool()

// loadCache takes the cache of the configuration hashed as key from the pool,
// making it with room for size tokens if it is not there. The caller releases
// it with caches.Delete(key).
func loadCache(key string, size int64) (*tokenCache, error) {
	v, _, err := caches.LoadOrNew(key, func() (caddy.Destructor, error) {
		rc, err := ristretto.NewCache(&ristretto.Config[uint64, *cached]{
			NumCounters: size * 10,
			MaxCost:     size,
			BufferItems: 64,
			// Every entry costs one: MaxCost counts tokens.
			IgnoreInternalCost: true,
		})
		if err != nil {
			return nil, fmt.Errorf("api_upstream_auth: token cache: %w", err)
		}
		return &tokenCache{rc: rc}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*tokenCache), nil
}

// get returns the cached token of key if it is still good at now. It does
// not allocate.
func (c *tokenCache) get(key subjectKey, now time.Time) *cached {
	e, ok := c.rc.Get(binary.LittleEndian.Uint64(key[:8]))
	// The full key is compared: two subjects whose hashes share 64 bits
	// never get each other's token.
	if !ok || e.key != key || !now.Before(e.until) {
		return nil
	}
	return e
}

// fetch makes one token request for key among concurrent callers: the first
// runs request, the others wait for its answer. A token is cached until
// shortly before it expires (lifetime).
func (c *tokenCache) fetch(ctx context.Context, key subjectKey, now time.Time, header func(string) string,
	request func(context.Context) (token, error)) (*cached, error) {
	v, err, _ := c.flights.Do(string(key[:]), func() (any, error) {
		if e := c.get(key, now); e != nil {
			return e, nil // cached by a flight that ended since our lookup
		}
		tok, err := request(ctx)
		if err != nil {
			return nil, err
		}
		e := &cached{key: key, header: append(make([]string, 0, 1), header(tok.AccessToken))}
		if life := lifetime(tok.ExpiresIn); life > 0 {
			e.until = now.Add(life)
			c.rc.SetWithTTL(binary.LittleEndian.Uint64(key[:8]), e, 1, life)
			c.rc.Wait()
		}
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*cached), nil
}

// lifetime is how long a token that expires in exp is used: until 10% of its
// life or 30 s before it expires, whichever is earlier, so the upstream never
// gets a token about to expire; half its life if it is shorter than that.
// A token without expires_in is not cached.
func lifetime(exp time.Duration) time.Duration {
	margin := max(exp/10, 30*time.Second)
	if margin >= exp {
		margin = exp / 2
	}
	return exp - margin
}
