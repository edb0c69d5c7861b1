package gateway

import (
	"context"
	"time"
)

// Locker counts failures per key and locks out a key that fails too often:
// the lockout of api_auth. The api_gateway app provides one per configuration
// (App.Locker), in process memory that outlives config reloads, shared by the
// whole cluster through Redis when the app has one.
//
// Implementations are safe for concurrent use. An error means the answer is
// not known (the caller decides whether to pass or refuse); a shared backend
// that fails falls back to local counting on its own, without an error.
type Locker interface {
	// Locked returns how long key stays locked out at now, or 0.
	Locked(ctx context.Context, now time.Time, key string) (time.Duration, error)

	// Fail counts a failure of key at now. When it makes failures failures
	// within window, key is locked out for lock, and Fail returns how long;
	// else it returns 0.
	Fail(ctx context.Context, now time.Time, key string, failures int, window, lock time.Duration) (time.Duration, error)
}
