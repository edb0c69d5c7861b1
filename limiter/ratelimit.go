package limiter

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// RateLimit is the api_rate_limit handler: it limits how often a caller may
// call, with GCRA per key, in one or more zones. A request over the limit of
// any zone is answered 429 (problem+json, Retry-After); every response of the
// route carries RateLimit-Policy and RateLimit headers
// (draft-ietf-httpapi-ratelimit-headers).
//
// Zones are identified by name across the config: handlers naming the same
// zone share its buckets, and the buckets survive config reloads, taking the
// new settings.
type RateLimit struct {
	// Zones are the limits applied, each to its own key. A request must
	// conform to every zone.
	Zones []*RateZone `json:"zones,omitempty"`

	// Backend is where the buckets live: memory (this instance) or redis (the
	// api_gateway app's Redis, shared by every gateway using it). Default:
	// memory.
	Backend string `json:"backend,omitempty"`

	// OnBackendError is what happens while the redis backend fails: local
	// (decide with this instance's in-memory buckets, and log once), allow
	// (let requests through unlimited) or deny (answer 503). Default: local.
	// Redis is tried again a second after a failure, so it is picked up again
	// when it comes back, without a restart.
	OnBackendError string `json:"on_backend_error,omitempty"`

	// MaxKeys bounds the keys each zone holds in memory; at the bound, a new key
	// evicts the key nearest to expiry. Default: 1048576 (about 40 MiB).
	MaxKeys int `json:"max_keys,omitempty"`

	zones       []*zoneState
	redis       *Redis
	health      *Health
	app         gateway.App
	logger      *zap.Logger
	now         func() time.Time
	bodyBackend []byte

	mAllowed, mLimited, mBackendDenied prometheus.Counter
}

// RateZone is one limit of api_rate_limit.
type RateZone struct {
	// Name names the zone in headers, metrics and events, and identifies its
	// buckets across the config. Default: default.
	Name string `json:"name,omitempty"`

	// Key is what a bucket is kept per: any placeholders, such as
	// {http.auth.user.id} or {http.request.header.X-Tenant}. A key that
	// expands to nothing falls back to the client IP. Default: the consumer
	// api_auth established, else the client IP (honouring the server's
	// trusted_proxies).
	Key string `json:"key,omitempty"`

	// Requests per Window is the rate: a fresh key may make Requests requests
	// at once, then one more every Window/Requests. Required.
	Requests int            `json:"requests,omitempty"`
	Window   caddy.Duration `json:"window,omitempty"`

	// Burst is how many requests a fresh key may make at once instead of
	// Requests. Default: Requests.
	Burst int `json:"burst,omitempty"`

	// Tiers give callers holding the scope tier:<name> another rate. The first
	// tier listed that the caller holds applies.
	Tiers []*RateTier `json:"tiers,omitempty"`
}

// RateTier is the rate of the callers holding the scope tier:<Name>.
type RateTier struct {
	// Name is the tier: callers holding the scope tier:<Name> get this rate.
	Name string `json:"name,omitempty"`
	// Requests per Window is the tier's rate. Required.
	Requests int            `json:"requests,omitempty"`
	Window   caddy.Duration `json:"window,omitempty"`
	// Burst is the tier's allowance at once. Default: Requests.
	Burst int `json:"burst,omitempty"`
}

// Backends and behaviours on backend errors.
const (
	backendMemory = "memory"
	backendRedis  = "redis"
	onErrorLocal  = "local"
	onErrorAllow  = "allow"
	onErrorDeny   = "deny"
)

// zoneState is a zone ready for requests.
type zoneState struct {
	name     string
	key      string // placeholder template; "" for the default key
	base     rateSpec
	tiers    []tierSpec
	mem      *Memory
	poolKey  string
	rejected prometheus.Counter
	body429  []byte
}

type rateSpec struct {
	limit  Limit
	policy string // the zone's item of RateLimit-Policy
	prefix string // the zone's item of RateLimit, up to ";r="
}

type tierSpec struct {
	scope string
	rateSpec
}

// CaddyModule returns the Caddy module information.
func (RateLimit) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_rate_limit",
		New: func() caddy.Module { return new(RateLimit) },
	}
}

// zonePool keeps each zone's in-memory buckets across config reloads, keyed by
// the zone's name.
var zonePool = caddy.NewUsagePool()

type pooledMemory struct{ *Memory }

func (pooledMemory) Destruct() error { return nil }

