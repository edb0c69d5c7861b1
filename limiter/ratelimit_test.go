package limiter

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

var rlT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testRateLimit provisions rl with a fake app and a clock the test moves (nil:
// the real one), and validates it. Its zones' buckets are released when the
// test ends; zones of the same identity in one test share them.
func testRateLimit(t testing.TB, rl *RateLimit, clock *time.Time) *RateLimit {
	t.Helper()
	return provisionWith(t, rl, &gatewaytest.App{}, clock)
}

func provisionWith(t testing.TB, rl *RateLimit, app gateway.App, clock *time.Time) *RateLimit {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	err := rl.provision(ctx, app)
	t.Cleanup(func() { _ = rl.Cleanup() })
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.Validate(); err != nil {
		t.Fatal(err)
	}
	rl.logger = zap.NewNop()
	if clock != nil {
		rl.now = func() time.Time { return *clock }
	}
	return rl
}

type caller struct {
	ip     string
	id     *gateway.Identity
	header map[string]string
}

func (c caller) request() *http.Request {
	r := httptest.NewRequest("GET", "/orders", nil)
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	vars := map[string]any{caddyhttp.ClientIPVarKey: c.ip}
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, vars)
	r = r.WithContext(ctx)
	repl.Set("http.request.header.X-Tenant", r.Header.Get("X-Tenant"))
	if c.id != nil {
		gateway.SetIdentity(r, c.id)
		repl.Set("http.auth.user.id", c.id.Consumer)
	}
	return r
}

var okHandler = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(http.StatusOK)
	return nil
})

func serve(t testing.TB, rl *RateLimit, c caller) *httptest.ResponseRecorder {
	t.Helper()
	return serveRequest(t, rl, c.request())
}

// count sends requests until one is rejected (at most max) and returns how many
// passed.
func count(t testing.TB, rl *RateLimit, c caller, max int) int {
	t.Helper()
	for i := 0; i < max; i++ {
		if serve(t, rl, c).Code != http.StatusOK {
			return i
		}
	}
	return max
}

func TestRateLimitShorthand(t *testing.T) {
	clock := rlT0
	rl := testRateLimit(t, &RateLimit{Zones: []*RateZone{{Name: "default", Requests: 100, Window: caddy.Duration(time.Minute)}}}, &clock)
	alice := caller{ip: "10.0.0.1", id: &gateway.Identity{Consumer: "alice"}}
	bob := caller{ip: "10.0.0.1", id: &gateway.Identity{Consumer: "bob"}}
	anon := caller{ip: "10.0.0.1"}

	w := serve(t, rl, alice)
	if got := w.Header().Get("RateLimit-Policy"); got != `"default";q=100;w=60` {
		t.Fatalf("RateLimit-Policy %q", got)
	}
	if got := w.Header().Get("RateLimit"); got != `"default";r=99;t=1` {
		t.Fatalf("RateLimit %q", got)
	}
	if n := count(t, rl, alice, 200); n != 99 {
		t.Fatalf("alice got %d more, want 99", n)
	}
	// Per consumer: bob from the same address has his own bucket; anonymous
	// callers are limited per address.
	if n := count(t, rl, bob, 200); n != 100 {
		t.Fatalf("bob got %d, want 100", n)
	}
	if n := count(t, rl, anon, 200); n != 100 {
		t.Fatalf("anonymous got %d, want 100", n)
	}

	w = serve(t, rl, alice)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d", w.Code)
	}
	if w.Header().Get("Retry-After") != "1" || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("headers %v", w.Header())
	}
	if got := w.Header().Get("RateLimit"); got != `"default";r=0;t=60` {
		t.Fatalf("RateLimit on a rejection %q", got)
	}
	var p struct{ Status int }
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 429 {
		t.Fatalf("body %s", w.Body)
	}
	// One more every 600ms.
	clock = clock.Add(599 * time.Millisecond)
	if serve(t, rl, alice).Code != 429 {
		t.Fatal("allowed before W/N")
	}
	clock = clock.Add(time.Millisecond)
	if serve(t, rl, alice).Code != 200 {
		t.Fatal("rejected after W/N")
	}
	if serve(t, rl, alice).Code != 429 {
		t.Fatal("two requests after W/N")
	}
}

