package cache

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

func newStore(t *testing.T, maxSize, maxItem int64) *Store {
	t.Helper()
	s, err := NewStore(Config{MaxSize: maxSize, MaxItem: maxItem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func entry(key []byte, body string, lifetime time.Duration) *Entry {
	return &Entry{
		Key:      key,
		Status:   200,
		Header:   http.Header{"Content-Type": {"application/json"}},
		Body:     []byte(body),
		Stored:   t0,
		Lifetime: lifetime,
	}
}

func TestStoreSetGetInvalidatePurge(t *testing.T) {
	s := newStore(t, 1<<20, 64<<10)
	alice := Partition{Kind: Consumer, Consumer: "alice"}
	k1 := AppendKey(nil, "h", "/a", "", alice)
	k2 := AppendKey(nil, "h", "/b", "", alice)
	g1, g2 := s.Snapshot("/a"), s.Snapshot("/b")
	if !s.Set(entry(k1, "a", time.Minute), "/a", g1, t0) || !s.Set(entry(k2, "b", time.Minute), "/b", g2, t0) {
		t.Fatal("set dropped")
	}
	s.Wait()
	if e, ok := s.Get(k1); !ok || string(e.Body) != "a" {
		t.Fatalf("get /a: %v %v", e, ok)
	}
	// A key differing only in partition misses.
	if _, ok := s.Get(AppendKey(nil, "h", "/a", "", Partition{Kind: Consumer, Consumer: "bob"})); ok {
		t.Fatal("bob found alice's entry")
	}
	s.Invalidate("/a")
	if _, ok := s.Get(k1); ok {
		t.Fatal("/a still served after invalidation")
	}
	if _, ok := s.Get(k2); !ok {
		t.Fatal("/b lost by invalidating /a")
	}
	// A response fetched before an invalidation is stale once stored.
	g := s.Snapshot("/b")
	s.Invalidate("/b")
	s.Set(entry(k2, "old", time.Minute), "/b", g, t0)
	s.Wait()
	if _, ok := s.Get(k2); ok {
		t.Fatal("response fetched before an invalidation was served")
	}
	if s.Current("/b", g) {
		t.Fatal("Current after invalidation")
	}
	s.Set(entry(k1, "a2", time.Minute), "/a", s.Snapshot("/a"), t0)
	s.Wait()
	if _, ok := s.Get(k1); !ok {
		t.Fatal("/a not stored again")
	}
	s.Purge()
	if _, ok := s.Get(k1); ok {
		t.Fatal("served after purge")
	}
	if s.Used() != 0 {
		t.Fatalf("used %d after purge", s.Used())
	}
}

func TestStoreRefusesLargeAndStale(t *testing.T) {
	s := newStore(t, 1<<20, 1024)
	k := []byte("k")
	if s.Set(entry(k, string(make([]byte, 2000)), time.Minute), "/", s.Snapshot("/"), t0) {
		t.Fatal("stored an entry over max_item")
	}
	if s.Set(entry(k, "x", time.Minute), "/", s.Snapshot("/"), t0.Add(time.Hour)) {
		t.Fatal("stored a stale entry")
	}
	if _, err := NewStore(Config{MaxSize: 10, MaxItem: 20}); err == nil {
		t.Fatal("max_item > max_size accepted")
	}
}

// TestStoreBoundedUnderFlood stores many distinct entries and checks that the
// accounted bytes never exceed max_size.
func TestStoreBoundedUnderFlood(t *testing.T) {
	const maxSize = 256 << 10
	s := newStore(t, maxSize, 8<<10)
	body := string(make([]byte, 700))
	for i := 0; i < 20000; i++ {
		path := fmt.Sprintf("/flood/%d", i)
		k := AppendKey(nil, "h", path, "", Partition{Kind: Anonymous})
		s.Set(entry(k, body, time.Minute), path, s.Snapshot(path), t0)
		if i%1000 == 0 {
			s.Wait()
			if u := s.Used(); u > maxSize {
				t.Fatalf("after %d sets: %d bytes used, max %d", i, u, maxSize)
			}
		}
	}
	s.Wait()
	if u := s.Used(); u > maxSize || u < maxSize/2 {
		t.Fatalf("%d bytes used, max %d", u, maxSize)
	}
	if ev, _, _ := s.Stats(); ev == 0 {
		t.Fatal("no evictions counted")
	}
}

func BenchmarkKeyAndGet(b *testing.B) {
	s, _ := NewStore(Config{MaxSize: 1 << 20, MaxItem: 1 << 16})
	defer s.Close()
	p := Partition{Kind: Consumer, Method: "api_key", Consumer: "bench", Scopes: "orders:read"}
	k := AppendKey(nil, "127.0.0.1:8080", "/orders/42", "b=2&a=1", p)
	s.Set(entry(k, "{}", time.Hour), "/orders/42", s.Snapshot("/orders/42"), time.Now())
	s.Wait()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = AppendKey(buf[:0], "127.0.0.1:8080", "/orders/42", "b=2&a=1", p)
		if _, ok := s.Get(buf); !ok {
			b.Fatal("miss")
		}
	}
}

// TestStorePurgeUnderLoad purges while other goroutines read and write: no
// race, and nothing stored before a purge is served after it.
func TestStorePurgeUnderLoad(t *testing.T) {
	s := newStore(t, 1<<20, 1<<12)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				path := fmt.Sprintf("/p/%d", i%50)
				k := AppendKey(nil, "h", path, "", Partition{Kind: Anonymous})
				if i%3 == 0 {
					s.Set(entry(k, "x", time.Minute), path, s.Snapshot(path), t0)
				} else {
					s.Get(k)
				}
			}
		}(g)
	}
	k := AppendKey(nil, "h", "/kept", "", Partition{Kind: Anonymous})
	for i := 0; i < 20; i++ {
		g := s.Snapshot("/kept")
		s.Set(entry(k, "x", time.Minute), "/kept", g, t0)
		s.Purge()
		if _, ok := s.Get(k); ok {
			t.Fatal("served after purge")
		}
	}
	close(done)
	wg.Wait()
}
