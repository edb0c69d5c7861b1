package apigate

import (
	"context"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/limiter"
)

// lockers keeps the in-memory state of each lockout (api_auth's lockout)
// across config reloads, by the name that identifies the lockout's
// configuration. It is bounded like any limiter.Memory.
var lockers = caddy.NewUsagePool()

type pooledLocker struct{ *limiter.MemoryLocker }

func (pooledLocker) Destruct() error { return nil }

// lockerSet is what the app took from the pool, released in Cleanup.
type lockerSet struct {
	mu    sync.Mutex
	taken map[string]gateway.Locker
}

// Locker returns the lockout state named name (gateway.App): in memory, kept
// across reloads while a config uses it, and with the app's redis shared by
// every gateway, falling back to the memory while Redis fails.
func (a *App) Locker(name string) (gateway.Locker, error) {
	if a.lockers == nil {
		// Handlers are provisioned one after another: no race here.
		a.lockers = new(lockerSet)
	}
	a.lockers.mu.Lock()
	defer a.lockers.mu.Unlock()
	if l, ok := a.lockers.taken[name]; ok {
		return l, nil
	}
	if err := gateway.RegisterMetrics(a.ctx, limiter.BackendErrors); err != nil {
		return nil, err
	}
	v, _, err := lockers.LoadOrNew(name, func() (caddy.Destructor, error) {
		return pooledLocker{limiter.NewMemoryLocker(0)}, nil
	})
	if err != nil {
		return nil, err
	}
	l := &locker{local: v.(pooledLocker).MemoryLocker}
	if c := a.RedisClient(); c != nil {
		logger := a.logger
		l.redis = limiter.NewRedis(c, "apigate:lockout:"+name+":")
		l.health = &limiter.Health{
			OnDown: func(err error) {
				logger.Warn("lockout backend redis failed; each gateway counts failures on its own until it answers again", zap.Error(err))
			},
			OnUp: func() { logger.Info("lockout backend redis answers again") },
		}
	}
	if a.lockers.taken == nil {
		a.lockers.taken = make(map[string]gateway.Locker)
	}
	a.lockers.taken[name] = l
	return l, nil
}

// cleanupLockers releases the lockout state the app took.
func (a *App) cleanupLockers() error {
	if a.lockers == nil {
		return nil
	}
	a.lockers.mu.Lock()
	defer a.lockers.mu.Unlock()
	var err error
	for name := range a.lockers.taken {
		if _, e := lockers.Delete(name); e != nil && err == nil {
			err = e
		}
	}
	a.lockers.taken = nil
	return err
}

// locker counts failures in Redis when there is one and it answers, else in
// this process's memory.
type locker struct {
	local  *limiter.MemoryLocker
	redis  *limiter.Redis
	health *limiter.Health
}

func (l *locker) Locked(ctx context.Context, now time.Time, key string) (time.Duration, error) {
	if l.redis != nil && l.health.Use(now) {
		d, err := l.redis.Locked(ctx, now, key)
		if err == nil {
			l.health.Succeeded()
			return d, nil
		}
		limiter.BackendErrors.Inc()
		l.health.Failed(now, err)
	}
	return l.local.Locked(ctx, now, key)
}

func (l *locker) Fail(ctx context.Context, now time.Time, key string, failures int, window, lock time.Duration) (time.Duration, error) {
	lim, err := limiter.LockoutLimit(failures, window)
	if err != nil {
		return 0, err
	}
	if l.redis != nil && l.health.Use(now) {
		d, err := l.redis.Fail(ctx, now, key, lim, lock)
		if err == nil {
			l.health.Succeeded()
			return d, nil
		}
		limiter.BackendErrors.Inc()
		l.health.Failed(now, err)
	}
	return l.local.Fail(ctx, now, key, lim, lock)
}
