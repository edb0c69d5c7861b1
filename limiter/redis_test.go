package limiter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startRedis runs a real redis-server on a free port for the test. Without one
// installed the test is skipped, except under CI=true where it fails.
func startRedis(t testing.TB) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: 1})
	t.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

func TestRedisMatchesMemory(t *testing.T) {
	c := startRedis(t)
	ctx := t.Context()
	r := NewRedis(c, "test:rl:")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, lim := range []Limit{mustLimit(t, 3, 3*time.Second, 0), mustLimit(t, 100, time.Minute, 20), mustLimit(t, 10, time.Second, 1)} {
		key := fmt.Sprintf("k-%v-%d", lim.Interval, lim.Burst)
		var tat int64
		now := t0
		for i := range 300 {
			now = now.Add(time.Duration(rng.IntN(int(2*lim.Interval/time.Microsecond)/3)) * time.Microsecond)
			want, newTat := lim.Decide(now.UnixNano(), tat)
			if want.Allowed {
				tat = newTat
			}
			got, err := r.Allow(ctx, now, key, lim)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("%v request %d: redis %+v, reference %+v", lim, i, got, want)
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
	// The GET and SET are the script's own, inside the one EVALSHA.
	for _, c := range cmds {
		name, _, _ := strings.Cut(c, ":")
		switch name {
		case "cmdstat_evalsha":
			if !strings.HasPrefix(c, "cmdstat_evalsha:calls=10,") {
				t.Fatalf("10 decisions: %s", c)
			}
		case "cmdstat_get", "cmdstat_set":
		default:
			t.Fatalf("10 decisions made these calls: %v", cmds)
		}
	}
}
