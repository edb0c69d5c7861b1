package authn

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigate/caddy-apigate/limiter"
)

// LockoutConfig is the brute-force protection of api_auth: Failures rejected
// credentials from one client IP within Window lock that IP out for Duration.
// A locked-out IP gets 429 (problem+json, Retry-After) before any credential
// it sends is checked. Requests without a credential do not count.
//
// Failures are counted with GCRA (interval Window, burst Failures-1): any
// Failures failures within Window lock, fewer never do, and past that one
// failure is forgiven per Window. With the api_gateway redis, failures and
// lockouts are shared by every gateway; while Redis fails, each gateway counts
// on its own.
type LockoutConfig struct {
	// Failures is how many rejected credentials lock an IP out. Required.
	Failures int `json:"failures,omitempty"`
	// Window is the time within which Failures failures lock. Required.
	Window caddy.Duration `json:"window,omitempty"`
	// Duration is how long the IP stays locked out. Required.
	Duration caddy.Duration `json:"duration,omitempty"`

	limit  limiter.Limit
	local  *limiter.MemoryLocker
	redis  *limiter.Redis
	health *limiter.Health
	app    *App
	logger *zap.Logger
	body   []byte
}

// lockoutMemory holds the failures and lockouts of every api_auth of this
// process. It lives as long as the process, so lockouts survive config
// reloads; it is bounded like any limiter.Memory.
var lockoutMemory = sync.OnceValue(func() *limiter.MemoryLocker { return limiter.NewMemoryLocker(0) })

func (lc *LockoutConfig) provision(ctx caddy.Context, logger *zap.Logger) error {
	lim, err := limiter.LockoutLimit(lc.Failures, time.Duration(lc.Window))
	if err != nil {
		return fmt.Errorf("lockout: %w", err)
	}
	if lc.Duration <= 0 || time.Duration(lc.Duration) > limiter.MaxWindow {
		return fmt.Errorf("lockout: duration must be positive and at most %s", limiter.MaxWindow)
	}
	if err := registerMetrics(ctx, rateLimitCollectors()...); err != nil {
		return err
	}
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	lc.limit, lc.app, lc.logger = lim, app, logger
	lc.local = lockoutMemory()
	if c := app.RedisClient(); c != nil {
		lc.redis = limiter.NewRedis(c, "apigate:lockout:")
		lc.health = &limiter.Health{
			OnDown: func(err error) {
				logger.Warn("lockout backend redis failed; each gateway counts failures on its own until it answers again", zap.Error(err))
			},
			OnUp: func() { logger.Info("lockout backend redis answers again") },
		}
	}
	lc.body = problemBody(http.StatusTooManyRequests, "too many failed authentications from this address; retry after the time in Retry-After")
	return nil
}

// lockedFor returns how long ip stays locked out, or 0.
func (lc *LockoutConfig) lockedFor(now time.Time, ip netip.Addr) time.Duration {
	key := addrKey(ip)
	if lc.redis != nil && lc.health.Use(now) {
		d, err := lc.redis.Locked(context.Background(), now, key)
		if err == nil {
			lc.health.Succeeded()
			return d
		}
		rateLimitBackendErrors.Inc()
		lc.health.Failed(now, err)
	}
	d, _ := lc.local.Locked(context.Background(), now, key)
	return d
}

// fail counts a rejected credential from ip, locking it out when it is one too
// many.
func (lc *LockoutConfig) fail(now time.Time, ip netip.Addr) {
	key := addrKey(ip)
	d := time.Duration(lc.Duration)
	var lock time.Duration
	counted := false
	if lc.redis != nil && lc.health.Use(now) {
		l, err := lc.redis.Fail(context.Background(), now, key, lc.limit, d)
		if err == nil {
			lc.health.Succeeded()
			lock, counted = l, true
		} else {
			rateLimitBackendErrors.Inc()
			lc.health.Failed(now, err)
		}
	}
	if !counted {
		lock, _ = lc.local.Fail(context.Background(), now, key, lc.limit, d)
	}
	if lock == 0 {
		return
	}
	authLockouts.Inc()
	if c := lc.logger.Check(zapcore.InfoLevel, "client locked out after failed authentications"); c != nil {
		c.Write(zap.String("client_ip", key), zap.Duration("duration", lock))
	}
	lc.app.Emit("auth.lockout", map[string]any{
		"client_ip": key,
		"failures":  lc.Failures,
		"window":    time.Duration(lc.Window).String(),
		"duration":  lock.String(),
	})
}

// reject answers a locked-out client.
func (lc *LockoutConfig) reject(w http.ResponseWriter, d time.Duration) error {
	decisions.WithLabelValues("api_auth", "locked_out").Inc()
	w.Header().Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(d)), 10))
	return writeProblem(w, http.StatusTooManyRequests, lc.body)
}