func TestRateLimitBurstTiersAndKeys(t *testing.T) {
	clock := rlT0
	rl := testRateLimit(t, &RateLimit{Zones: []*RateZone{{
		Name: "per_consumer", Key: "{http.auth.user.id}", Requests: 100, Window: caddy.Duration(time.Minute), Burst: 20,
		Tiers: []*RateTier{{Name: "gold", Requests: 1000, Window: caddy.Duration(time.Minute)}, {Name: "silver", Requests: 300, Window: caddy.Duration(time.Minute), Burst: 5}},
	}}}, &clock)
	plain := caller{ip: "10.0.0.1", id: &gateway.Identity{Consumer: "plain"}}
	gold := caller{ip: "10.0.0.1", id: &gateway.Identity{Consumer: "gold", Scopes: []string{"orders:read", "tier:gold"}}}
	silver := caller{ip: "10.0.0.1", id: &gateway.Identity{Consumer: "silver", Scopes: []string{"tier:silver"}}}
	both := caller{ip: "10.0.0.1", id: &gateway.Identity{Consumer: "both", Scopes: []string{"tier:silver", "tier:gold"}}}
	if n := count(t, rl, plain, 2000); n != 20 {
		t.Fatalf("burst 20: %d", n)
	}
	if n := count(t, rl, gold, 2000); n != 1000 {
		t.Fatalf("gold: %d", n)
	}
	if n := count(t, rl, silver, 2000); n != 5 {
		t.Fatalf("silver burst 5: %d", n)
	}
	// The first tier listed that the caller holds applies.
	w := serve(t, rl, both)
	if got := w.Header().Get("RateLimit-Policy"); got != `"per_consumer";q=1000;w=60` {
		t.Fatalf("policy of a caller with two tiers: %q", got)
	}
	// Refill per tier: gold gets one every 60ms, plain one every 600ms.
	clock = clock.Add(60 * time.Millisecond)
	if serve(t, rl, gold).Code != 200 || serve(t, rl, gold).Code != 429 {
		t.Fatal("gold refill")
	}
	if serve(t, rl, plain).Code != 429 {
		t.Fatal("plain refilled at gold's pace")
	}
	// An anonymous request's key is empty: it falls back to the address.
	a1, a2 := caller{ip: "192.0.2.1"}, caller{ip: "192.0.2.2"}
	if n := count(t, rl, a1, 100); n != 20 {
		t.Fatalf("anonymous 1: %d", n)
	}
	if n := count(t, rl, a2, 100); n != 20 {
		t.Fatalf("anonymous 2: %d", n)
	}
	// IPv6 clients are limited per /64.
	v6a, v6b, v6c := caller{ip: "2001:db8:1:2::1"}, caller{ip: "2001:db8:1:2:ffff::9"}, caller{ip: "2001:db8:1:3::1"}
	if n := count(t, rl, v6a, 100); n != 20 {
		t.Fatalf("ipv6 a: %d", n)
	}
	if n := count(t, rl, v6b, 100); n != 0 {
		t.Fatalf("another address of the same /64 got %d", n)
	}
	if n := count(t, rl, v6c, 100); n != 20 {
		t.Fatalf("another /64: %d", n)
	}
}

func TestRateLimitSeveralZones(t *testing.T) {
	clock := rlT0
	rl := testRateLimit(t, &RateLimit{Zones: []*RateZone{
		{Name: "per_tenant", Key: "{http.request.header.X-Tenant}", Requests: 5, Window: caddy.Duration(time.Second)},
		{Name: "per_ip", Key: "{http.vars.client_ip}", Requests: 3, Window: caddy.Duration(time.Second)},
	}}, &clock)
	a := caller{ip: "10.0.0.1", header: map[string]string{"X-Tenant": "acme"}}
	b := caller{ip: "10.0.0.2", header: map[string]string{"X-Tenant": "acme"}}
	w := serve(t, rl, a)
	if got := w.Header().Get("RateLimit-Policy"); got != `"per_tenant";q=5;w=1, "per_ip";q=3;w=1` {
		t.Fatalf("policy %q", got)
	}
	if got := w.Header().Get("RateLimit"); got != `"per_tenant";r=4;t=1, "per_ip";r=2;t=1` {
		t.Fatalf("state %q", got)
	}
	// per_ip stops a after 3; the tenant has 5: b gets the other 2... and the
	// rejected requests of a still consumed the tenant's bucket.
	if n := count(t, rl, a, 10); n != 2 {
		t.Fatalf("a: %d", n)
	}
	if n := count(t, rl, b, 10); n != 1 {
		t.Fatalf("b: %d (tenant bucket shared)", n)
	}
}

