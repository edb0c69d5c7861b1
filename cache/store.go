package cache

import (
	"bytes"
	"errors"
	"hash/maphash"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Entry is a stored response, or (Index) the Vary header names of a URL whose
// variants are stored under keys extended with AppendVary. An Entry is
// immutable once given to Store.Set: it is served to many requests at once.
type Entry struct {
	// Key is the full key the entry is stored under; a hit compares it, so a
	// hash collision can never serve another key's entry.
	Key []byte
	// Partition is whose response this is, checked again on every hit.
	Partition Partition
	// Index marks an entry that only holds VaryNames.
	Index bool
	// VaryNames are the response's Vary header names (canonical, sorted).
	VaryNames []string

	Status int
	// Header are the upstream's response headers, without hop-by-hop fields
	// and Age. Its value slices are clipped, so appending to one copies.
	Header http.Header
	Body   []byte

	// Stored is when the response arrived (the store's clock), InitialAge its
	// age then, Lifetime its freshness lifetime.
	Stored               time.Time
	InitialAge, Lifetime time.Duration

	gen   Gen
	slot  uint32
	cost  int64
	sized bool
}

// Age returns the entry's current age (RFC 9111 section 4.2.3).
func (e *Entry) Age(now time.Time) time.Duration {
	age := e.InitialAge + now.Sub(e.Stored)
	if age < 0 {
		age = 0
	}
	return age
}

// Remaining returns how long the entry stays fresh; zero or less is stale.
func (e *Entry) Remaining(now time.Time) time.Duration {
	return e.Lifetime - e.Age(now)
}

// Usable reports whether the entry may answer a request with directives req
// at now: it is fresh, and younger than the request's max-age and fresh for
// at least its min-fresh. Stale entries are never served.
func (e *Entry) Usable(now time.Time, req Directives) bool {
	rem := e.Remaining(now)
	if rem <= 0 {
		return false
	}
	if req.MaxAge >= 0 && e.Age(now) > time.Duration(req.MaxAge)*time.Second {
		return false
	}
	if req.MinFresh >= 0 && rem < time.Duration(req.MinFresh)*time.Second {
		return false
	}
	return true
}

// Gen is a snapshot of the invalidation generations of a path: an entry
// stored with a snapshot taken before its upstream request is stale as soon
// as an unsafe request on its path (or a purge) completes after that.
type Gen struct{ path, all uint64 }

// Config configures a Store.
type Config struct {
	// MaxSize bounds the sum of the entries' costs (body, headers, key and a
	// fixed overhead), in bytes.
	MaxSize int64
	// MaxItem is the largest entry cost stored, in bytes.
	MaxItem int64
	// OnEvict, when set, is called (from ristretto's goroutine) for every
	// entry evicted or expired.
	OnEvict func(cost int64)
	// OnReject, when set, is called (from ristretto's goroutine) for every
	// entry the admission policy refused: under a flood of URLs requested
	// once, TinyLFU keeps the entries that are read over the newcomers.
	OnReject func()
}

// genSlots is the number of invalidation counters (a power of two). Paths
// share counters by hash: a collision only invalidates more than needed.
const genSlots = 4096

// entryOverhead approximates the memory of an Entry, its header map and the
// ristretto item beyond the bytes counted one by one.
const entryOverhead = 320

// Store is a bounded response store on ristretto. It is safe for concurrent
// use. Writes are asynchronous (ristretto buffers them): a Get right after a
// Set may miss, and a Set may be dropped under contention or refused by the
// admission policy; callers hand fresh responses to concurrent waiters
// themselves rather than relying on the store.
type Store struct {
	rc      *ristretto.Cache[[]byte, *Entry]
	maxItem int64
	seed    maphash.Seed
	all     atomic.Uint64
	gens    [genSlots]atomic.Uint64

	evictions, rejections, dropped atomic.Uint64
}

// NewStore builds a store. MaxSize must be positive, MaxItem positive and at
// most MaxSize.
func NewStore(cfg Config) (*Store, error) {
	if cfg.MaxSize <= 0 || cfg.MaxItem <= 0 || cfg.MaxItem > cfg.MaxSize {
		return nil, errors.New("cache: max_size and max_item must be positive, max_item at most max_size")
	}
	s := &Store{maxItem: cfg.MaxItem, seed: maphash.MakeSeed()}
	// Ristretto wants about ten counters per entry it will hold. Responses of
	// an API are small; assume 1 KiB on average, within sane bounds.
	counters := cfg.MaxSize / 1024 * 10
	counters = min(max(counters, 10_000), 20_000_000)
	rc, err := ristretto.NewCache(&ristretto.Config[[]byte, *Entry]{
		NumCounters: counters,
		MaxCost:     cfg.MaxSize,
		BufferItems: 64,
		// Costs are in bytes, so ristretto's own per-item bytes count too.
		IgnoreInternalCost: false,
		OnEvict: func(it *ristretto.Item[*Entry]) {
			s.evictions.Add(1)
			if cfg.OnEvict != nil {
				cfg.OnEvict(it.Cost)
			}
		},
		OnReject: func(*ristretto.Item[*Entry]) {
			s.rejections.Add(1)
			if cfg.OnReject != nil {
				cfg.OnReject()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	s.rc = rc
	return s, nil
}

func (s *Store) slot(path string) uint32 {
	return uint32(maphash.String(s.seed, path) & (genSlots - 1))
}

// Snapshot returns the current generations of path, to be taken before the
// upstream request whose response will be stored.
func (s *Store) Snapshot(path string) Gen {
	return Gen{path: s.gens[s.slot(path)].Load(), all: s.all.Load()}
}

// Current reports whether nothing invalidated path since g was taken.
func (s *Store) Current(path string, g Gen) bool {
	return g == s.Snapshot(path)
}

// Invalidate makes every entry of path (any host, query, consumer) stale, in
// O(1). Their memory is reclaimed when they expire or are evicted.
func (s *Store) Invalidate(path string) { s.gens[s.slot(path)].Add(1) }

// Purge makes every entry stale and frees the memory.
func (s *Store) Purge() {
	s.all.Add(1)
	s.rc.Clear()
}

// Get returns the entry stored under key, if any and not invalidated.
func (s *Store) Get(key []byte) (*Entry, bool) {
	e, ok := s.rc.Get(key)
	if !ok || e == nil || !bytes.Equal(e.Key, key) {
		return nil, false
	}
	if e.gen.all != s.all.Load() || e.gen.path != s.gens[e.slot].Load() {
		return nil, false
	}
	return e, true
}

// Cost returns the bytes e accounts for.
func Cost(e *Entry) int64 {
	n := int64(entryOverhead + len(e.Key) + len(e.Body))
	for k, vs := range e.Header {
		n += int64(len(k)) + 16
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	for _, v := range e.VaryNames {
		n += int64(len(v)) + 16
	}
	return n
}

// Set stores e, valid for the generations g of path taken before its upstream
// request, until it stops being fresh at the store's clock now. It reports
// whether ristretto accepted the write (it may still refuse it on admission):
// false for entries over MaxItem, already stale, or dropped.
func (s *Store) Set(e *Entry, path string, g Gen, now time.Time) bool {
	e.gen, e.slot = g, s.slot(path)
	if !e.sized {
		e.cost = Cost(e)
		e.sized = true
	}
	if e.cost > s.maxItem {
		return false
	}
	ttl := e.Remaining(now)
	if ttl <= 0 {
		return false
	}
	// Ristretto's own TTL runs on the wall clock: it only reclaims memory,
	// and lags by up to a second so it never expires an entry early.
	if !s.rc.SetWithTTL(e.Key, e, e.cost, ttl+time.Second) {
		s.dropped.Add(1)
		return false
	}
	return true
}

// Used returns the bytes the store accounts for now.
func (s *Store) Used() int64 { return s.rc.MaxCost() - s.rc.RemainingCost() }

// MaxSize returns the configured bound.
func (s *Store) MaxSize() int64 { return s.rc.MaxCost() }

// Stats returns the number of entries evicted or expired, refused by the
// admission policy, and dropped under contention.
func (s *Store) Stats() (evictions, rejections, dropped uint64) {
	return s.evictions.Load(), s.rejections.Load(), s.dropped.Load()
}

// Wait blocks until the writes buffered so far are applied (for tests).
func (s *Store) Wait() { s.rc.Wait() }

// Close stops the store's goroutines and frees its memory.
func (s *Store) Close() { s.rc.Close() }

// Gen returns the generations the entry was stored with.
func (e *Entry) Gen() Gen { return e.gen }
