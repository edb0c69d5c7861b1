package authn

import (
	"sync"
	"time"
)

// clientBuckets is a token bucket per client address: n requests per window,
// refilled evenly, in burst up to n. It bounds a handler that is not behind
// api_rate_limit (api_key_leak) with no dependency on it.
//
// Time is passed in. It remembers at most maxClients addresses; when full, it
// forgets those whose bucket has refilled, then arbitrary ones (a forgotten
// client starts with a full bucket). Safe for concurrent use; the zero value
// is not usable, use newClientBuckets.
type clientBuckets struct {
	n          float64
	perToken   time.Duration
	maxClients int

	mu sync.Mutex
	m  map[string]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newClientBuckets(n int, window time.Duration, maxClients int) *clientBuckets {
	return &clientBuckets{
		n:          float64(n),
		perToken:   window / time.Duration(n),
		maxClients: maxClients,
		m:          make(map[string]bucket),
	}
}

// Allow takes a token of client's bucket at now; when there is none it
// returns false and how long until there is.
func (c *clientBuckets) Allow(client string, now time.Time) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[client]
	if !ok {
		c.makeRoom(now)
		b = bucket{tokens: c.n, at: now}
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(c.n, b.tokens+float64(elapsed)/float64(c.perToken))
		b.at = now
	}
	if b.tokens < 1 {
		c.m[client] = b
		return false, time.Duration((1 - b.tokens) * float64(c.perToken))
	}
	b.tokens--
	c.m[client] = b
	return true, 0
}

// makeRoom keeps the map under maxClients.
func (c *clientBuckets) makeRoom(now time.Time) {
	if len(c.m) < c.maxClients {
		return
	}
	full := time.Duration(c.n) * c.perToken
	for k, b := range c.m {
		if now.Sub(b.at) >= full {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) < c.maxClients {
			break
		}
		delete(c.m, k)
	}
}
