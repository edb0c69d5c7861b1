package apigate

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/authn"
	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/keystore"
	"github.com/apigate/caddy-apigate/limiter"
	"github.com/apigate/caddy-apigate/monitor"
)

// App is the api_gateway app: the state the gateway's handlers share, starting
// with the key store. It is loaded on demand by the handlers that need it, so it
// needs configuring only to change its defaults.
type App struct {
	// Redis is the URL of a Redis server (redis://[user:password@]host:port/db,
	// or rediss:// for TLS; redis+sentinel://host:port,host:port/mastername
	// for Sentinel; several addresses, redis://host:port,host:port, for a Redis
	// Cluster; Valkey is expected to work alike, untested) that coordinates a cluster of gateways: shared rate
	// limits and lockouts, key changes propagated within a second, scheduled
	// events sent once. Default: none; everything runs embedded in this instance.
	// Redis holds nothing that cannot be rebuilt: keys live in Caddy's storage.
	Redis string `json:"redis,omitempty"`

	// Keys sets the format and policy of API keys.
	Keys *KeysConfig `json:"keys,omitempty"`

	// Notify sends every key event (and auth.lockout) to a webhook receiver as a
	// signed Standard Webhooks message. Default: off; events are still Caddy
	// events.
	Notify *NotifyConfig `json:"notify,omitempty"`

	// Signing sets the keys the gateway signs upstream tokens with.
	Signing *SigningConfig `json:"signing,omitempty"`

	*lifecycle

	ctx    caddy.Context
	store  *keystore.Store
	reused bool
	// loadedFromStorage is when this app's full load from storage began, if it
	// made one: Start then writes a snapshot for the next start.
	loadedFromStorage time.Time
	storeName         string
	redis             *gateway.SharedRedis
	events            *caddyevents.App
	logger            *zap.Logger
	signer            *authn.SignerRef
	lockers           *limiter.Lockers
}

// KeysConfig is the policy of API keys.
type KeysConfig struct {
	// Prefix starts every key (`<prefix>_<id>_<secret><checksum>`), so secret
	// scanners and people recognise it: 1 to 16 lowercase letters or digits,
	// starting with a letter. Default: agk. Changing it invalidates existing keys.
	Prefix string `json:"prefix,omitempty"`

	// Grace is how long the old key keeps working after a rotation that names no
	// grace of its own. Default: 168h (7 days).
	Grace caddy.Duration `json:"grace,omitempty"`

	// MaxAge flags keys older than this: their responses carry a Deprecation
	// header. Default: 0 (off).
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	// WarnBefore is how long before a key expires (or reaches max_age) that a
	// key.expiring event goes out. Default: 0 (off).
	WarnBefore caddy.Duration `json:"warn_before,omitempty"`

	// Refresh is how often this instance picks up key changes other instances
	// made in the shared storage, and checks for due key.expiring and key.expired
	// events. With redis, changes arrive within a second anyway and this is the
	// resync that heals a missed message. Default: 10s.
	Refresh caddy.Duration `json:"refresh,omitempty"`
}

// DefaultGrace is the grace period of a rotated key when none is configured.
const DefaultGrace = 7 * 24 * time.Hour

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "api_gateway",
		New: func() caddy.Module { return new(App) },
	}
}

// keystores keeps each key index alive across config reloads, so a reload does
// not re-read every record. It is keyed by the storage the records live in.
var keystores = caddy.NewUsagePool()

type pooledStore struct{ *keystore.Store }

func (pooledStore) Destruct() error { return nil }

// Provision sets up the key store on Caddy's configured storage.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	a.signer, a.lockers = new(authn.SignerRef), new(limiter.Lockers)
	err := gateway.RegisterMetrics(ctx)
	if err != nil {
		return err
	}
	if a.Redis != "" {
		client, err := gateway.NewRedisClient(caddy.NewReplacer().ReplaceAll(a.Redis, ""), a.logger.Named("redis"))
		if err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		a.redis = gateway.NewSharedRedis(client)
	}
	ev, err := ctx.App("events")
	if err != nil {
		return fmt.Errorf("loading events app: %w", err)
	}
	a.events = ev.(*caddyevents.App)
	// reverse_proxy's health check events go out with the webhooks too.
	if err := monitor.ForwardHealth(a.events, a, a.logger); err != nil {
		return fmt.Errorf("forwarding health events: %w", err)
	}
	a.defaults()
	if err := a.validate(); err != nil {
		return err
	}
	policy := a.policy()

	storage := ctx.Storage()
	a.storeName = "keystore:" + storageName(storage)
	val, loaded, err := keystores.LoadOrNew(a.storeName, func() (caddy.Destructor, error) {
		s, fullLoad, err := keystore.Open(ctx, storage, policy, time.Now(), a.logger)
		if err != nil {
			return nil, err
		}
		a.loadedFromStorage = fullLoad
		return pooledStore{s}, nil
	})
	if err != nil {
		return fmt.Errorf("loading api keys: %w", err)
	}
	a.store = val.(pooledStore).Store
	// A store reused from the running config takes this config's policy when
	// this config starts (Start), not now: a reload that fails later must not
	// change the keys the running config accepts.
	a.reused = loaded
	a.logger.Debug("api key store ready", zap.Int("keys", a.store.Len()), zap.Bool("reused", loaded))
	return a.provisionLifecycle(storage)
}

