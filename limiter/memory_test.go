package limiter

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestMemoryBoundedUnderAFlood(t *testing.T) {
	// A slow limit: every key stays live for an hour, so nothing expires and the
	// bound must evict.
	lim := mustLimit(t, 1, time.Hour, 0)
	const maxKeys = 10_000
	m := NewMemory(maxKeys)
	for i := range 200_000 {
		if !m.Allow(t0, "flood-"+strconv.Itoa(i), lim).Allowed {
			t.Fatalf("fresh key %d rejected", i)
		}
	}
	if n := m.Len(); n > maxKeys*9/8+2*numShards {
		t.Fatalf("%d keys held, bound %d", n, maxKeys)
	}
}

func TestMemorySweepsIdleKeys(t *testing.T) {
	lim := mustLimit(t, 10, time.Second, 0)
	m := NewMemory(0)
	for i := range 100_000 {
		// One key a microsecond: each expires 100ms after its request.
		m.Allow(t0.Add(time.Duration(i)*time.Microsecond), strconv.Itoa(i), lim)
	}
	// Growth sweeps keep the live set (100ms = 100000 keys at most here) but
	// the shards stay near twice the keys that were live at their last sweep.
	before := m.Len()
	m.Sweep(t0.Add(time.Hour))
	if m.Len() != 0 {
		t.Fatalf("%d keys left after a sweep past every TAT (had %d)", m.Len(), before)
	}
	// A key forgotten by a sweep decides like a fresh key: exactness kept.
	if r := m.Allow(t0.Add(time.Hour), "1", lim); !r.Allowed || r.Remaining != 9 {
		t.Fatalf("swept key: %+v", r)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	lim := mustLimit(t, 1000, time.Hour, 0)
	m := NewMemory(0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := range 500 {
				if m.Allow(t0, "shared", lim).Allowed {
					n++
				}
				m.Allow(t0, fmt.Sprintf("own-%d-%d", g, i), lim)
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if allowed != 1000 {
		t.Fatalf("%d requests allowed on the shared key, want exactly 1000", allowed)
	}
}

// TestMemoryMillionKeys measures the memory of one million live keys and
// asserts the bound of the README (128 MiB).
func TestMemoryMillionKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	lim := mustLimit(t, 1, time.Hour, 0)
	keys := make([]string, 1_000_000)
	for i := range keys {
		keys[i] = "consumer-" + strconv.Itoa(i)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m := NewMemory(1_000_000)
	for _, k := range keys {
		m.Allow(t0, k, lim)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("1,000,000 live keys: %d keys held, %.1f MiB (heap %d -> %d)", m.Len(), float64(used)/(1<<20), before.HeapAlloc, after.HeapAlloc)
	if m.Len() != 1_000_000 {
		t.Fatalf("only %d of 1,000,000 live keys held", m.Len())
	}
	if used > 128<<20 {
		t.Fatalf("1,000,000 keys take %d MiB, bound 128", used>>20)
	}
	runtime.KeepAlive(m)
	runtime.KeepAlive(keys)
}

func BenchmarkMemoryAllow(b *testing.B) {
	lim := mustLimit(b, 1_000_000, time.Second, 0)
	m := NewMemory(0)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "consumer-" + strconv.Itoa(i)
	}
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Allow(now, keys[i&1023], lim)
	}
}

func BenchmarkMemoryAllowParallel(b *testing.B) {
	lim := mustLimit(b, 1_000_000, time.Second, 0)
	m := NewMemory(0)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "consumer-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Allow(t0, keys[i&1023], lim)
			i++
		}
	})
}

// BenchmarkMemoryMillionKeys reports the heap one million live keys take.
func BenchmarkMemoryMillionKeys(b *testing.B) {
	lim := mustLimit(b, 1, time.Hour, 0)
	keys := make([]string, 1_000_000)
	for i := range keys {
		keys[i] = "consumer-" + strconv.Itoa(i)
	}
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := NewMemory(1_000_000)
		for _, k := range keys {
			m.Allow(t0, k, lim)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MiB/1M-keys")
		runtime.KeepAlive(m)
		runtime.KeepAlive(keys)
	}
}
