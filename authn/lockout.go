package authn

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// LockoutConfig is the brute-force protection of api_auth: Failures rejected
// credentials from one client IP within Window lock that IP out for Duration.
// A locked-out IP gets 429 (problem+json, Retry-After) before any credential
// it sends is checked. Requests without a credential do not count.
//
// Failures are counted with GCRA (interval Window, burst Failures-1): any
// Failures failures within Window lock, fewer never do, and past that one
// failure is forgiven per Window. The state belongs to the configuration
// (failures, window and duration): it survives config reloads that keep it,
// and api_auth handlers configured alike share it. With the api_gateway redis,
// failures and lockouts are shared by every gateway; while Redis fails, each
// gateway counts on its own.
type LockoutConfig struct {
	// Failures is how many rejected credentials lock an IP out, between 1
	// and 1000000. Required.
	Failures int `json:"failures,omitempty"`
	// Window is the time within which Failures failures lock, between 1ms
	// and 366 days. Required.
	Window caddy.Duration `json:"window,omitempty"`
	// Duration is how long the IP stays locked out, at most 366 days.
	// Required.
	Duration caddy.Duration `json:"duration,omitempty"`

	locker gateway.Locker
	app    gateway.App
	logger *zap.Logger
}

// Bounds of a lockout.
const (
	maxLockoutFailures = 1_000_000
	maxLockoutTime     = 366 * 24 * time.Hour
)

// authLockouts counts the client addresses api_auth locked out.
var authLockouts = gateway.NewCounter("auth_lockouts_total", "Client addresses api_auth locked out after failed authentications.")

func (lc *LockoutConfig) provision(ctx caddy.Context, app gateway.App, logger *zap.Logger) error {
	if err := gateway.RegisterMetrics(ctx, authLockouts); err != nil {
		return err
	}
	l, err := app.Locker(lc.name())
	if err != nil {
		return fmt.Errorf("lockout: %w", err)
	}
	lc.locker, lc.app, lc.logger = l, app, logger
	return nil
}

// name identifies the lockout's state: its configuration.
func (lc *LockoutConfig) name() string {
	return fmt.Sprintf("%d/%s/%s", lc.Failures, time.Duration(lc.Window), time.Duration(lc.Duration))
}

// Validate checks the configuration.
func (lc *LockoutConfig) Validate() error {
	switch w := time.Duration(lc.Window); {
	case lc.Failures < 1 || lc.Failures > maxLockoutFailures:
		return fmt.Errorf("lockout: failures must be between 1 and %d, not %d", maxLockoutFailures, lc.Failures)
	case w < time.Millisecond || w > maxLockoutTime:
		return fmt.Errorf("lockout: window must be between 1ms and %s, not %s", maxLockoutTime, w)
	case lc.Duration <= 0 || time.Duration(lc.Duration) > maxLockoutTime:
		return fmt.Errorf("lockout: duration must be positive and at most %s, not %s", maxLockoutTime, time.Duration(lc.Duration))
	}
	return nil
}

// lockedFor returns how long ip stays locked out, or 0 (also when the state
// cannot be read: the credential is then checked as usual). The locker's
// backend bounds its own calls: a client that goes away must not make a
// shared backend look down.
func (lc *LockoutConfig) lockedFor(now time.Time, ip netip.Addr) time.Duration {
	d, _ := lc.locker.Locked(context.Background(), now, gateway.AddrKey(ip))
	return d
}

// fail counts a rejected credential from ip, locking it out when it is one too
// many.
func (lc *LockoutConfig) fail(now time.Time, ip netip.Addr) {
	key := gateway.AddrKey(ip)
	lock, err := lc.locker.Fail(context.Background(), now, key, lc.Failures, time.Duration(lc.Window), time.Duration(lc.Duration))
	if err != nil || lock == 0 {
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
