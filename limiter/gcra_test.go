package limiter

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mustLimit(t testing.TB, n int, w time.Duration, burst int) Limit {
	t.Helper()
	l, err := NewLimit(n, w, burst)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// step is one request at an offset from t0 and what it must get.
type step struct {
	at        time.Duration
	allowed   bool
	remaining int
	retry     time.Duration
}

func TestMemoryGCRA(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		w     time.Duration
		burst int
		steps []step
	}{
		{"N at once then one every W/N", 3, 3 * time.Second, 0, []step{
			{0, true, 2, 0}, {0, true, 1, 0}, {0, true, 0, 0},
			{0, false, 0, time.Second},
			{999 * time.Millisecond, false, 0, time.Millisecond},
			{time.Second, true, 0, 0},
			{time.Second, false, 0, time.Second},
			{2 * time.Second, true, 0, 0},
			// Idle for a long time: full burst again, not more.
			{time.Hour, true, 2, 0}, {time.Hour, true, 1, 0}, {time.Hour, true, 0, 0}, {time.Hour, false, 0, time.Second},
		}},
		{"100/1m", 100, time.Minute, 0, append(repeat(99, step{0, true, -1, 0}),
			step{0, true, 0, 0},
			step{0, false, 0, 600 * time.Millisecond},
			step{600 * time.Millisecond, true, 0, 0},
			step{1200 * time.Millisecond, true, 0, 0},
			step{1200 * time.Millisecond, false, 0, 600 * time.Millisecond},
		)},
		{"burst overrides the allowance", 100, time.Minute, 20, append(repeat(19, step{0, true, -1, 0}),
			step{0, true, 0, 0},
			step{0, false, 0, 600 * time.Millisecond},
			step{3 * time.Second, true, 4, 0},
		)},
		{"burst 1 is a steady rate", 10, time.Second, 1, []step{
			{0, true, 0, 0}, {50 * time.Millisecond, false, 0, 50 * time.Millisecond},
			{100 * time.Millisecond, true, 0, 0}, {200 * time.Millisecond, true, 0, 0},
		}},
		{"burst larger than N", 1, time.Minute, 3, []step{
			{0, true, 2, 0}, {0, true, 1, 0}, {0, true, 0, 0}, {0, false, 0, time.Minute},
			{time.Minute, true, 0, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := mustLimit(t, tt.n, tt.w, tt.burst)
			m := NewMemory(0)
			for i, s := range tt.steps {
				res := m.Allow(t0.Add(s.at), "k", lim)
				if res.Allowed != s.allowed || (s.remaining >= 0 && res.Remaining != s.remaining) || res.RetryAfter != s.retry {
					t.Fatalf("request %d at +%v: got %+v, want allowed=%v remaining=%d retry=%v", i, s.at, res, s.allowed, s.remaining, s.retry)
				}
			}
			// Another key is independent.
			if res := m.Allow(t0, "other", lim); !res.Allowed {
				t.Fatalf("a fresh key was rejected: %+v", res)
			}
		})
	}
}

func repeat(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestTiersShareTheBucket(t *testing.T) {
	// A tier is another limit on the same key: counted requests carry over.
	base, gold := mustLimit(t, 2, time.Minute, 0), mustLimit(t, 10, time.Minute, 0)
	m := NewMemory(0)
	for i := 0; i < 2; i++ {
		if !m.Allow(t0, "k", base).Allowed {
			t.Fatal("base request rejected")
		}
	}
	if m.Allow(t0, "k", base).Allowed {
		t.Fatal("third base request allowed")
	}
	n := 0
	for m.Allow(t0, "k", gold).Allowed {
		n++
	}
	// 2 used at 6s each under gold's 10/1m is a TAT of +60s: the bucket is full.
	if n != 0 {
		t.Fatalf("gold allowed %d more after base's 2, want 0", n)
	}
	m2 := NewMemory(0)
	for m2.Allow(t0, "k", gold).Allowed {
		n++
	}
	if n != 10 {
		t.Fatalf("gold allowed %d at once, want 10", n)
	}
}

func TestResetAndRemaining(t *testing.T) {
	lim := mustLimit(t, 4, 4*time.Second, 0)
	m := NewMemory(0)
	r := m.Allow(t0, "k", lim)
	if r.Reset != time.Second || r.Remaining != 3 {
		t.Fatalf("first: %+v", r)
	}
	m.Allow(t0, "k", lim)
	r = m.Allow(t0, "k", lim)
	if r.Reset != 3*time.Second || r.Remaining != 1 {
		t.Fatalf("third: %+v", r)
	}
	r = m.Allow(t0.Add(2*time.Second), "k", lim)
	if r.Reset != 2*time.Second || r.Remaining != 2 {
		t.Fatalf("fourth: %+v", r)
	}
}

func TestNewLimitRejects(t *testing.T) {
	for _, c := range []struct {
		n     int
		w     time.Duration
		burst int
	}{{0, time.Second, 0}, {-1, time.Second, 0}, {1, 0, 0}, {1, -time.Second, 0}, {1, time.Second, -1},
		{2_000_000, time.Second, 0}, {1, 400 * 24 * time.Hour, 0}, {MaxRequests + 1, time.Hour, 0}} {
		if _, err := NewLimit(c.n, c.w, c.burst); err == nil {
			t.Errorf("NewLimit(%d, %v, %d) accepted", c.n, c.w, c.burst)
		}
	}
}

func TestParseRate(t *testing.T) {
	good := map[string]struct {
		n int
		w time.Duration
	}{
		"100/1m": {100, time.Minute}, "5/s": {5, time.Second}, "1/1d": {1, 24 * time.Hour},
		"10/30s": {10, 30 * time.Second}, "3/h": {3, time.Hour}, "1000/1m30s": {1000, 90 * time.Second},
		"7/d": {7, 24 * time.Hour},
	}
	for s, want := range good {
		n, w, err := ParseRate(s)
		if err != nil || n != want.n || w != want.w {
			t.Errorf("ParseRate(%q) = %d, %v, %v; want %d, %v", s, n, w, err, want.n, want.w)
		}
	}
	for _, s := range []string{"", "100", "/1m", "100/", "0/1m", "-1/1m", "+1/1m", "x/1m", "1/0s", "1/-1m", "1/xyz",
		"1/1y", "100/1m/2", "1/ 1m", "99999999999999999999/1m", "1/400d", "2000000/1s", "1/+1d"} {
		if _, _, err := ParseRate(s); err == nil {
			t.Errorf("ParseRate(%q) accepted", s)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/1m", "5/s", "1/1d", "0/1m", "1/", "/", "1000000000/8784h", "1/1ns", "9/1.5h", "1/d", "1/-0s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, w, err := ParseRate(s)
		if err != nil {
			if !strings.Contains(err.Error(), "rate") {
				t.Fatalf("error %q does not name the rate", err)
			}
			return
		}
		lim, err := NewLimit(n, w, 0)
		if err != nil {
			t.Fatalf("ParseRate(%q) accepted a rate NewLimit rejects: %v", s, err)
		}
		m := NewMemory(0)
		if !m.Allow(t0, "k", lim).Allowed {
			t.Fatalf("a fresh key was rejected under %q", s)
		}
	})
}

func TestLockoutLimit(t *testing.T) {
	lim, err := LockoutLimit(3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l := NewMemoryLocker(0)
	ctx := t.Context()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// Two failures within the minute do not lock; the third does.
	for i, d := range []time.Duration{0, 10 * time.Second} {
		if lock, _ := l.Fail(ctx, at(d), "ip", lim, 15*time.Minute); lock != 0 {
			t.Fatalf("failure %d locked", i+1)
		}
	}
	if locked, _ := l.Locked(ctx, at(20*time.Second), "ip"); locked != 0 {
		t.Fatal("locked before the third failure")
	}
	if lock, _ := l.Fail(ctx, at(59*time.Second), "ip", lim, 15*time.Minute); lock != 15*time.Minute {
		t.Fatalf("third failure within the minute: lock %v", lock)
	}
	if locked, _ := l.Locked(ctx, at(60*time.Second), "ip"); locked != 15*time.Minute-time.Second {
		t.Fatalf("locked for %v", locked)
	}
	if locked, _ := l.Locked(ctx, at(59*time.Second+15*time.Minute), "ip"); locked != 0 {
		t.Fatalf("still locked after the lock: %v", locked)
	}
	// After the lock, the failures start from zero.
	if lock, _ := l.Fail(ctx, at(16*time.Minute), "ip", lim, 15*time.Minute); lock != 0 {
		t.Fatal("the first failure after a lock locked again")
	}
	// Failures spread wider than the window never lock.
	l2 := NewMemoryLocker(0)
	for i := range 20 {
		if lock, _ := l2.Fail(ctx, at(time.Duration(i)*61*time.Second), "ip", lim, time.Minute); lock != 0 {
			t.Fatalf("failure %d, 61s apart, locked", i)
		}
	}
	// One failure allowed: the first locks.
	one, _ := LockoutLimit(1, time.Minute)
	if lock, _ := NewMemoryLocker(0).Fail(ctx, t0, "ip", one, time.Second); lock != time.Second {
		t.Fatal("lockout 1/1m did not lock on the first failure")
	}
}

func TestHealth(t *testing.T) {
	var downs, ups int
	h := &Health{Retry: time.Second, OnDown: func(error) { downs++ }, OnUp: func() { ups++ }}
	if !h.Use(t0) {
		t.Fatal("fresh health not up")
	}
	h.Failed(t0, nil)
	h.Failed(t0, nil)
	if downs != 1 || !h.Down() {
		t.Fatalf("downs %d", downs)
	}
	if h.Use(t0.Add(500 * time.Millisecond)) {
		t.Fatal("used while down")
	}
	if !h.Use(t0.Add(time.Second)) {
		t.Fatal("no probe after Retry")
	}
	if h.Use(t0.Add(time.Second)) {
		t.Fatal("two probes at once")
	}
	h.Succeeded()
	h.Succeeded()
	if ups != 1 || h.Down() || !h.Use(t0.Add(time.Second)) {
		t.Fatalf("ups %d", ups)
	}
}