// Provision builds the zones and connects the backend.
func (rl *RateLimit) Provision(ctx caddy.Context) error {
	rl.logger = ctx.Logger()
	if rl.now == nil {
		rl.now = time.Now
	}
	if err := gateway.RegisterMetrics(ctx, rejectedByZone, BackendErrors); err != nil {
		return err
	}
	rl.mAllowed = gateway.Decisions.WithLabelValues("api_rate_limit", "allowed")
	rl.mLimited = gateway.Decisions.WithLabelValues("api_rate_limit", "limited")
	rl.mBackendDenied = gateway.Decisions.WithLabelValues("api_rate_limit", "backend_unavailable")
	if rl.Backend == "" {
		rl.Backend = backendMemory
	}
	if rl.OnBackendError == "" {
		rl.OnBackendError = onErrorLocal
	}
	if err := rl.validate(); err != nil {
		return err
	}
	app, err := gateway.AppFrom(ctx)
	if err != nil {
		return err
	}
	rl.app = app
	if rl.Backend == backendRedis {
		client := app.RedisClient()
		if client == nil {
			return fmt.Errorf("api_rate_limit: backend redis needs a Redis server: set it with the redis option of the api_gateway global option")
		}
		rl.redis = NewRedis(client, "apigate:rl:")
		rl.health = &Health{
			OnDown: func(err error) {
				rl.logger.Warn("rate limit backend redis failed; requests are now decided by on_backend_error until it answers again",
					zap.String("on_backend_error", rl.OnBackendError), zap.Error(err))
			},
			OnUp: func() { rl.logger.Info("rate limit backend redis answers again") },
		}
		rl.bodyBackend = gateway.ProblemBody(http.StatusServiceUnavailable, "the rate limit backend is unavailable; try again shortly")
	}
	for _, z := range rl.Zones {
		poolKey := "apigate.rate_limit.zone:" + z.Name
		val, loaded, err := zonePool.LoadOrNew(poolKey, func() (caddy.Destructor, error) {
			return pooledMemory{NewMemory(rl.MaxKeys)}, nil
		})
		if err != nil {
			return fmt.Errorf("zone %s: %w", z.Name, err)
		}
		mem := val.(pooledMemory).Memory
		if loaded {
			mem.SetMaxKeys(rl.MaxKeys)
		}
		zs := rl.buildZone(z, mem)
		zs.poolKey = poolKey
		rl.zones = append(rl.zones, zs)
	}
	return nil
}

// buildZone prepares a validated zone whose in-memory buckets are mem.
func (rl *RateLimit) buildZone(z *RateZone, mem *Memory) *zoneState {
	zs := &zoneState{name: z.Name, key: z.Key, mem: mem}
	zs.base, _ = newRateSpec(z.Name, z.Requests, time.Duration(z.Window), z.Burst)
	for _, t := range z.Tiers {
		spec, _ := newRateSpec(z.Name, t.Requests, time.Duration(t.Window), t.Burst)
		zs.tiers = append(zs.tiers, tierSpec{scope: "tier:" + t.Name, rateSpec: spec})
	}
	zs.rejected = rejectedByZone.WithLabelValues(z.Name)
	zs.body429 = gateway.ProblemBody(http.StatusTooManyRequests, "the rate limit of zone "+z.Name+" is exceeded; retry after the time in Retry-After")
	return zs
}

// newRateSpec builds a limit and its header items.
func newRateSpec(zone string, n int, window time.Duration, burst int) (rateSpec, error) {
	lim, err := NewLimit(n, window, burst)
	if err != nil {
		return rateSpec{}, err
	}
	q := strconv.Quote(zone)
	return rateSpec{
		limit:  lim,
		policy: fmt.Sprintf("%s;q=%d;w=%d", q, n, ceilSeconds(window)),
		prefix: q + ";r=",
	}, nil
}

func (rl *RateLimit) validate() error {
	switch rl.Backend {
	case backendMemory, backendRedis:
	default:
		return fmt.Errorf("api_rate_limit: backend must be memory or redis, not %q", rl.Backend)
	}
	switch rl.OnBackendError {
	case onErrorLocal, onErrorAllow, onErrorDeny:
	default:
		return fmt.Errorf("api_rate_limit: on_backend_error must be local, allow or deny, not %q", rl.OnBackendError)
	}
	if rl.MaxKeys < 0 {
		return fmt.Errorf("api_rate_limit: max_keys must not be negative")
	}
	if len(rl.Zones) == 0 {
		return fmt.Errorf("api_rate_limit: no zone is configured")
	}
	seen := map[string]bool{}
	for _, z := range rl.Zones {
		if z == nil {
			return fmt.Errorf("api_rate_limit: empty zone")
		}
		if z.Name == "" {
			z.Name = "default"
		}
		if !validZoneName(z.Name) {
			return fmt.Errorf("api_rate_limit: zone name %q must be letters, digits, '_', '-' or '.'", z.Name)
		}
		if seen[z.Name] {
			return fmt.Errorf("api_rate_limit: zone %q is configured twice", z.Name)
		}
		seen[z.Name] = true
		if _, err := NewLimit(z.Requests, time.Duration(z.Window), z.Burst); err != nil {
			return fmt.Errorf("api_rate_limit: zone %s: %w", z.Name, err)
		}
		tiers := map[string]bool{}
		for _, t := range z.Tiers {
			if t == nil || gateway.CheckScope("tier:"+t.Name) != "" || t.Name == "" {
				return fmt.Errorf("api_rate_limit: zone %s: a tier needs a name that makes a valid scope", z.Name)
			}
			if tiers[t.Name] {
				return fmt.Errorf("api_rate_limit: zone %s: tier %q is configured twice", z.Name, t.Name)
			}
			tiers[t.Name] = true
			if _, err := NewLimit(t.Requests, time.Duration(t.Window), t.Burst); err != nil {
				return fmt.Errorf("api_rate_limit: zone %s: tier %s: %w", z.Name, t.Name, err)
			}
		}
	}
	return nil
}

