package authn

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// TokenCache remembers the identities of verified tokens, so a caller that
// repeats its token pays a hash and a map lookup instead of a signature check
// or a round trip to the identity provider. It is keyed by the SHA-256 of the
// token (it never holds a token), bounded in size, and an entry never outlives
// the instant it was stored with (at most the token's exp).
//
// The zero value is not usable; use NewTokenCache. A TokenCache is safe for
// concurrent use.
type TokenCache struct {
	shards   [cacheShards]cacheShard
	perShard int
}

const cacheShards = 16

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]cacheEntry
}

type cacheEntry struct {
	id    *Identity // nil: a negative entry (the token was rejected)
	rej   *Rejection
	bind  Binding
	until time.Time
}

// NewTokenCache returns a cache holding at most about max entries (at least
// one per shard).
func NewTokenCache(max int) *TokenCache {
	per := max / cacheShards
	if per < 1 {
		per = 1
	}
	c := &TokenCache{perShard: per}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]cacheEntry)
	}
	return c
}

// TokenKey is the cache key of a token: its SHA-256. The token's bytes are
// hashed in place (SHA-256 neither keeps nor changes its input), sparing a
// copy of the token on every request.
func TokenKey(token string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// Get returns the identity stored for key, or the rejection stored for it, if
// the entry is still valid at now. ok is false when there is no valid entry.
func (c *TokenCache) Get(key [32]byte, now time.Time) (id *Identity, rej *Rejection, ok bool) {
	id, rej, _, ok = c.GetBound(key, now)
	return id, rej, ok
}

// GetBound is Get, also returning the binding stored with the identity.
func (c *TokenCache) GetBound(key [32]byte, now time.Time) (id *Identity, rej *Rejection, bind Binding, ok bool) {
	s := &c.shards[key[0]%cacheShards]
	s.mu.RLock()
	e, found := s.m[key]
	s.mu.RUnlock()
	if !found || !now.Before(e.until) {
		return nil, nil, Binding{}, false
	}
	return e.id, e.rej, e.bind, true
}

// Put stores an identity (or, with id nil, a rejection) for key until until.
// When the shard is full, expired entries are dropped first, then arbitrary
// ones: a full cache costs signature checks, never correctness.
func (c *TokenCache) Put(key [32]byte, id *Identity, rej *Rejection, until, now time.Time) {
	c.PutBound(key, id, rej, Binding{}, until, now)
}

// PutBound is Put with the binding of the token.
func (c *TokenCache) PutBound(key [32]byte, id *Identity, rej *Rejection, bind Binding, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	s := &c.shards[key[0]%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.m[key]; !exists && len(s.m) >= c.perShard {
		evicted := 0
		for k, e := range s.m {
			if !now.Before(e.until) {
				delete(s.m, k)
				evicted++
			}
		}
		if evicted == 0 {
			// Map iteration order is random: this drops an arbitrary entry.
			for k := range s.m {
				delete(s.m, k)
				break
			}
		}
	}
	s.m[key] = cacheEntry{id: id, rej: rej, bind: bind, until: until}
}

// Len returns the number of entries, expired ones included.
func (c *TokenCache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
