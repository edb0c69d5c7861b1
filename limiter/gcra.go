// Package limiter is api_rate_limit: the handler, its Caddyfile grammar, and
// rate limiting with the generic cell rate algorithm (GCRA): per key it keeps
// one number, the theoretical arrival time (TAT) of the next request, and
// decides each request exactly in O(1) time and memory.
//
// A Limit of N requests per window W with burst B lets a fresh key make B
// requests at once, then one more every W/N. A key whose TAT is in the past is
// indistinguishable from a key never seen, which is what lets the stores forget
// idle keys without changing any decision.
//
// The algorithm and the stores (this file, memory.go, redis.go, health.go,
// lockout.go) do not depend on Caddy. Time is passed in, so tests use fixed
// instants. Stores: Memory (sharded, bounded, in-process) and Redis (the same
// algorithm as one Lua script, shared by every gateway that uses the server).
package limiter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limit is a GCRA limit. The zero value allows nothing; build one with NewLimit.
type Limit struct {
	// Interval is the emission interval: the time one request "costs", W/N.
	Interval time.Duration
	// Burst is how many requests a fresh key may make at once.
	Burst int
}

// Most a limit may describe, so that Interval*Burst never overflows.
const (
	MaxRequests = 1_000_000_000
	MaxWindow   = 366 * 24 * time.Hour
)

// NewLimit returns the limit of n requests per window, with burst requests at
// once (burst 0 means n).
func NewLimit(n int, window time.Duration, burst int) (Limit, error) {
	switch {
	case n < 1 || n > MaxRequests:
		return Limit{}, fmt.Errorf("requests must be between 1 and %d, not %d", MaxRequests, n)
	case window <= 0 || window > MaxWindow:
		return Limit{}, fmt.Errorf("window must be positive and at most %s, not %s", MaxWindow, window)
	case burst < 0 || burst > MaxRequests:
		return Limit{}, fmt.Errorf("burst must be between 1 and %d, not %d", MaxRequests, burst)
	}
	if burst == 0 {
		burst = n
	}
	iv := window / time.Duration(n)
	if iv < time.Microsecond {
		// The Redis store counts in microseconds.
		return Limit{}, fmt.Errorf("%d requests per %s is more than one per microsecond", n, window)
	}
	iv = iv.Truncate(time.Microsecond)
	return Limit{Interval: iv, Burst: burst}, nil
}

// Result is the decision on one request.
type Result struct {
	// Allowed reports whether the request conforms to the limit.
	Allowed bool
	// Remaining is how many more requests the key could make right now.
	Remaining int
	// RetryAfter is, for a rejected request, how long until one would conform.
	RetryAfter time.Duration
	// Reset is how long until the key has its full burst again.
	Reset time.Duration
}

// Decide applies GCRA to one request at now (nanoseconds) for a key whose
// stored TAT is tat (0 for a key never seen). It returns the decision and the
// TAT to store when the request is allowed. Decide is the reference the stores
// implement.
func (l Limit) Decide(now, tat int64) (Result, int64) {
	iv := int64(l.Interval)
	if tat < now {
		tat = now
	}
	newTat := tat + iv
	allowAt := newTat - int64(l.Burst)*iv
	if now < allowAt {
		return Result{
			Remaining:  0,
			RetryAfter: time.Duration(allowAt - now),
			Reset:      time.Duration(tat - now),
		}, tat
	}
	return Result{
		Allowed:   true,
		Remaining: int((now - allowAt) / iv),
		Reset:     time.Duration(newTat - now),
	}, newTat
}

// ParseRate parses "N/W": N requests per window W, a duration such as 1s, 1m,
// 1h or 1d ("N/m" means N/1m). It is meant for configuration files.
func ParseRate(s string) (n int, window time.Duration, err error) {
	num, win, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("rate %q: want requests/window, like 100/1m", s)
	}
	n, err = strconv.Atoi(num)
	if err != nil || n < 1 || n > MaxRequests || num[0] == '+' {
		return 0, 0, fmt.Errorf("rate %q: %q is not a number of requests between 1 and %d", s, num, MaxRequests)
	}
	if win != "" && (win[0] < '0' || win[0] > '9') {
		win = "1" + win
	}
	window, err = parseWindow(win)
	if err != nil {
		return 0, 0, fmt.Errorf("rate %q: %w", s, err)
	}
	if _, err := NewLimit(n, window, 0); err != nil {
		return 0, 0, fmt.Errorf("rate %q: %w", s, err)
	}
	return n, window, nil
}

var errWindow = errors.New("window must be a duration like 1s, 1m, 1h or 1d")

// parseWindow parses a positive duration, with d for days.
func parseWindow(s string) (time.Duration, error) {
	if s == "" {
		return 0, errWindow
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > int(MaxWindow/(24*time.Hour)) || days[0] == '+' {
			return 0, errWindow
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > MaxWindow {
		return 0, errWindow
	}
	return d, nil
}
