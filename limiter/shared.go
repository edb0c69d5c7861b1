package limiter

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"go.uber.org/zap"
)

// Ways of deciding with the redis backend (sync).
const (
	syncLease = "lease"
	syncExact = "exact"

	// DefaultLeaseTime is how long a lease may be spent when sync lease
	// names no time.
	DefaultLeaseTime = 50 * time.Millisecond
	// leaseTries is how many times a request waits for a lease another
	// request is fetching before it makes its own exact call.
	leaseTries = 4
	// giveBackTimeout bounds the give-back of a config being replaced.
	giveBackTimeout = 2 * time.Second
)

// gatewayID tells this process apart from the other gateways using a key. It
// is the same across config reloads, as the process is.
var gatewayID = func() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}()

// shared decides with the redis backend: with leases (most requests spend a
// lease in hand and make no call), or exactly (one call per request). Either
// way a refusal is remembered until its Retry-After, so a key over its limit
// costs Redis nothing until then: in that time no request of the key could
// conform anyway.
type shared struct {
	redis     *Redis
	health    *Health
	exact     bool
	leaseTime time.Duration
	horizon   time.Duration // how long a gateway counts as using a key
}

func newShared(r *Redis, h *Health, sync string, leaseTime time.Duration) *shared {
	if leaseTime <= 0 {
		leaseTime = DefaultLeaseTime
	}
	return &shared{redis: r, health: h, exact: sync == syncExact, leaseTime: leaseTime,
		horizon: max(20*leaseTime, 2*time.Second)}
}

// decide decides a request for key in zone z at now under spec. ok is false
// when it needed Redis and Redis failed or is considered down.
func (s *shared) decide(now time.Time, z *zoneState, key string, spec *rateSpec) (Result, bool) {
	if d := z.denied.Deadline(now, key); d > 0 {
		return Result{RetryAfter: d, Reset: d}, true
	}
	if s.exact {
		return s.take(now, z, key, spec, TakeArgs{Want: 1})
	}
	n := now.UnixNano()
	for range leaseTries {
		res, ok, wait, e := z.leases.spend(n, key)
		switch {
		case ok:
			return res, true
		case wait != nil:
			<-wait
			if d := z.denied.Deadline(now, key); d > 0 {
				return Result{RetryAfter: d, Reset: d}, true
			}
			continue
		}
		return s.fetch(now, z, key, spec, e)
	}
	return s.take(now, z, key, spec, TakeArgs{Want: 1, Gateway: gatewayID, Horizon: s.horizon})
}

// fetch takes a new lease for e, spending one request of it.
func (s *shared) fetch(now time.Time, z *zoneState, key string, spec *rateSpec, e *lease) (Result, bool) {
	n := now.UnixNano()
	if !s.health.Use(now) {
		z.leases.failed(e)
		return Result{}, false
	}
	want, margin, back := z.leases.next(e, n, spec.limit, spec.window, s.leaseTime)
	g, err := s.call(z, key, spec, TakeArgs{Want: want, Margin: margin, GiveBack: back, Gateway: gatewayID, Horizon: s.horizon})
	if err != nil {
		z.leases.failed(e)
		s.failed(now, err)
		return Result{}, false
	}
	if g.Taken == 0 {
		z.denied.SetDeadline(now, key, g.RetryAfter)
	}
	return z.leases.granted(e, n, spec.limit, g, s.leaseTime), true
}

// take is the exact path: one call for one request.
func (s *shared) take(now time.Time, z *zoneState, key string, spec *rateSpec, a TakeArgs) (Result, bool) {
	if !s.health.Use(now) {
		return Result{}, false
	}
	g, err := s.call(z, key, spec, a)
	if err != nil {
		s.failed(now, err)
		return Result{}, false
	}
	if g.Taken == 0 {
		z.denied.SetDeadline(now, key, g.RetryAfter)
	}
	return g.Result, true
}

func (s *shared) call(z *zoneState, key string, spec *rateSpec, a TakeArgs) (Grant, error) {
	z.calls.Inc()
	g, err := s.redis.Take(context.Background(), z.redisPrefix+key, spec.limit, a)
	if err == nil {
		s.health.Succeeded()
	}
	return g, err
}

func (s *shared) failed(now time.Time, err error) {
	BackendErrors.Inc()
	s.health.Failed(now, err)
}

// giveBack ends the zones' leases and gives their unspent requests back to
// Redis, when a config is replaced or the server stops.
func (s *shared) giveBack(now time.Time, zones []*zoneState, logger *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), giveBackTimeout)
	defer cancel()
	for _, z := range zones {
		rs := z.leases.drain(now.UnixNano())
		if len(rs) == 0 {
			continue
		}
		for i := range rs {
			rs[i].Key = z.redisPrefix + rs[i].Key
		}
		z.givenBack.Add(float64(len(rs)))
		if err := s.redis.GiveBack(ctx, rs); err != nil {
			BackendErrors.Inc()
			logger.Warn("giving unspent rate limit leases back to redis", zap.String("zone", z.name), zap.Error(err))
		}
	}
}