// Validate checks the configuration.
func (rl *RateLimit) Validate() error { return rl.validate() }

// Cleanup releases the zones' buckets; a reload that keeps a zone has taken
// them again before.
func (rl *RateLimit) Cleanup() error {
	for _, z := range rl.zones {
		if z.poolKey != "" {
			_, _ = zonePool.Delete(z.poolKey)
		}
	}
	return nil
}

func validZoneName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' {
			continue
		}
		return false
	}
	return true
}

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// ServeHTTP decides the request in every zone, sets the RateLimit headers, and
// passes the request on or answers 429 (503 when the backend fails under
// on_backend_error deny).
func (rl *RateLimit) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	now := rl.now()
	id := gateway.IdentityFrom(r)
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	var (
		policies, states []string
		single           [1]string
		single2          [1]string
		limited          *zoneState
		retry            time.Duration
	)
	if len(rl.zones) == 1 {
		policies, states = single[:0], single2[:0]
	}
	for _, z := range rl.zones {
		spec := z.specFor(id)
		key := z.keyFor(r, repl, id)
		res, ok := rl.decide(now, z, key, spec.limit)
		if !ok {
			switch rl.OnBackendError {
			case onErrorAllow:
				continue
			case onErrorDeny:
				rl.mBackendDenied.Inc()
				w.Header().Set("Retry-After", "1")
				return gateway.WriteProblem(w, http.StatusServiceUnavailable, rl.bodyBackend)
			}
			res = z.mem.Allow(now, key, spec.limit)
		}
		policies = append(policies, spec.policy)
		states = append(states, rateState(spec.prefix, res))
		if !res.Allowed {
			if limited == nil {
				limited = z
			}
			retry = max(retry, res.RetryAfter)
		}
	}
	h := w.Header()
	if len(policies) > 0 {
		h["Ratelimit-Policy"] = []string{strings.Join(policies, ", ")}
		h["Ratelimit"] = []string{strings.Join(states, ", ")}
	}
	if limited == nil {
		rl.mAllowed.Inc()
		return next.ServeHTTP(w, r)
	}
	rl.mLimited.Inc()
	limited.rejected.Inc()
	rl.app.Emit("rate_limit.rejected", map[string]any{"zone": limited.name})
	if c := rl.logger.Check(zapcore.DebugLevel, "rate limited"); c != nil {
		c.Write(zap.String("zone", limited.name), zap.Duration("retry_after", retry))
	}
	secs := max(1, ceilSeconds(retry))
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	return gateway.WriteProblem(w, http.StatusTooManyRequests, limited.body429)
}

// decide asks the backend; ok is false when the shared backend failed or is
// considered down.
func (rl *RateLimit) decide(now time.Time, z *zoneState, key string, lim Limit) (Result, bool) {
	if rl.redis == nil {
		return z.mem.Allow(now, key, lim), true
	}
	if !rl.health.Use(now) {
		return Result{}, false
	}
	res, err := rl.redis.Allow(context.Background(), now, z.name+":"+key, lim)
	if err != nil {
		BackendErrors.Inc()
		rl.health.Failed(now, err)
		return Result{}, false
	}
	rl.health.Succeeded()
	return res, true
}

// rateState renders the zone's item of the RateLimit header.
func rateState(prefix string, res Result) string {
	b := make([]byte, 0, len(prefix)+16)
	b = append(b, prefix...)
	b = strconv.AppendInt(b, int64(res.Remaining), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, ceilSeconds(res.Reset), 10)
	return string(b)
}

// specFor returns the rate of the caller: the first tier it holds, else the
// zone's own.
func (z *zoneState) specFor(id *gateway.Identity) *rateSpec {
	if id != nil {
		for i := range z.tiers {
			if id.HasScope(z.tiers[i].scope) {
				return &z.tiers[i].rateSpec
			}
		}
	}
	return &z.base
}

// keyFor returns the bucket key of the request. Keys of different sources get
// different prefixes, so a consumer named like an address has its own bucket.
func (z *zoneState) keyFor(r *http.Request, repl *caddy.Replacer, id *gateway.Identity) string {
	if z.key == "" {
		if id != nil && id.Consumer != "" {
			return "c:" + id.Consumer
		}
	} else if repl != nil {
		// Unknown placeholders (a header not sent) expand to nothing.
		if k := repl.ReplaceAll(z.key, ""); strings.TrimSpace(k) != "" {
			return "k:" + k
		}
	}
	return "ip:" + gateway.AddrKey(gateway.ClientIP(r))
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*RateLimit)(nil)
	_ caddy.Provisioner           = (*RateLimit)(nil)
	_ caddy.Validator             = (*RateLimit)(nil)
	_ caddy.CleanerUpper          = (*RateLimit)(nil)
)
