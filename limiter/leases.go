package limiter

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// leaseTable holds this gateway's leases of one zone's keys: per key, the
// requests taken from Redis and not yet spent, until when they may be spent,
// and what sizes the next lease. It is bounded like Memory: at the bound a new
// key first sweeps the spent and expired leases out, then evicts one (whose
// unspent requests are lost to the key, never added). Safe for concurrent use.
type leaseTable struct {
	seed     maphash.Seed
	perShard int
	shards   [numShards]leaseShard
}

type leaseShard struct {
	mu sync.Mutex
	m  map[uint64]*lease
	_  [40]byte
}

// lease is one key's lease; its shard's mutex guards it.
type lease struct {
	key       string
	lim       Limit
	left      int   // requests taken and not spent
	size      int   // requests the lease was granted (0: none yet)
	granted   int64 // when it was granted, unix nanoseconds of this gateway
	until     int64 // when it ends
	remaining int   // the key's room in Redis after the grant
	reset     int64 // the key's reset in Redis at the grant, nanoseconds
	gateways  int   // gateways using the key, as Redis counted them
	// fetching is closed when the call for a new lease ends; nil when none
	// is under way.
	fetching chan struct{}
}

func newLeaseTable(maxKeys int) *leaseTable {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	t := &leaseTable{seed: maphash.MakeSeed(), perShard: (maxKeys+numShards-1)/numShards + 1}
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]*lease)
	}
	return t
}

func (t *leaseTable) shard(key string) (*leaseShard, uint64) {
	h := maphash.String(t.seed, key)
	return &t.shards[h>>(64-shardBits)], h
}

// spend takes one request of key's lease at now. It returns the decision when
// the lease had one; else, when another request is fetching a lease, the
// channel to wait on; else the lease, marked as fetching by the caller, who
// must end it with granted or failed.
func (t *leaseTable) spend(now int64, key string) (res Result, ok bool, wait chan struct{}, e *lease) {
	s, h := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e = s.m[h]
	if e == nil || e.key != key {
		if len(s.m) >= t.perShard {
			s.evict(now)
		}
		e = &lease{key: strings.Clone(key)} // key itself stays off the heap
		s.m[h] = e
	}
	if e.left > 0 && now < e.until {
		e.left--
		return Result{Allowed: true, Remaining: e.remaining + e.left, Reset: time.Duration(max(0, e.reset-(now-e.granted)))}, true, nil, nil
	}
	if e.fetching != nil {
		return Result{}, false, e.fetching, nil
	}
	e.fetching = make(chan struct{})
	return Result{}, false, nil, e
}

// next sizes the next lease of e at now, for a lease time of leaseTime and a
// limit of lim per window: its demand, capped for the gateways that use the
// key. margin is the room the key must keep beyond it: as much again for
// every other gateway. A want of 1 is the exact path. back is what the last
// lease, ended by its time, left unspent: the call gives it back to the key.
func (t *leaseTable) next(e *lease, now int64, lim Limit, window, leaseTime time.Duration) (want, margin, back int) {
	s, _ := t.shard(e.key)
	s.mu.Lock()
	size, used, elapsed, gateways := e.size, e.size-e.left, time.Duration(now-e.granted), e.gateways
	back, e.left = e.left, 0
	s.mu.Unlock()
	if size == 0 {
		return 1, 0, 0 // first use here: learn how many gateways use the key
	}
	want = min(NextLease(size, used, elapsed, leaseTime), LeaseCap(lim, window, gateways))
	if want <= 1 {
		return 1, 0, back
	}
	return want, want * gateways, back
}

// granted installs the lease g taken at now for leaseTime, of which the
// caller spends one, and wakes the requests waiting for it.
func (t *leaseTable) granted(e *lease, now int64, lim Limit, g Grant, leaseTime time.Duration) Result {
	s, _ := t.shard(e.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e.lim, e.granted, e.until, e.gateways = lim, now, now+int64(leaseTime), max(g.Gateways, 1)
	e.remaining, e.reset = g.Remaining, int64(g.Reset)
	if g.Taken > 0 {
		e.size, e.left = g.Taken, g.Taken-1
	} else {
		e.size, e.left = 1, 0
	}
	close(e.fetching)
	e.fetching = nil
	res := g.Result
	res.Remaining += e.left
	return res
}

// failed ends a fetch that got no lease and wakes the requests waiting.
func (t *leaseTable) failed(e *lease) {
	s, _ := t.shard(e.key)
	s.mu.Lock()
	close(e.fetching)
	e.fetching = nil
	s.mu.Unlock()
}

// drain ends every lease at now and returns the requests they had not spent.
func (t *leaseTable) drain(now int64) []Returned {
	var out []Returned
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for _, e := range s.m {
			if e.left > 0 && now < e.until {
				out = append(out, Returned{Key: e.key, Limit: e.lim, N: e.left})
			}
			e.left = 0
		}
		s.mu.Unlock()
	}
	return out
}

// evict makes room for a new key: among a few leases (map iteration starts
// at a random place, so the sample is random) it deletes the ones ended at now
// and not being fetched, and when none has ended, one of the others; s.mu is
// held.
func (s *leaseShard) evict(now int64) {
	var victim *uint64
	deleted, seen := false, 0
	for h, e := range s.m {
		if e.fetching == nil {
			if e.left == 0 || now >= e.until {
				delete(s.m, h)
				deleted = true
			} else if victim == nil {
				hh := h
				victim = &hh
			}
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if !deleted && victim != nil {
		delete(s.m, *victim)
	}
}
