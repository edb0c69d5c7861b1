package limiter

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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
// A zone's buckets are identified by its ID, else by its name: handlers
// naming the same zone share its buckets on purpose, while each Caddyfile
// shorthand (api_rate_limit 100/1m) has buckets of its own. The buckets
// survive config reloads, taking the new settings.
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

	// Sync is how the redis backend decides: lease (a gateway takes a block
	// of a key's allowance from Redis in one call and spends it locally for
	// at most LeaseTime, so most requests make no call) or exact (one atomic
	// call per request). With lease, in any window W a key gets at most
	// rate·W + burst plus one lease per gateway, and leases are sized so that
	// this extra stays within 5% of rate·W + burst; small limits and keys
	// near their limit are decided exactly. Either way a refused key is
	// refused locally until its Retry-After. Default: lease.
	Sync string `json:"sync,omitempty"`

	// LeaseTime is how long a lease may be spent (sync lease). Default: 50ms.
	LeaseTime caddy.Duration `json:"lease_time,omitempty"`

	// MaxKeys bounds the keys each zone holds in memory; at the bound, a new key
	// evicts the key nearest to expiry. Default: 1048576 (about 40 MiB).
	MaxKeys int `json:"max_keys,omitempty"`

	// Mode is enforce (answer 429) or report: a request over the limit passes
	// on, and the log, the metrics (decisions_total{outcome="report"}) and
	// the audit record (would_reject) say it would have been refused. A
	// request passed in report mode counts like one refused in enforce mode
	// (it takes no allowance), so the buckets evolve as they would under
	// enforce and the report shows what enforce would do. Default: enforce.
	Mode gateway.Mode `json:"mode,omitempty"`

	zones       []*zoneState
	shared      *shared
	release     func() error // lets go of the Redis client shared is on
	app         gateway.App
	gate        *gateway.Gate
	unavailable *gateway.Answer
	logger      *zap.Logger
	now         func() time.Time // nil: time.Now; tests set a clock
}

// Backends and behaviours on backend errors.
const (
	backendMemory = "memory"
	backendRedis  = "redis"
	onErrorLocal  = "local"
	onErrorAllow  = "allow"
	onErrorDeny   = "deny"
)

// CaddyModule returns the Caddy module information.
func (RateLimit) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_rate_limit",
		New: func() caddy.Module { return new(RateLimit) },
	}
}

// Provision fills the defaults, takes the zones' buckets from the pool and
// connects the backend.
func (rl *RateLimit) Provision(ctx caddy.Context) error {
	app, err := gateway.AppFrom(ctx)
	if err != nil {
		return err
	}
	return rl.provision(ctx, app)
}

// provision is Provision with the app given (tests give a fake one). It builds
// what it can of an invalid config, which Validate then refuses.
func (rl *RateLimit) provision(ctx caddy.Context, app gateway.App) error {
	rl.logger, rl.app = ctx.Logger(), app
	if rl.Backend == "" {
		rl.Backend = backendMemory
	}
	if rl.OnBackendError == "" {
		rl.OnBackendError = onErrorLocal
	}
	if rl.Sync == "" {
		rl.Sync = syncLease
	}
	if err := gateway.RegisterMetrics(ctx, rejectedByZone, BackendErrors, backendCalls); err != nil {
		return err
	}
	gate, err := gateway.NewGate(ctx, "api_rate_limit", rl.Mode)
	if err != nil {
		return fmt.Errorf("api_rate_limit: %w", err)
	}
	rl.gate = gate
	rl.unavailable = gate.Answer(http.StatusServiceUnavailable, "backend_unavailable", "the rate limit backend is unavailable; try again shortly")
	if rl.Backend == backendRedis {
		// Held until Cleanup, which gives the unspent leases back.
		client, release := app.RetainRedis()
		rl.release = release
		if client == nil {
			return fmt.Errorf("api_rate_limit: backend redis needs a Redis server: set it with the redis option of the api_gateway global option")
		}
		rl.shared = newShared(NewRedis(client, "apigate:rl:"), &Health{
			OnDown: func(err error) {
				rl.logger.Warn("rate limit backend redis failed; requests are now decided by on_backend_error until it answers again",
					zap.String("on_backend_error", rl.OnBackendError), zap.Error(err))
			},
			OnUp: func() { rl.logger.Info("rate limit backend redis answers again") },
		}, rl.Sync, time.Duration(rl.LeaseTime))
	}
	for _, z := range rl.Zones {
		if z == nil {
			continue
		}
		if z.Name == "" {
			z.Name = defaultZone
		}
		zs, err := takeZone(z, rl.MaxKeys, gate)
		if err != nil {
			return err
		}
		if rl.shared != nil {
			zs.leases, zs.denied = newLeaseTable(rl.MaxKeys), NewMemory(rl.MaxKeys)
		}
		rl.zones = append(rl.zones, zs)
	}
	return nil
}

// Validate checks the configuration. Every rule is checked here, once; the
// Caddyfile grammar applies the same rules to the arguments it reads.
func (rl *RateLimit) Validate() error {
	if err := rl.validate(); err != nil {
		return fmt.Errorf("api_rate_limit: %w", err)
	}
	return nil
}

