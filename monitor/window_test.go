package monitor

import (
	"testing"
	"time"
)

func TestBinsAreContiguousAndOrdered(t *testing.T) {
	for i := 0; i < NumBins-1; i++ {
		lo, hi := binLower(i), binLower(i+1)
		if hi <= lo {
			t.Fatalf("bin %d: [%d, %d) is empty", i, lo, hi)
		}
		if binOf(lo) != i || binOf(hi-1) != i || binOf(hi) != i+1 {
			t.Fatalf("bin %d: [%d, %d) maps to %d, %d, %d", i, lo, hi, binOf(lo), binOf(hi-1), binOf(hi))
		}
		if i >= subCount && float64(hi-lo)/float64(lo) > 0.125+1e-9 {
			t.Fatalf("bin %d is %.3f wide", i, float64(hi-lo)/float64(lo))
		}
	}
	if binOf(-5) != 0 || binOf(1<<40) != NumBins-1 {
		t.Fatal("out of range durations must clamp")
	}
}

func TestQuantile(t *testing.T) {
	var c Counts
	for i := 1; i <= 1000; i++ { // 1ms .. 1000ms, evenly
		c.Requests++
		c.Bins[binOf(int64(i)*1000)]++
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{.50, 500 * time.Millisecond}, {.90, 900 * time.Millisecond}, {.99, 990 * time.Millisecond}} {
		got := c.Quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d < -0.125 || d > 0.125 {
			t.Errorf("p%g = %s, want about %s", tc.q*100, got, tc.want)
		}
	}
	var empty Counts
	if empty.Quantile(.99) != 0 || empty.ErrorRate() != 0 {
		t.Error("an empty window has no latency and no error rate")
	}
}

func TestWindowSlides(t *testing.T) {
	w := NewWindow(10 * time.Second) // slices of 1s
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 10 { // one request a second, the first 5 failing
		w.Add(t0.Add(time.Duration(i)*time.Second), i < 5, 10*time.Millisecond)
	}
	sum := func(at time.Time) Counts {
		var c Counts
		w.Sum(at, &c)
		return c
	}
	if c := sum(t0.Add(9 * time.Second)); c.Requests != 10 || c.Errors != 5 {
		t.Fatalf("full window: %d requests, %d errors", c.Requests, c.Errors)
	}
	// Three seconds later the first three slices have left the window.
	if c := sum(t0.Add(12 * time.Second)); c.Requests != 7 || c.Errors != 2 {
		t.Fatalf("after 3s: %d requests, %d errors", c.Requests, c.Errors)
	}
	// A request reusing a slot clears what the slot held.
	w.Add(t0.Add(11*time.Second), false, time.Millisecond)
	if c := sum(t0.Add(11 * time.Second)); c.Requests != 9 || c.Errors != 3 {
		t.Fatalf("after reuse: %d requests, %d errors", c.Requests, c.Errors)
	}
	if c := sum(t0.Add(time.Minute)); c.Requests != 0 {
		t.Fatalf("a minute later: %d requests", c.Requests)
	}
}

func TestWindowPrepareKeepsTheWindow(t *testing.T) {
	w := NewWindow(10 * time.Second)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 10 {
		w.Add(t0.Add(time.Duration(i)*time.Second), false, time.Millisecond)
	}
	now := t0.Add(9 * time.Second)
	w.Prepare(now)
	var c Counts
	w.Sum(now, &c)
	if c.Requests != 10 {
		t.Fatalf("Prepare cleared a slice of the window: %d requests", c.Requests)
	}
}

func TestWindowConcurrentAdds(t *testing.T) {
	w := NewWindow(10 * time.Second)
	now := time.Unix(1_700_000_000, 0)
	done := make(chan bool)
	for range 4 {
		go func() {
			for range 1000 {
				w.Add(now, true, time.Millisecond)
			}
			done <- true
		}()
	}
	for range 4 {
		<-done
	}
	var c Counts
	w.Sum(now, &c)
	if c.Requests != 4000 || c.Errors != 4000 {
		t.Fatalf("%d requests, %d errors, want 4000", c.Requests, c.Errors)
	}
}
