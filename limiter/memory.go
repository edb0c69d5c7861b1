package limiter

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

const (
	shardBits = 6
	numShards = 1 << shardBits

	// DefaultMaxKeys is the number of keys a Memory store holds at most when
	// none is set: about 40 MiB.
	DefaultMaxKeys = 1 << 20

	// minSweep is the size below which a shard never sweeps on growth.
	minSweep = 1024
	// evictSample is how many entries are looked at to choose one to evict.
	evictSample = 8
)

// Memory is an in-process store of GCRA state and deadlines, safe for
// concurrent use. Build one with NewMemory.
//
// It keeps one 64-bit deadline per key, under a keyed hash of the key (the key
// itself is never stored), in 64 shards with a mutex each. A deadline in the
// past means "no state", so entries are deleted once past: each shard sweeps
// them out when it has doubled since its last sweep. The store never holds more
// than MaxKeys entries: at the bound, a new key evicts the entry nearest to
// expiry among a few sampled, which forgets at most that entry's remaining
// debt. (The bound is kept per shard, at MaxKeys/64 plus an eighth, so the
// store holds MaxKeys live keys, and at most 9/8 of that.) A flood of distinct keys therefore costs bounded memory, and can at
// worst make some keys forget part of their history, never block a new key.
//
// Two keys whose 64-bit hashes collide share one entry; with a random seed per
// store an attacker cannot aim for a collision.
type Memory struct {
	seed     maphash.Seed
	perShard atomic.Int64
	shards   [numShards]shard
}

type shard struct {
	mu      sync.Mutex
	m       map[uint64]int64
	sweepAt int // sweep when len(m) reaches this
	inserts int // inserts since the last sweep
	_       [32]byte
}

// NewMemory returns an empty store holding at most maxKeys keys (0 means
// DefaultMaxKeys).
func NewMemory(maxKeys int) *Memory {
	m := &Memory{seed: maphash.MakeSeed()}
	m.SetMaxKeys(maxKeys)
	for i := range m.shards {
		m.shards[i].m = make(map[uint64]int64)
		m.shards[i].sweepAt = minSweep
	}
	return m
}

// SetMaxKeys changes the bound on the number of keys (0 means DefaultMaxKeys).
// Shards above the new bound shrink as new keys arrive.
func (m *Memory) SetMaxKeys(maxKeys int) {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	// Keys spread unevenly over the shards: an eighth more room per shard lets
	// a store hold MaxKeys live keys before it evicts.
	per := int64(maxKeys+numShards-1) / numShards
	m.perShard.Store(per + per/8 + 1)
}

// Allow decides a request for key at now under lim, and records it when it is
// allowed.
func (m *Memory) Allow(now time.Time, key string, lim Limit) Result {
	h := maphash.String(m.seed, key)
	s := &m.shards[h>>(64-shardBits)]
	n := now.UnixNano()
	s.mu.Lock()
	tat, ok := s.m[h]
	res, newTat := lim.Decide(n, tat)
	if res.Allowed {
		if ok {
			s.m[h] = newTat
		} else {
			s.insert(h, newTat, n, m.perShard.Load())
		}
	}
	s.mu.Unlock()
	return res
}

// Deadline returns how long until the deadline set for key, or 0 when none is
// set or it has passed.
func (m *Memory) Deadline(now time.Time, key string) time.Duration {
	h := maphash.String(m.seed, key)
	s := &m.shards[h>>(64-shardBits)]
	n := now.UnixNano()
	s.mu.Lock()
	d := s.m[h]
	s.mu.Unlock()
	if d <= n {
		return 0
	}
	return time.Duration(d - n)
}

// SetDeadline sets the deadline of key to now+d, or removes it when d <= 0.
func (m *Memory) SetDeadline(now time.Time, key string, d time.Duration) {
	h := maphash.String(m.seed, key)
	s := &m.shards[h>>(64-shardBits)]
	n := now.UnixNano()
	s.mu.Lock()
	if d <= 0 {
		delete(s.m, h)
	} else if _, ok := s.m[h]; ok {
		s.m[h] = n + int64(d)
	} else {
		s.insert(h, n+int64(d), n, m.perShard.Load())
	}
	s.mu.Unlock()
}

// Delete forgets key.
func (m *Memory) Delete(key string) {
	h := maphash.String(m.seed, key)
	s := &m.shards[h>>(64-shardBits)]
	s.mu.Lock()
	delete(s.m, h)
	s.mu.Unlock()
}

// Len returns the number of entries held, expired ones included until swept.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Sweep deletes every entry whose deadline is not after now.
func (m *Memory) Sweep(now time.Time) {
	n := now.UnixNano()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.sweep(n)
		s.mu.Unlock()
	}
}

// insert adds a key not present; s.mu is held.
func (s *shard) insert(h uint64, v, now, max int64) {
	if len(s.m) >= s.sweepAt || int64(len(s.m)) >= max {
		// A full sweep is O(shard size): do it only when the shard has doubled,
		// or, at the bound, after enough inserts to pay for it.
		if len(s.m) >= s.sweepAt || s.inserts >= len(s.m)/8 {
			s.sweep(now)
		}
		for int64(len(s.m)) >= max {
			s.evict()
		}
	}
	s.m[h] = v
	s.inserts++
}

// sweep deletes the entries past their deadline; s.mu is held.
func (s *shard) sweep(now int64) {
	for h, v := range s.m {
		if v <= now {
			delete(s.m, h)
		}
	}
	s.inserts = 0
	s.sweepAt = max(minSweep, 2*len(s.m))
}

// evict deletes the entry nearest to its deadline among a few; map iteration
// starts at a random place, so the sample is random. s.mu is held.
func (s *shard) evict() {
	var victim uint64
	best := int64(-1)
	i := 0
	for h, v := range s.m {
		if best < 0 || v < best {
			victim, best = h, v
		}
		i++
		if i == evictSample {
			break
		}
	}
	if best >= 0 {
		delete(s.m, victim)
	}
}
