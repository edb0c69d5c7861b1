package monitor

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The latency histogram is log-linear over microseconds, as HdrHistogram's
// layout is: below 8µs one bin per microsecond, then every power of two split
// into 8 bins, so a bin is at most 12.5% wide. Durations from 2^28µs (about 4.5
// minutes) on share the last bin. Counting into fixed bins makes a request O(1)
// and lets instances add their histograms together in Redis.
const (
	subBits  = 3
	subCount = 1 << subBits
	maxExp   = 28
	// NumBins is the number of latency bins.
	NumBins = (maxExp - subBits + 1) * subCount
)

// binOf returns the bin of a duration of us microseconds.
func binOf(us int64) int {
	if us < subCount {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 1
	if e >= maxExp {
		return NumBins - 1
	}
	return (e-subBits+1)*subCount + int((us>>(e-subBits))&(subCount-1))
}

// binLower returns the smallest duration, in microseconds, of bin i.
func binLower(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	e := i/subCount + subBits - 1
	return int64(subCount+i%subCount) << (e - subBits)
}

// Counts are the sums of a window: requests, failed requests (upstream 5xx
// and failed connections) and the latency histogram.
type Counts struct {
	Requests int64
	Errors   int64
	Bins     [NumBins]int64
}

// ErrorRate is the share of failed requests, 0 without requests.
func (c *Counts) ErrorRate() float64 {
	if c.Requests <= 0 {
		return 0
	}
	return float64(c.Errors) / float64(c.Requests)
}

// Quantile returns the latency under which the share q (0 < q < 1) of the
// requests fell, interpolated linearly inside its bin; 0 without requests.
func (c *Counts) Quantile(q float64) time.Duration {
	var total int64
	for _, n := range c.Bins {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(total)))
	rank = min(max(rank, 1), total)
	var seen int64
	for i, n := range c.Bins {
		if n == 0 || seen+n < rank {
			seen += n
			continue
		}
		lo, hi := binLower(i), binLower(i+1)
		us := float64(lo) + float64(hi-lo)*float64(rank-seen)/float64(n)
		return time.Duration(us * float64(time.Microsecond))
	}
	return 0 // not reached: rank <= total
}

// add adds o to c.
func (c *Counts) add(o *Counts) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	for i, n := range o.Bins {
		c.Bins[i] += n
	}
}

// bucket is one slice of time of a window. Requests add to it with atomics;
// epoch is the number of the slice (Unix time / width) it holds.
type bucket struct {
	epoch    atomic.Int64
	requests atomic.Int64
	errors   atomic.Int64
	bins     [NumBins]atomic.Int64
}

// claim makes b hold slice idx, zeroing what it held of an older slice. A
// request racing with the zeroing may lose its count: the evaluator claims
// each slice before it starts (Window.Prepare), so requests almost never do.
func (b *bucket) claim(idx int64) {
	for {
		old := b.epoch.Load()
		if old >= idx {
			return
		}
		if b.epoch.CompareAndSwap(old, idx) {
			b.requests.Store(0)
			b.errors.Store(0)
			for i := range b.bins {
				b.bins[i].Store(0)
			}
			return
		}
	}
}

// read copies b's counts into c.
func (b *bucket) read(c *Counts) {
	c.Requests = b.requests.Load()
	c.Errors = b.errors.Load()
	for i := range b.bins {
		c.Bins[i] = b.bins[i].Load()
	}
}

// Slices is how many slices of time a window is made of: the window slides by
// a tenth of its length.
const Slices = 10

// Window counts requests over a sliding window of time: a ring of Slices+1
// buckets, so that the bucket being prepared for the next slice is never one
// the window sums. Memory is fixed (about 19 KB); Add is O(1), takes no lock
// and does not allocate; concurrent Adds and Sums are safe.
type Window struct {
	length  time.Duration
	width   int64 // nanoseconds of one slice
	buckets [Slices + 1]bucket
}

// NewWindow returns a window of length (at least Slices nanoseconds).
func NewWindow(length time.Duration) *Window {
	return &Window{length: length, width: max(int64(length)/Slices, 1)}
}

// Length is the window's length.
func (w *Window) Length() time.Duration { return w.length }

// Slice returns the number of the slice now falls in.
func (w *Window) Slice(now time.Time) int64 { return now.UnixNano() / w.width }

func (w *Window) bucket(idx int64) *bucket { return &w.buckets[idx%int64(len(w.buckets))] }

// Add counts one request that took d and, when failed, one failure, at now.
func (w *Window) Add(now time.Time, failed bool, d time.Duration) {
	idx := w.Slice(now)
	b := w.bucket(idx)
	if b.epoch.Load() != idx {
		b.claim(idx)
	}
	b.requests.Add(1)
	if failed {
		b.errors.Add(1)
	}
	b.bins[binOf(d.Microseconds())].Add(1)
}

// Prepare claims the bucket of the slice after now's, so requests seldom
// have to.
func (w *Window) Prepare(now time.Time) { w.bucket(w.Slice(now) + 1).claim(w.Slice(now) + 1) }

// Sum adds the counts of the window ending at now (the last Slices slices,
// now's included) into c.
func (w *Window) Sum(now time.Time, c *Counts) {
	cur := w.Slice(now)
	var one Counts
	for i := range w.buckets {
		b := &w.buckets[i]
		if e := b.epoch.Load(); e > cur-Slices && e <= cur {
			b.read(&one)
			c.add(&one)
		}
	}
}
