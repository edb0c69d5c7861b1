package limiter

import (
	"context"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// lockers keeps the in-memory state of each lockout (api_auth's lockout)
// across config reloads, by the name that identifies the lockout's
// configuration. It is bounded like any Memory.
var lockers = caddy.NewUsagePool()

type pooledLocker struct{ *MemoryLocker }

func (pooledLocker) Destruct() error { return nil }

// Lockers is the lockout state one config took from the pool (the
// api_gateway app holds one and releases it in Cleanup). The zero value is
// ready to use.
type Lockers struct {
	mu    sync.Mutex
	taken map[string]gateway.Locker
}

// Take returns the lockout state named name: in memory, kept across reloads
// while a config uses it, and with client (may be nil) shared by every
// gateway, falling back to the memory while Redis fails.
func (ls *Lockers) Take(ctx caddy.Context, name string, client redis.UniversalClient, logger *zap.Logger) (gateway.Locker, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l, ok := ls.taken[name]; ok {
		return l, nil
	}
	if err := gateway.RegisterMetrics(ctx, BackendErrors); err != nil {
		return nil, err
	}
	v, _, err := lockers.LoadOrNew(name, func() (caddy.Destructor, error) {
		return pooledLocker{NewMemoryLocker(0)}, nil
	})
	if err != nil {
		return nil, err
	}
	l := &locker{local: v.(pooledLocker).MemoryLocker}
	if client != nil {
		l.redis = NewRedis(client, "apigate:lockout:"+name+":")
		l.health = &Health{
			OnDown: func(err error) {
				logger.Warn("lockout backend redis failed; each gateway counts failures on its own until it answers again", zap.Error(err))
			},
			OnUp: func() { logger.Info("lockout backend redis answers again") },
		}
	}
	if ls.taken == nil {
		ls.taken = make(map[string]gateway.Locker)
	}
	ls.taken[name] = l
	return l, nil
}

// Release gives back the lockout state taken.
func (ls *Lockers) Release() error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var err error
	for name := range ls.taken {
		if _, e := lockers.Delete(name); e != nil && err == nil {
			err = e
		}
	}
	ls.taken = nil
	return err
}

// locker counts failures in Redis when there is one and it answers, else in
// this process's memory.
type locker struct {
	local  *MemoryLocker
	redis  *Redis
	health *Health
}

func (l *locker) Locked(ctx context.Context, now time.Time, key string) (time.Duration, error) {
	if l.redis != nil && l.health.Use(now) {
		d, err := l.redis.Locked(ctx, now, key)
		if err == nil {
			l.health.Succeeded()
			return d, nil
		}
		BackendErrors.Inc()
		l.health.Failed(now, err)
	}
	return l.local.Locked(ctx, now, key)
}

func (l *locker) Fail(ctx context.Context, now time.Time, key string, failures int, window, lock time.Duration) (time.Duration, error) {
	lim, err := LockoutLimit(failures, window)
	if err != nil {
		return 0, err
	}
	if l.redis != nil && l.health.Use(now) {
		d, err := l.redis.Fail(ctx, now, key, lim, lock)
		if err == nil {
			l.health.Succeeded()
			return d, nil
		}
		BackendErrors.Inc()
		l.health.Failed(now, err)
	}
	return l.local.Fail(ctx, now, key, lim, lock)
}
