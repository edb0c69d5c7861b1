package limiter

import (
	"fmt"
	"testing"
	"time"
)

func TestTake(t *testing.T) {
	lim := mustLimit(t, 10, 10*time.Second, 0) // one a second, 10 at once
	now := t0.UnixNano()
	s := int64(time.Second)
	for _, tt := range []struct {
		name         string
		tat          int64
		want, margin int
		taken, rem   int
		newTat       int64
	}{
		{"fresh key, lease of 4", 0, 4, 4, 4, 6, now + 4*s},
		{"fresh key, all of it", 0, 10, 0, 10, 0, now + 10*s},
		{"margin not met: exact", now + 5*s, 4, 4, 1, 4, now + 6*s},
		{"last one", now + 9*s, 4, 0, 1, 0, now + 10*s},
		{"none left", now + 10*s, 4, 0, 0, 0, now + 10*s},
		{"want 0 is 1", 0, 0, 0, 1, 9, now + s},
	} {
		n, res, newTat := lim.Take(now, tt.tat, tt.want, tt.margin)
		if n != tt.taken || res.Remaining != tt.rem || newTat != tt.newTat || res.Allowed != (n > 0) {
			t.Errorf("%s: took %d, %+v, tat +%v; want %d, remaining %d, tat +%v", tt.name, n, res,
				time.Duration(newTat-now), tt.taken, tt.rem, time.Duration(tt.newTat-now))
		}
	}
	// Refused: retry when one interval has passed, as Decide says.
	_, res, _ := lim.Take(now, now+10*s, 1, 0)
	dec, _ := lim.Decide(now, now+10*s)
	if res != dec {
		t.Errorf("refusal %+v, Decide %+v", res, dec)
	}
	// Taking one is Decide.
	for _, tat := range []int64{0, now, now + 3*s, now + 9*s + 1} {
		_, res, nt := lim.Take(now, tat, 1, 0)
		dres, dnt := lim.Decide(now, tat)
		if res != dres || nt != dnt {
			t.Errorf("tat %d: Take(1) %+v %d, Decide %+v %d", tat, res, nt, dres, dnt)
		}
	}
}

func TestGiveBack(t *testing.T) {
	lim := mustLimit(t, 10, 10*time.Second, 0)
	now, s := t0.UnixNano(), int64(time.Second)
	for _, tt := range []struct {
		tat  int64
		n    int
		want int64
	}{
		{now + 5*s, 3, now + 2*s},
		{now + 5*s, 9, now}, // never below now
		{now - s, 3, now - s},
		{now + 5*s, 0, now + 5*s},
	} {
		if got := lim.GiveBack(now, tt.tat, tt.n); got != tt.want {
			t.Errorf("give %d back at tat +%v: +%v, want +%v", tt.n, time.Duration(tt.tat-now), time.Duration(got-now), time.Duration(tt.want-now))
		}
	}
}

func TestLeaseCap(t *testing.T) {
	for _, tt := range []struct {
		n        int
		window   time.Duration
		burst    int
		gateways int
		want     int
	}{
		{100000, time.Minute, 0, 1, 10000}, // 5% of 100000+100000
		{100000, time.Minute, 0, 4, 2500},
		{600, time.Minute, 0, 3, 20}, // 5% of 1200, over 3
		{600, time.Minute, 0, 0, 60}, // gateways unknown: one
		{100, time.Minute, 0, 3, 3},
		{100, time.Minute, 0, 6, 1}, // a lease of 1: exact
		{10, time.Second, 0, 1, 1},  // small limits are exact
		{1000, time.Second, 10, 1, 50},
	} {
		lim := mustLimit(t, tt.n, tt.window, tt.burst)
		if got := LeaseCap(lim, tt.window, tt.gateways); got != tt.want {
			t.Errorf("%d/%v burst %d, %d gateways: %d, want %d", tt.n, tt.window, tt.burst, tt.gateways, got, tt.want)
		}
		if got := LeaseCap(lim, tt.window, tt.gateways); got > 1 &&
			float64(got*max(tt.gateways, 1)) > MaxOvershoot*float64(tt.n+lim.Burst) {
			t.Errorf("%d/%v: leases of %d exceed the overshoot", tt.n, tt.window, got)
		}
	}
	if LeaseCap(Limit{}, time.Minute, 1) != 1 {
		t.Error("a zero limit has leases")
	}
}

func TestNextLease(t *testing.T) {
	T := 50 * time.Millisecond
	for _, tt := range []struct {
		size, used int
		elapsed    time.Duration
		want       int
	}{
		{1, 1, 0, 4},                            // spent at once: four times
		{10, 10, T / 2, 20},                     // twice the demand... at least twice
		{10, 10, T / 3, 30},                     // the demand over a lease time
		{10, 10, T / 10, 40},                    // at most four times
		{10, 4, T, 4},                           // ran out of time: what was spent
		{10, 0, 10 * T, 1},                      // idle: exact
		{0, 0, 0, 4},                            // no lease yet
		{100, 100, T - 5*time.Millisecond, 112}, // spent just in time
	} {
		if got := NextLease(tt.size, tt.used, tt.elapsed, T); got != tt.want {
			t.Errorf("size %d, used %d in %v: %d, want %d", tt.size, tt.used, tt.elapsed, got, tt.want)
		}
	}
}