// A 429 is refused through the gate: the audit record's decision names
// api_rate_limit and the reason, rejections_total counts it, and the zone's
// own count and event follow.
func TestRateLimitRejectionIsADecision(t *testing.T) {
	clock := rlT0
	app := &gatewaytest.App{}
	rl := provisionWith(t, &RateLimit{Zones: []*RateZone{{Name: "decided", Requests: 1, Window: caddy.Duration(time.Hour)}}}, app, &clock)
	alice := caller{ip: "10.0.0.1", id: &gateway.Identity{Consumer: "alice"}}
	rejections := gateway.Rejections.WithLabelValues("api_rate_limit", "limited")
	limited := gateway.Decisions.WithLabelValues("api_rate_limit", "limited")
	byZone := rejectedByZone.WithLabelValues("decided")
	r0, l0, z0 := testutil.ToFloat64(rejections), testutil.ToFloat64(limited), testutil.ToFloat64(byZone)

	r := alice.request()
	w := httptest.NewRecorder()
	if err := rl.ServeHTTP(w, r, okHandler); err != nil || w.Code != 200 {
		t.Fatalf("first request: %d %v", w.Code, err)
	}
	if _, ok := gateway.DecisionFrom(r); ok {
		t.Fatal("an allowed request has a decision")
	}
	r = alice.request()
	w = httptest.NewRecorder()
	if err := rl.ServeHTTP(w, r, okHandler); err != nil || w.Code != http.StatusTooManyRequests {
		t.Fatalf("second request: %d %v", w.Code, err)
	}
	if d, ok := gateway.DecisionFrom(r); !ok || d.Handler != "api_rate_limit" || d.Reason != "limited" {
		t.Fatalf("decision %+v %v, want api_rate_limit/limited", d, ok)
	}
	if ra := w.Header().Get("Retry-After"); ra != "3600" {
		t.Errorf("Retry-After %q", ra)
	}
	if w.Header().Get("RateLimit") == "" || w.Header().Get("RateLimit-Policy") == "" {
		t.Errorf("no RateLimit headers on the 429: %v", w.Header())
	}
	if got := testutil.ToFloat64(rejections) - r0; got != 1 {
		t.Errorf("rejections_total grew by %v, want 1", got)
	}
	if got := testutil.ToFloat64(limited) - l0; got != 1 {
		t.Errorf("decisions_total{outcome=limited} grew by %v, want 1", got)
	}
	if got := testutil.ToFloat64(byZone) - z0; got != 1 {
		t.Errorf("rate_limit_rejected_total grew by %v, want 1", got)
	}
	if n := len(app.Events()); n != 1 {
		t.Errorf("%d rate_limit.rejected events, want 1", n)
	}
}

