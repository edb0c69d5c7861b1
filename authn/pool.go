package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// State of the token methods that must outlive a config reload, each in a
// caddy.UsagePool keyed by the configuration it belongs to: a reload that
// keeps a method's configuration keeps its verified tokens (so the identity
// provider is not asked again about each active token) and its key set; one
// that changes it starts afresh.
var (
	// tokenCaches holds the verified-token caches of jwt and introspect,
	// keyed by a hash of every setting that decides what a token is worth.
	tokenCaches = caddy.NewUsagePool()
	// jwksPool holds each provider's key set and its refresh loop, keyed by
	// where the keys come from.
	jwksPool = caddy.NewUsagePool()
)

// configKey names the pooled state of kind for a configuration: kind and a
// SHA-256 of the JSON of parts. Secrets are among the parts (a changed secret
// is another configuration), so the key is a hash and never holds one.
func configKey(kind string, parts ...any) string {
	b, err := json.Marshal(parts)
	if err != nil {
		// Only plain values are hashed; a failure is a programming error.
		panic("authn: hashing a configuration: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return kind + ":" + hex.EncodeToString(sum[:])
}

type pooledCache struct{ *TokenCache }

func (pooledCache) Destruct() error { return nil }

// loadCache returns the token cache named key, creating it with room for
// size tokens. Release it with tokenCaches.Delete(key).
func loadCache(key string, size int) (*TokenCache, error) {
	v, _, err := tokenCaches.LoadOrNew(key, func() (caddy.Destructor, error) {
		return pooledCache{NewTokenCache(size)}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(pooledCache).TokenCache, nil
}

// pooledKeys is a provider's key set shared by the configs that name it. Its
// refresh loop starts once, when the first config using it is valid, and
// stops when the last one is cleaned up; it logs through the logger of the
// config provisioned last.
type pooledKeys struct {
	*RemoteKeys
	logger atomic.Pointer[zap.Logger]
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
}

func (p *pooledKeys) Destruct() error { p.cancel(); return nil }

// start runs the refresh loop, once.
func (p *pooledKeys) start() {
	p.once.Do(func() { go p.Run(p.ctx) })
}

// loadKeys returns the pooled key set named key, creating it with newKeys,
// and makes it log through logger from now on. Release it with
// jwksPool.Delete(key).
func loadKeys(key string, logger *zap.Logger, newKeys func() *RemoteKeys) (*pooledKeys, error) {
	v, _, err := jwksPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		p := &pooledKeys{RemoteKeys: newKeys()}
		p.Observe = observeIdP("jwks")
		p.OnError = func(err error) {
			p.logger.Load().Warn("refreshing the identity provider's keys failed; the cached keys stay in use", zap.Error(err))
		}
		p.ctx, p.cancel = context.WithCancel(context.Background())
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	p := v.(*pooledKeys)
	p.logger.Store(logger)
	return p, nil
}

// observeIdP counts requests of one kind to identity providers.
func observeIdP(kind string) func(ok bool) {
	okC, errC := gateway.IdPRequests.WithLabelValues(kind, "ok"), gateway.IdPRequests.WithLabelValues(kind, "error")
	return func(ok bool) {
		if ok {
			okC.Inc()
		} else {
			errC.Inc()
		}
	}
}