// simGateway is one gateway of a simulation: its lease table, spending from
// one shared schedule through Limit.Take as the Redis script does.
type simGateway struct {
	id     string
	leases *leaseTable
	denied *Memory
}

// simulate runs gateways against one key limited to n per window, each
// offered perTick requests every tick for d, with a lease time of leaseTime,
// and returns the most requests admitted in any window and the calls made.
func simulate(t *testing.T, n int, window time.Duration, gateways, perTick int, tick, leaseTime, d time.Duration) (maxInWindow, admitted, calls int) {
	t.Helper()
	lim := mustLimit(t, n, window, 0)
	var tat int64
	seen := map[string]bool{}
	gs := make([]*simGateway, gateways)
	for i := range gs {
		gs[i] = &simGateway{id: fmt.Sprint("g", i), leases: newLeaseTable(16), denied: NewMemory(16)}
	}
	var times []int64
	for now := t0; now.Before(t0.Add(d)); now = now.Add(tick) {
		ns := now.UnixNano()
		for k := range perTick * gateways {
			g := gs[(k+int(ns/int64(tick)))%gateways]
			if g.denied.Deadline(now, "k") > 0 {
				continue
			}
			res, ok, wait, e := g.leases.spend(ns, "k")
			if wait != nil {
				t.Fatal("a single-threaded simulation waits")
			}
			if !ok {
				want, margin, back := g.leases.next(e, ns, lim, window, leaseTime)
				seen[g.id] = true
				took, r, newTat := lim.Take(ns, lim.GiveBack(ns, tat, back), want, margin)
				tat = newTat
				calls++
				if took == 0 {
					g.denied.SetDeadline(now, "k", r.RetryAfter)
				}
				res = g.leases.granted(e, ns, lim, Grant{Result: r, Taken: took, Gateways: len(seen)}, leaseTime)
			}
			if res.Allowed {
				times = append(times, ns)
			}
		}
	}
	// The most admitted in any window (ending at an admission).
	j := 0
	for i := range times {
		for times[i]-times[j] >= int64(window) {
			j++
		}
		maxInWindow = max(maxInWindow, i-j+1)
	}
	return maxInWindow, len(times), calls
}

// Gateways hammering one key stay within the stated bound: rate·W + burst
// plus what their leases add, at most MaxOvershoot of it (and a lease of 1
// per gateway, the rounding of the exact path).
func TestLeaseBound(t *testing.T) {
	for _, tt := range []struct {
		n         int
		window    time.Duration
		gateways  int
		perTick   int
		leaseTime time.Duration
	}{
		{600, time.Minute, 3, 5, 50 * time.Millisecond},
		{600, time.Minute, 3, 50, time.Second},
		{100000, time.Minute, 1, 20, 50 * time.Millisecond},
		{100000, time.Minute, 4, 20, 50 * time.Millisecond},
		{60, time.Second, 2, 3, 50 * time.Millisecond},
	} {
		name := fmt.Sprintf("%d/%v, %d gateways, %d per ms, lease %v", tt.n, tt.window, tt.gateways, tt.perTick, tt.leaseTime)
		got, admitted, calls := simulate(t, tt.n, tt.window, tt.gateways, tt.perTick, time.Millisecond, tt.leaseTime, 3*tt.window/2)
		bound := float64(2*tt.n)*(1+MaxOvershoot) + float64(tt.gateways)
		if float64(got) > bound {
			t.Errorf("%s: %d admitted within a window, bound %.0f", name, got, bound)
		}
		// Leases ended by their time are given back: a busy key gets its rate.
		if float64(got) < 0.99*float64(2*tt.n-1) {
			t.Errorf("%s: only %d admitted within a window, GCRA allows %d", name, got, 2*tt.n-1)
		}
		t.Logf("%s: at most %d in a window (GCRA %d, bound %.0f); %d admitted with %d calls", name, got, 2*tt.n, bound, admitted, calls)
	}
}

// Far from its limit a key costs few calls: a lease covers the demand of a
// lease time.
func TestLeaseCallsFarFromTheLimit(t *testing.T) {
	// 100000/1m, one gateway offered 1000 requests a second for 10s.
	_, admitted, calls := simulate(t, 100000, time.Minute, 1, 1, time.Millisecond, 50*time.Millisecond, 10*time.Second)
	if admitted != 10000 {
		t.Fatalf("%d of 10000 admitted", admitted)
	}
	if calls > admitted/20 {
		t.Fatalf("%d calls for %d requests", calls, admitted)
	}
	t.Logf("%d calls for %d requests", calls, admitted)
}
