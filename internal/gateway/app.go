package gateway

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/apigate/caddy-apigate/keystore"
)

// App is what handlers reach of the api_gateway app (the root package's App):
// the key store, the shared Redis client, and the events. A capability that needs
// more of the app (authn: the signer) asserts the app to an interface of its
// own.
type App interface {
	// Store is the key store.
	Store() *keystore.Store
	// RedisClient is the client of the configured Redis, or nil without one.
	RedisClient() redis.UniversalClient
	// RetainRedis is RedisClient for a handler that needs the client until
	// its own Cleanup: the client stays open until release is called. It
	// returns nil and a release that does nothing without a Redis.
	RetainRedis() (client redis.UniversalClient, release func() error)
	// Emit sends a Caddy event and, for the events of the webhook contract, a
	// webhook message. data must never hold a secret.
	Emit(name string, data map[string]any)
	// NoteGraceUse records that a key in its grace period was used, for the
	// key.used_in_grace event (at most once an hour per key).
	NoteGraceUse(keyID, consumer string, now time.Time)
	// Locker returns the lockout state named name (a name that identifies
	// the lockout's configuration), kept across config reloads while a
	// config uses it, and released with the app.
	Locker(name string) (Locker, error)
}

// AppFrom returns the api_gateway app of the config being provisioned, loading
// it with its defaults when it is not configured.
func AppFrom(ctx caddy.Context) (App, error) {
	v, err := ctx.App("api_gateway")
	if err != nil {
		return nil, fmt.Errorf("loading api_gateway app: %w", err)
	}
	app, ok := v.(App)
	if !ok {
		return nil, fmt.Errorf("api_gateway app is %T, not the gateway's", v)
	}
	return app, nil
}