// In report mode a request over the limit passes, with its would_reject
// recorded and counted, no Retry-After, and the RateLimit headers as usual.
// It takes no allowance, as a refused request does not.
func TestRateLimitReportMode(t *testing.T) {
	clock := rlT0
	app := &gatewaytest.App{}
	rl := provisionWith(t, &RateLimit{Mode: gateway.Report, Zones: []*RateZone{{Name: "reported", Requests: 2, Window: caddy.Duration(time.Minute)}}}, app, &clock)
	alice := caller{ip: "10.0.0.1", id: &gateway.Identity{Consumer: "alice"}}
	reported := gateway.Decisions.WithLabelValues("api_rate_limit", "report")
	rejections := gateway.Rejections.WithLabelValues("api_rate_limit", "limited")
	rep0, rej0 := testutil.ToFloat64(reported), testutil.ToFloat64(rejections)
	for i := range 5 {
		r := alice.request()
		w := httptest.NewRecorder()
		if err := rl.ServeHTTP(w, r, okHandler); err != nil || w.Code != 200 {
			t.Fatalf("request %d: %d %v", i+1, w.Code, err)
		}
		if w.Header().Get("RateLimit-Policy") != `"reported";q=2;w=60` || w.Header().Get("Retry-After") != "" {
			t.Fatalf("request %d: headers %v", i+1, w.Header())
		}
		wr := gateway.WouldRejectFrom(r)
		if i < 2 && len(wr) != 0 {
			t.Fatalf("request %d within the limit: would_reject %v", i+1, wr)
		}
		if i >= 2 && (len(wr) != 1 || wr[0] != (gateway.Decision{Handler: "api_rate_limit", Reason: "limited"})) {
			t.Fatalf("request %d over the limit: would_reject %v", i+1, wr)
		}
		if _, ok := gateway.DecisionFrom(r); ok {
			t.Fatalf("request %d: report mode made a decision", i+1)
		}
	}
	if got := testutil.ToFloat64(reported) - rep0; got != 3 {
		t.Errorf("decisions_total{outcome=report} grew by %v, want 3", got)
	}
	if got := testutil.ToFloat64(rejections) - rej0; got != 0 {
		t.Errorf("report mode counted %v rejections", got)
	}
	if n := len(app.Events()); n != 0 {
		t.Errorf("report mode emitted %d rate_limit.rejected events", n)
	}
	// The passed requests took no allowance: one interval later exactly one
	// more conforms, as under enforce.
	clock = clock.Add(30 * time.Second)
	if r := alice.request(); serveRequest(t, rl, r).Code != 200 || len(gateway.WouldRejectFrom(r)) != 0 {
		t.Fatal("the request one interval later would be refused: report mode consumed allowance")
	}
	r := alice.request()
	if serveRequest(t, rl, r).Code != 200 || len(gateway.WouldRejectFrom(r)) != 1 {
		t.Fatal("a second request one interval later would not be refused")
	}
}

// With on_backend_error deny, a failing Redis is a 503 through the gate; in
// report mode the request passes.
func TestRateLimitBackendDeny(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: every call fails at once
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	unavailable := gateway.Rejections.WithLabelValues("api_rate_limit", "backend_unavailable")
	for _, mode := range []gateway.Mode{gateway.Enforce, gateway.Report} {
		rl := provisionWith(t, &RateLimit{Backend: backendRedis, OnBackendError: onErrorDeny, Mode: mode,
			Zones: []*RateZone{{Name: "denied_" + string(mode), Requests: 10, Window: caddy.Duration(time.Minute)}}}, &gatewaytest.App{Redis: client}, nil)
		before := testutil.ToFloat64(unavailable)
		r := caller{ip: "10.0.0.1"}.request()
		w := serveRequest(t, rl, r)
		if mode == gateway.Report {
			if w.Code != 200 || len(gateway.WouldRejectFrom(r)) != 1 {
				t.Fatalf("report mode: %d, would_reject %v", w.Code, gateway.WouldRejectFrom(r))
			}
			continue
		}
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
			t.Fatalf("enforce: %d %v", w.Code, w.Header())
		}
		if d, ok := gateway.DecisionFrom(r); !ok || d.Reason != "backend_unavailable" {
			t.Fatalf("decision %+v", d)
		}
		if got := testutil.ToFloat64(unavailable) - before; got != 1 {
			t.Errorf("rejections_total{reason=backend_unavailable} grew by %v", got)
		}
	}
}

func serveRequest(t testing.TB, rl *RateLimit, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := rl.ServeHTTP(w, r, okHandler); err != nil {
		t.Fatal(err)
	}
	return w
}

func BenchmarkRateLimitHandler(b *testing.B) {
	clock := rlT0
	rl := testRateLimit(b, &RateLimit{Zones: []*RateZone{{Name: "default", Requests: 1_000_000, Window: caddy.Duration(time.Second)}}}, &clock)
	r := caller{ip: "10.0.0.1", id: &gateway.Identity{Consumer: "alice"}}.request()
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clock = clock.Add(time.Microsecond) // the rate: every request allowed
		clear(w.Header())
		if err := rl.ServeHTTP(w, r, okHandler); err != nil || w.Code != http.StatusOK {
			b.Fatalf("status %d, %v", w.Code, err)
		}
	}
}
