package limiter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"

	"github.com/redis/go-redis/v9"
)

// startRedis runs a real redis-server on a free port for the test. Without one
// installed the test is skipped, except under CI=true where it fails.
func startRedis(t testing.TB) *redis.Client {
	t.Helper()
	c, _ := startRedisServer(t)
	return c
}

// startRedisServer is startRedis, also returning a function that kills the
// server.
func startRedisServer(t testing.TB) (*redis.Client, func()) { return gatewaytest.StartRedis(t) }

// The script is Limit.Take on Redis's clock. Limits of at least a minute per
// request make the few milliseconds the test takes invisible to the counts;
// the times agree to within a second.
func TestRedisMatchesReference(t *testing.T) {
	c := startRedis(t)
	ctx := t.Context()
	r := NewRedis(c, "test:rl:")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, lim := range []Limit{mustLimit(t, 3, 3*time.Hour, 0), mustLimit(t, 100, 100*time.Hour, 20), mustLimit(t, 10, 10*time.Hour, 1)} {
		key := fmt.Sprintf("k-%v-%d", lim.Interval, lim.Burst)
		start := time.Now().UnixNano()
		tat := start
		for i := range 60 {
			want, margin := 1+rng.IntN(8), rng.IntN(8)
			if i%3 == 0 {
				want, margin = 1, 0
			}
			n, res, newTat := lim.Take(start, tat, want, margin)
			tat = newTat
			g, err := r.Take(ctx, key, lim, TakeArgs{Want: want, Margin: margin, Gateway: "gw1", Horizon: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if g.Taken != n || g.Allowed != res.Allowed || g.Remaining != res.Remaining || g.Gateways != 1 ||
				(g.RetryAfter-res.RetryAfter).Abs() > time.Second || (g.Reset-res.Reset).Abs() > time.Second {
				t.Fatalf("%v take %d (want %d, margin %d): redis %+v, reference %d %+v", lim, i, want, margin, g, n, res)
			}
		}
	}
	// The Redis keys hold no request data and expire.
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("key %s has no expiry", k)
		}
		if strings.Contains(k, "k-") {
			t.Errorf("redis key %q holds the request's key", k)
		}
	}
}

// Gateways are counted per key within the horizon; giving back moves the
// schedule back, never below now.
func TestRedisGatewaysAndGiveBack(t *testing.T) {
	c := startRedis(t)
	ctx := t.Context()
	r := NewRedis(c, "test:gb:")
	lim := mustLimit(t, 10, 10*time.Hour, 0)
	for i, gw := range []string{"a", "b", "a", "c"} {
		g, err := r.Take(ctx, "k", lim, TakeArgs{Want: 1, Gateway: gw, Horizon: time.Minute})
		if want := []int{1, 2, 2, 3}[i]; err != nil || g.Gateways != want {
			t.Fatalf("take %d by %s: %+v %v, want %d gateways", i, gw, g, err, want)
		}
	}
	if g, _ := r.Take(ctx, "k", lim, TakeArgs{Want: 5}); g.Taken != 5 || g.Remaining != 1 {
		t.Fatalf("take 5 of the 6 left: %+v", g)
	}
	if err := r.GiveBack(ctx, []Returned{{Key: "k", Limit: lim, N: 3}, {Key: "never", Limit: lim, N: 3}}); err != nil {
		t.Fatal(err)
	}
	if g, _ := r.Take(ctx, "k", lim, TakeArgs{Want: 4}); g.Taken != 4 || g.Remaining != 0 {
		t.Fatalf("after giving 3 back, take 4 of 4: %+v", g)
	}
	// More than was taken: the key is fresh again, not owed anything.
	if err := r.GiveBack(ctx, []Returned{{Key: "k", Limit: lim, N: 100}}); err != nil {
		t.Fatal(err)
	}
	if g, _ := r.Take(ctx, "k", lim, TakeArgs{Want: 11}); g.Taken != 1 || g.Remaining != 9 {
		t.Fatalf("after giving 100 back, want 11 of a fresh key's 10: %+v", g)
	}
	if keys := c.Keys(ctx, "test:gb:*").Val(); len(keys) != 2 { // k's bucket and gateways
		t.Fatalf("giving back to an unknown key created it: %v", keys)
	}
}

func TestRedisLockout(t *testing.T) {
	c := startRedis(t)
	ctx := t.Context()
	r := NewRedis(c, "test:lo:")
	lim, _ := LockoutLimit(3, time.Minute)
	for i := range 2 {
		if lock, err := r.Fail(ctx, t0, "1.2.3.4", lim, 2*time.Second); err != nil || lock != 0 {
			t.Fatalf("failure %d: %v %v", i+1, lock, err)
		}
	}
	if d, err := r.Locked(ctx, t0, "1.2.3.4"); err != nil || d != 0 {
		t.Fatalf("locked before the third failure: %v %v", d, err)
	}
	if lock, err := r.Fail(ctx, t0, "1.2.3.4", lim, 2*time.Second); err != nil || lock != 2*time.Second {
		t.Fatalf("third failure: %v %v", lock, err)
	}
	if d, err := r.Locked(ctx, t0, "1.2.3.4"); err != nil || d <= 0 || d > 2*time.Second {
		t.Fatalf("locked for %v %v", d, err)
	}
	if d, _ := r.Locked(ctx, t0, "5.6.7.8"); d != 0 {
		t.Fatal("another address is locked")
	}
}

func TestRedisDownIsAnError(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: 0})
	defer c.Close()
	r := NewRedis(c, "x:")
	if _, err := r.Allow(t.Context(), t0, "k", mustLimit(t, 1, time.Second, 0)); err == nil {
		t.Fatal("no error from a Redis that does not run")
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	c := startRedis(b)
	r := NewRedis(c, "bench:")
	lim := mustLimit(b, 1_000_000, time.Second, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Allow(ctx, time.Now(), "consumer", lim); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRedisOneRoundTripPerDecision(t *testing.T) {
	c := startRedis(t)
	ctx := t.Context()
	r := NewRedis(c, "test:rt:")
	lim := mustLimit(t, 100, time.Second, 0)
	if _, err := r.Allow(ctx, t0, "warm", lim); err != nil { // loads the script
		t.Fatal(err)
	}
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := r.Allow(ctx, t0, fmt.Sprint("k", i), lim); err != nil {
			t.Fatal(err)
		}
	}
	stats := c.Info(ctx, "commandstats").Val()
	var cmds []string
	for _, line := range strings.Split(stats, "\n") {
		if strings.HasPrefix(line, "cmdstat_") && !strings.HasPrefix(line, "cmdstat_info") && !strings.HasPrefix(line, "cmdstat_config") {
			cmds = append(cmds, strings.TrimSpace(line))
		}
	}
	// The TIME, GET and SET are the script's own, inside the one EVALSHA.
	for _, c := range cmds {
		name, _, _ := strings.Cut(c, ":")
		switch name {
		case "cmdstat_evalsha":
			if !strings.HasPrefix(c, "cmdstat_evalsha:calls=10,") {
				t.Fatalf("10 decisions: %s", c)
			}
		case "cmdstat_get", "cmdstat_set", "cmdstat_time":
		default:
			t.Fatalf("10 decisions made these calls: %v", cmds)
		}
	}
}
