package limiter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
)

// evalshas returns how many scripts Redis has run.
func evalshas(t testing.TB, c *redis.Client) int {
	t.Helper()
	for _, line := range strings.Split(c.Info(context.Background(), "commandstats").Val(), "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// redisLimit is a handler of one zone on c with sync and a lease time, on the
// clock the test moves.
func redisLimit(t *testing.T, c *redis.Client, zone string, n int, w time.Duration, sync string, lease time.Duration, onError string, clock *time.Time) *RateLimit {
	return provisionWith(t, &RateLimit{Backend: backendRedis, Sync: sync, LeaseTime: caddy.Duration(lease), OnBackendError: onError,
		Zones: []*RateZone{{Name: zone, Requests: n, Window: caddy.Duration(w)}}}, &gatewaytest.App{Redis: c}, clock)
}

// A key far from its limit makes a call per lease, not per request.
func TestLeaseFewCalls(t *testing.T) {
	c := startRedis(t)
	clock := rlT0
	rl := redisLimit(t, c, "few", 100000, time.Minute, "", 0, "", &clock)
	before := evalshas(t, c)
	for i := range 2000 {
		clock = clock.Add(time.Millisecond) // 1000 a second
		if w := serve(t, rl, caller{ip: "10.0.0.1"}); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	calls := evalshas(t, c) - before
	if calls > 100 {
		t.Fatalf("%d calls for 2000 requests", calls)
	}
	t.Logf("%d calls for 2000 requests (%.4f a request)", calls, float64(calls)/2000)
}

// A refused key is refused locally until its Retry-After, with leases and
// exactly; then Redis decides again.
func TestDenialsCached(t *testing.T) {
	c := startRedis(t)
	for _, sync := range []string{syncLease, syncExact} {
		clock := rlT0
		rl := redisLimit(t, c, "denied_"+sync, 3, time.Hour, sync, time.Minute, "", &clock)
		if n := count(t, rl, caller{ip: "10.0.0.2"}, 10); n != 3 {
			t.Fatalf("%s: %d allowed of 3/1h", sync, n)
		}
		before := evalshas(t, c)
		for range 100 {
			w := serve(t, rl, caller{ip: "10.0.0.2"})
			if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
				t.Fatalf("%s: %d %v", sync, w.Code, w.Header())
			}
		}
		if calls := evalshas(t, c) - before; calls != 0 {
			t.Fatalf("%s: 100 refusals made %d calls", sync, calls)
		}
		clock = clock.Add(20*time.Minute + time.Second) // one interval: its Retry-After
		serve(t, rl, caller{ip: "10.0.0.2"})
		if calls := evalshas(t, c) - before; calls != 1 {
			t.Fatalf("%s: after Retry-After, %d calls", sync, calls)
		}
	}
}

// A config replaced (reload) or stopped gives its unspent leases back.
func TestLeaseGivenBackOnCleanup(t *testing.T) {
	c := startRedis(t)
	clock := rlT0
	rl := redisLimit(t, c, "back", 1000, time.Hour, syncLease, time.Minute, "", &clock)
	for i := range 100 {
		if w := serve(t, rl, caller{ip: "10.0.0.3"}); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	// The leases took more than the 100 spent: 1, 4, 16, 64, 256.
	exact := redisLimit(t, c, "back", 1000, time.Hour, syncExact, 0, "", nil)
	if got := serve(t, exact, caller{ip: "10.0.0.3"}).Header().Get("RateLimit"); got == `"back";r=899;t=3600` {
		t.Fatalf("before the give-back Redis shows only the requests spent: %s", got)
	}
	if err := rl.Cleanup(); err != nil {
		t.Fatal(err)
	}
	// 100 spent by the first handler, 2 by the exact one: 898 left.
	if got := serve(t, exact, caller{ip: "10.0.0.3"}).Header().Get("RateLimit"); !strings.HasPrefix(got, `"back";r=898;`) {
		t.Fatalf("after the give-back: %s, want r=898", got)
	}
}

// A lease in hand serves while Redis is down; then on_backend_error applies.
func TestLeaseServesWhileRedisIsDown(t *testing.T) {
	c, kill := startRedisServer(t)
	clock := rlT0
	rl := redisLimit(t, c, "down", 100000, time.Minute, syncLease, time.Minute, onErrorDeny, &clock)
	for i := range 21 { // leases of 1, 4, 16: 21 spent, the last lease exhausted
		if w := serve(t, rl, caller{ip: "10.0.0.4"}); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	serve(t, rl, caller{ip: "10.0.0.4"}) // a lease of 64, one spent
	kill()
	for i := range 63 {
		if w := serve(t, rl, caller{ip: "10.0.0.4"}); w.Code != 200 {
			t.Fatalf("with Redis down, request %d of the lease: %d", i, w.Code)
		}
	}
	if w := serve(t, rl, caller{ip: "10.0.0.4"}); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("lease spent, Redis down, deny: %d", w.Code)
	}
}

// A request spending a lease in hand: no call, no allocation of the limiter's.
func BenchmarkRateLimitHandlerLease(b *testing.B) {
	c := startRedis(b)
	clock := rlT0
	rl := provisionWith(b, &RateLimit{Backend: backendRedis, LeaseTime: caddy.Duration(time.Minute),
		Zones: []*RateZone{{Name: "bench_lease", Requests: 1_000_000_000, Window: caddy.Duration(time.Hour)}}}, &gatewaytest.App{Redis: c}, &clock)
	r := caller{ip: "10.0.0.1"}.request()
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		if err := rl.ServeHTTP(w, r, okHandler); err != nil || w.Code != http.StatusOK {
			b.Fatalf("status %d, %v", w.Code, err)
		}
	}
}