// defaults fills what the config leaves out.
func (a *App) defaults() {
	if a.Keys == nil {
		a.Keys = new(KeysConfig)
	}
	if a.Keys.Prefix == "" {
		a.Keys.Prefix = keystore.DefaultPrefix
	}
	if a.Keys.Grace == 0 {
		a.Keys.Grace = caddy.Duration(DefaultGrace)
	}
	if a.Signing == nil {
		a.Signing = new(SigningConfig)
	}
	a.Signing.provision()
}

func storageName(s any) string {
	if st, ok := s.(fmt.Stringer); ok {
		return fmt.Sprintf("%T:%s", s, st.String())
	}
	return fmt.Sprintf("%T:%p", s, s)
}

func (a *App) policy() keystore.Policy {
	return keystore.Policy{
		Prefix:     a.Keys.Prefix,
		Grace:      time.Duration(a.Keys.Grace),
		MaxAge:     time.Duration(a.Keys.MaxAge),
		WarnBefore: time.Duration(a.Keys.WarnBefore),
	}
}

func (a *App) validate() error {
	if !keystore.ValidPrefix(a.Keys.Prefix) {
		return fmt.Errorf("keys: prefix %q must be 1 to %d lowercase letters or digits, starting with a letter", a.Keys.Prefix, keystore.MaxPrefixLen)
	}
	if err := a.Signing.validate(); err != nil {
		return err
	}
	for name, d := range map[string]caddy.Duration{"grace": a.Keys.Grace, "max_age": a.Keys.MaxAge, "warn_before": a.Keys.WarnBefore, "refresh": a.Keys.Refresh} {
		if d < 0 {
			return fmt.Errorf("keys: %s must not be negative", name)
		}
	}
	return nil
}

// Validate checks the configuration.
func (a *App) Validate() error { return a.validate() }

// Cleanup releases the key store and the Redis client; it works after a failed
// Provision too.
func (a *App) Cleanup() error {
	var errs []error
	if err := a.signer.Release(); err != nil {
		errs = append(errs, err)
	}
	if a.lockers != nil {
		if err := a.lockers.Release(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.storeName != "" && a.store != nil {
		if _, err := keystores.Delete(a.storeName); err != nil {
			errs = append(errs, err)
		}
	}
	if err := a.cleanupLifecycle(); err != nil {
		errs = append(errs, err)
	}
	if err := a.redis.Release(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// RedisClient returns the client of the configured Redis, or nil without one
// (gateway.App).
func (a *App) RedisClient() redis.UniversalClient { return a.redis.Client() }

// RetainRedis returns the client of the configured Redis, open until release
// is called, or nil without one (gateway.App).
func (a *App) RetainRedis() (redis.UniversalClient, func() error) { return a.redis.Retain() }

// Emit sends a Caddy event (e.g. key.rotated) that users can handle with
// Caddy's events app, and, for the events of the webhook contract (key.* and
// auth.lockout), a webhook message when notify is configured. data must never
// hold a secret.
func (a *App) Emit(name string, data map[string]any) {
	if strings.HasPrefix(name, "key.") {
		gateway.KeyEvents.WithLabelValues(name).Inc()
	}
	// Building a Caddy event costs a UUID and a map: skip it when nothing
	// listens (rate_limit.rejected fires on every 429).
	if a.events != nil && a.events.ShouldEmit(name) {
		a.events.Emit(a.ctx, name, data)
	}
	a.enqueueWebhook(name, time.Now(), data)
}

// Store returns the key store (gateway.App).
func (a *App) Store() *keystore.Store { return a.store }

// NoteGraceUse records that a key in its grace period was used (gateway.App).
func (a *App) NoteGraceUse(keyID, consumer string, now time.Time) {
	keystore.NoteGraceUse(a.RedisClient(), keyID, consumer, now, a.Emit)
}

// Locker returns the lockout state named name (gateway.App), shared through
// the app's Redis when there is one.
func (a *App) Locker(name string) (gateway.Locker, error) {
	return a.lockers.Take(a.ctx, name, a.RedisClient(), a.logger)
}

// Interface guards
var (
	_ caddy.App             = (*App)(nil)
	_ caddy.Provisioner     = (*App)(nil)
	_ caddy.Validator       = (*App)(nil)
	_ caddy.CleanerUpper    = (*App)(nil)
	_ gateway.App           = (*App)(nil)
	_ caddyfile.Unmarshaler = (*App)(nil)
)
