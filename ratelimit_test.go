package apigate

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/authn"
	"github.com/apigate/caddy-apigate/limiter"
)

var rlT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testRateLimit readies rl for requests with a clock the test moves, and fresh
// in-memory buckets, without a Caddy context.
func testRateLimit(t *testing.T, rl *RateLimit, clock *time.Time) *RateLimit {
	t.Helper()
	metricsOnce.Do(buildMetrics)
	rateLimitCollectors()
	if rl.Backend == "" {
		rl.Backend = backendMemory
	}
	if rl.OnBackendError == "" {
		rl.OnBackendError = onErrorLocal
	}
	if err := rl.validate(); err != nil {
		t.Fatal(err)
	}
	rl.logger = zap.NewNop()
	rl.app = &App{}
	rl.now = func() time.Time { return *clock }
	rl.mAllowed = decisions.WithLabelValues("api_rate_limit", "allowed")
	rl.mLimited = decisions.WithLabelValues("api_rate_limit", "limited")
	rl.mBackendDenied = decisions.WithLabelValues("api_rate_limit", "backend_unavailable")
	for _, z := range rl.Zones {
		rl.zones = append(rl.zones, rl.buildZone(z, limiter.NewMemory(0)))
	}
	return rl
}

type caller struct {
	ip     string
	id     *authn.Identity
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
		caddyhttp.SetVar(ctx, identityVar, c.id)
		repl.Set("http.auth.user.id", c.id.Consumer)
	}
	return r
}

var okHandler = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(http.StatusOK)
	return nil
})

func serve(t *testing.T, rl *RateLimit, c caller) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := rl.ServeHTTP(w, c.request(), okHandler); err != nil {
		t.Fatal(err)
	}
	return w
}

