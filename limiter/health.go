package limiter

import (
	"sync/atomic"
	"time"
)

// Health tracks whether a shared backend (Redis) answers, so that while it is
// down requests do not each wait for a time-out: after a failure the backend is
// left alone for Retry, then one request probes it, and the first success puts
// it back in use. Safe for concurrent use; the zero value is "up".
type Health struct {
	// Retry is how long the backend is left alone after a failure. Default: 1s.
	Retry time.Duration
	// OnDown is called when the backend goes from up to down (once per outage),
	// OnUp when it comes back. Either may be nil.
	OnDown func(error)
	OnUp   func()

	downUntil atomic.Int64 // unix nanoseconds; 0 when up
}

func (h *Health) retry() int64 {
	if h.Retry <= 0 {
		return int64(time.Second)
	}
	return int64(h.Retry)
}

// Use reports whether the backend should be tried at now: always while it is
// up; while it is down, only by the one caller that takes the next probe.
func (h *Health) Use(now time.Time) bool {
	d := h.downUntil.Load()
	if d == 0 {
		return true
	}
	n := now.UnixNano()
	if n < d {
		return false
	}
	return h.downUntil.CompareAndSwap(d, n+h.retry())
}

// Failed records a failure of the backend at now.
func (h *Health) Failed(now time.Time, err error) {
	if h.downUntil.Swap(now.UnixNano()+h.retry()) == 0 && h.OnDown != nil {
		h.OnDown(err)
	}
}

// Succeeded records an answer of the backend.
func (h *Health) Succeeded() {
	if h.downUntil.Load() != 0 && h.downUntil.Swap(0) != 0 && h.OnUp != nil {
		h.OnUp()
	}
}

// Down reports whether the backend is considered down.
func (h *Health) Down() bool { return h.downUntil.Load() != 0 }
