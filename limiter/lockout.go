package limiter

import (
	"context"
	"fmt"
	"time"
)

// LockoutLimit returns the GCRA limit that counts failures for a lockout of n
// failures within window: an interval of window and a burst of n-1. It is the
// only GCRA limit under which any n failures within window do not conform while
// fewer always do; past that, one failure is forgiven per window, so n+k
// failures within (k+1) windows do not conform either.
func LockoutLimit(n int, window time.Duration) (Limit, error) {
	if n < 1 || n > 1_000_000 {
		return Limit{}, fmt.Errorf("failures must be between 1 and 1000000, not %d", n)
	}
	if window < time.Millisecond || window > MaxWindow {
		return Limit{}, fmt.Errorf("window must be between 1ms and %s, not %s", MaxWindow, window)
	}
	return Limit{Interval: window.Truncate(time.Microsecond), Burst: n - 1}, nil
}

// Locker counts failures per key and locks a key whose failures exceed a limit.
type Locker interface {
	// Locked returns how long key stays locked, or 0.
	Locked(ctx context.Context, now time.Time, key string) (time.Duration, error)
	// Fail counts a failure of key at now under lim; when it does not conform,
	// key is locked for lock and Fail returns lock, else 0.
	Fail(ctx context.Context, now time.Time, key string, lim Limit, lock time.Duration) (time.Duration, error)
}

// MemoryLocker is a Locker in process memory. Safe for concurrent use.
type MemoryLocker struct {
	fails, locks *Memory
}

// NewMemoryLocker returns a locker holding at most maxKeys keys of each kind
// (0 means DefaultMaxKeys).
func NewMemoryLocker(maxKeys int) *MemoryLocker {
	return &MemoryLocker{fails: NewMemory(maxKeys), locks: NewMemory(maxKeys)}
}

// Locked returns how long key stays locked, or 0.
func (l *MemoryLocker) Locked(_ context.Context, now time.Time, key string) (time.Duration, error) {
	return l.locks.Deadline(now, key), nil
}

// Fail counts a failure; see Locker.
func (l *MemoryLocker) Fail(_ context.Context, now time.Time, key string, lim Limit, lock time.Duration) (time.Duration, error) {
	if l.fails.Allow(now, key, lim).Allowed {
		return 0, nil
	}
	l.locks.SetDeadline(now, key, lock)
	l.fails.Delete(key)
	return lock, nil
}

// Locked returns how long key stays locked, or 0.
func (r *Redis) Locked(ctx context.Context, _ time.Time, key string) (time.Duration, error) {
	return r.locked(ctx, key)
}

var (
	_ Locker = (*MemoryLocker)(nil)
	_ Locker = (*Redis)(nil)
)