func (rl *RateLimit) validate() error {
	if err := rl.Mode.Validate(); err != nil {
		return err
	}
	if err := checkBackend(rl.Backend); err != nil {
		return err
	}
	if err := checkOnBackendError(rl.OnBackendError); err != nil {
		return err
	}
	if err := checkSync(rl.Sync); err != nil {
		return err
	}
	if rl.LeaseTime < 0 || time.Duration(rl.LeaseTime) > time.Minute {
		return fmt.Errorf("lease_time must be between 0 and 1m, not %s", time.Duration(rl.LeaseTime))
	}
	if rl.MaxKeys < 0 {
		return fmt.Errorf("max_keys must not be negative")
	}
	if len(rl.Zones) == 0 {
		return fmt.Errorf("no zone is configured")
	}
	names := map[string]bool{}
	for _, z := range rl.Zones {
		if z == nil {
			return fmt.Errorf("empty zone")
		}
		if err := z.validate(); err != nil {
			return err
		}
		if names[z.Name] {
			return fmt.Errorf("zone %q is configured twice", z.Name)
		}
		names[z.Name] = true
	}
	return nil
}

func checkBackend(s string) error {
	switch s {
	case "", backendMemory, backendRedis:
		return nil
	}
	return fmt.Errorf("backend must be memory or redis, not %q", s)
}

func checkOnBackendError(s string) error {
	switch s {
	case "", onErrorLocal, onErrorAllow, onErrorDeny:
		return nil
	}
	return fmt.Errorf("on_backend_error must be local, allow or deny, not %q", s)
}

func checkSync(s string) error {
	switch s {
	case "", syncLease, syncExact:
		return nil
	}
	return fmt.Errorf("sync must be lease or exact, not %q", s)
}

// Cleanup gives the unspent leases back to Redis and releases the zones'
// buckets; a reload that keeps a zone has taken them again before.
func (rl *RateLimit) Cleanup() error {
	if rl.shared != nil {
		now := time.Now()
		if rl.now != nil {
			now = rl.now()
		}
		rl.shared.giveBack(now, rl.zones, rl.logger)
	}
	for _, z := range rl.zones {
		_, _ = zonePool.Delete(z.poolKey)
	}
	rl.zones = nil
	if rl.release != nil {
		return rl.release()
	}
	return nil
}

// ServeHTTP decides the request in every zone, sets the RateLimit headers, and
// passes the request on or refuses it through the gate: 429, or 503 when the
// backend fails under on_backend_error deny.
func (rl *RateLimit) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	now := start
	if rl.now != nil {
		now = rl.now()
	}
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
		res, ok := rl.decide(now, z, key, spec)
		if !ok {
			switch rl.OnBackendError {
			case onErrorAllow:
				continue
			case onErrorDeny:
				if done, err := rl.gate.RejectWith(w, r, rl.unavailable, gateway.Extra{RetryAfter: 1}); done {
					return err
				}
				continue // report mode: the zone lets this request through
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
		// One backing array for both header values: one allocation, not two.
		vals := [2]string{strings.Join(policies, ", "), strings.Join(states, ", ")}
		both := vals[:]
		h["Ratelimit-Policy"], h["Ratelimit"] = both[0:1:1], both[1:2:2]
	}
	if limited == nil {
		rl.gate.Pass(start)
		return next.ServeHTTP(w, r)
	}
	return rl.refuse(w, r, next, limited, retry)
}

// refuse answers a request over the limit of zone z with 429, or in report
// mode records that it would have and passes the request on. The zone's
// rejection count and the rate_limit.rejected event are for requests actually
// refused.
func (rl *RateLimit) refuse(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, z *zoneState, retry time.Duration) error {
	if c := rl.logger.Check(zapcore.DebugLevel, "rate limit exceeded"); c != nil {
		c.Write(zap.String("zone", z.name), zap.Duration("retry_after", retry), zap.Bool("report", rl.gate.Reporting()))
	}
	if !rl.gate.Reporting() {
		z.rejected.Inc()
		rl.app.Emit("rate_limit.rejected", map[string]any{"zone": z.name})
	}
	if done, err := rl.gate.RejectWith(w, r, z.answer, gateway.Extra{RetryAfter: int(max(1, ceilSeconds(retry)))}); done {
		return err
	}
	return next.ServeHTTP(w, r)
}

// decide asks the backend; ok is false when the shared backend failed or is
// considered down.
func (rl *RateLimit) decide(now time.Time, z *zoneState, key string, spec *rateSpec) (Result, bool) {
	if rl.shared == nil {
		return z.mem.Allow(now, key, spec.limit), true
	}
	return rl.shared.decide(now, z, key, spec)
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

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*RateLimit)(nil)
	_ caddy.Provisioner           = (*RateLimit)(nil)
	_ caddy.Validator             = (*RateLimit)(nil)
	_ caddy.CleanerUpper          = (*RateLimit)(nil)
)