// count sends requests until one is rejected (at most max) and returns how many
// passed.
func count(t *testing.T, rl *RateLimit, c caller, max int) int {
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
	alice := caller{ip: "10.0.0.1", id: &authn.Identity{Consumer: "alice"}}
	bob := caller{ip: "10.0.0.1", id: &authn.Identity{Consumer: "bob"}}
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
	var p problem
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
	plain := caller{ip: "10.0.0.1", id: &authn.Identity{Consumer: "plain"}}
	gold := caller{ip: "10.0.0.1", id: &authn.Identity{Consumer: "gold", Scopes: []string{"orders:read", "tier:gold"}}}
	silver := caller{ip: "10.0.0.1", id: &authn.Identity{Consumer: "silver", Scopes: []string{"tier:silver"}}}
	both := caller{ip: "10.0.0.1", id: &authn.Identity{Consumer: "both", Scopes: []string{"tier:silver", "tier:gold"}}}
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

func TestRateLimitCaddyfile(t *testing.T) {
	good := []struct {
		in   string
		want string
	}{
		{`api_rate_limit 100/1m`, `{"zones":[{"name":"default","requests":100,"window":60000000000}]}`},
		{`api_rate_limit 10/s 3`, `{"zones":[{"name":"default","requests":10,"window":1000000000,"burst":3}]}`},
		{`api_rate_limit {
			zone per_consumer {
				key {http.auth.user.id}
				rate 100/1m
				burst 20
				tier gold 1000/1m
				tier silver 300/1m 50
			}
			zone per_ip {
				key {http.vars.client_ip}
				rate 5/s
			}
			backend redis
			on_backend_error deny
			max_keys 1000
		}`, `{"zones":[{"name":"per_consumer","key":"{http.auth.user.id}","requests":100,"window":60000000000,"burst":20,"tiers":[{"name":"gold","requests":1000,"window":60000000000},{"name":"silver","requests":300,"window":60000000000,"burst":50}]},{"name":"per_ip","key":"{http.vars.client_ip}","requests":5,"window":1000000000}],"backend":"redis","on_backend_error":"deny","max_keys":1000}`},
		{`api_rate_limit 100/1m {
			backend redis
		}`, `{"zones":[{"name":"default","requests":100,"window":60000000000}],"backend":"redis"}`},
	}
	for _, tt := range good {
		rl := new(RateLimit)
		if err := rl.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in)); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		got, _ := json.Marshal(rl)
		if string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
	z := "\tzone a {\n\t\trate 1/s\n\t}\n"
	bad := map[string]string{
		"api_rate_limit":                                  "want a rate",
		"api_rate_limit 100":                              "requests/window",
		"api_rate_limit 0/1m":                             "between 1",
		"api_rate_limit 100/1m 0":                         "burst",
		"api_rate_limit 100/1m 5 6":                       "wrong argument count",
		"api_rate_limit {\n" + z + z + "}":                "duplicate zone",
		"api_rate_limit {\n\tzone a {\n\t\tkey x\n\t}\n}": "rate is required",
		"api_rate_limit {\n\tzone a {\n\t\trate 1/s\n\t\trate 2/s\n\t}\n}":                         "duplicate subdirective",
		"api_rate_limit {\n\tzone \"a b\" {\n\t\trate 1/s\n\t}\n}":                                 "zone name",
		"api_rate_limit {\n\tzone {\n\t\trate 1/s\n\t}\n}":                                         "zone",
		"api_rate_limit {\n\tzone a {\n\t\trate 1/s\n\t\ttier gold\n\t}\n}":                        "want tier",
		"api_rate_limit {\n\tzone a {\n\t\trate 1/s\n\t\ttier gold 1/s\n\t\ttier gold 2/s\n\t}\n}": "duplicate tier",
		"api_rate_limit {\n\tzone a {\n\t\trate 1/s\n\t\ttier gold 1/s 0\n\t}\n}":                  "burst",
		"api_rate_limit {\n\tzone a {\n\t\trate 1/s\n\t\tcolour red\n\t}\n}":                       "unrecognized",
		"api_rate_limit {\n" + z + "\tbackend postgres\n}":                                         "memory or redis",
		"api_rate_limit {\n" + z + "\ton_backend_error panic\n}":                                   "local, allow or deny",
		"api_rate_limit {\n" + z + "\tmax_keys -1\n}":                                              "max_keys",
		"api_rate_limit {\n" + z + "\tbackend redis\n\tbackend memory\n}":                          "duplicate subdirective",
		"api_rate_limit {\n\tfrobnicate\n}":                                                        "unrecognized",
	}
	for in, want := range bad {
		err := new(RateLimit).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", in, err, want)
		} else if !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%s: error %q does not name the line", in, err)
		}
	}
}

func FuzzRateLimitCaddyfile(f *testing.F) {
	for _, s := range []string{
		"api_rate_limit 100/1m",
		"api_rate_limit 10/s 5",
		"api_rate_limit {\nzone a {\nkey {http.auth.user.id}\nrate 1/s\nburst 2\ntier gold 5/s 9\n}\nbackend redis\non_backend_error allow\nmax_keys 10\n}",
		"api_rate_limit { zone a { rate 1/s } zone a { rate 1/s } }",
		"api_rate_limit 1/1d {\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tokens, err := caddyfile.Tokenize([]byte(in), "Caddyfile")
		if err != nil {
			return // the Caddyfile lexer refuses it before any directive sees it
		}
		rl := new(RateLimit)
		if err := rl.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		// What parses also provisions: validate and build the zones.
		clock := rlT0
		if err := rl.validate(); err != nil {
			if rl.Backend == "" || rl.OnBackendError == "" {
				return
			}
			t.Fatalf("%q parsed but does not validate: %v", in, err)
		}
		testRateLimit(t, rl, &clock)
	})
}

func BenchmarkRateLimitHandler(b *testing.B) {
	clock := rlT0
	t := &testing.T{}
	rl := testRateLimit(t, &RateLimit{Zones: []*RateZone{{Name: "default", Requests: 1_000_000, Window: caddy.Duration(time.Second)}}}, &clock)
	r := caller{ip: "10.0.0.1", id: &authn.Identity{Consumer: "alice"}}.request()
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
