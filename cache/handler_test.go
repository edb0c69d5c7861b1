package cache

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// storeSeq gives every test its own store (stores are pooled by size).
var storeSeq atomic.Int64

func newTestCache(t testing.TB, c Cache) (*Cache, *testClock) {
	t.Helper()
	clk := &testClock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if c.MaxSize == 0 {
		c.MaxSize = 4<<20 + storeSeq.Add(1)
	}
	c.now = clk.now
	if err := c.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Cleanup() })
	return &c, clk
}

// upstream is a next handler standing in for reverse_proxy: it counts calls
// and answers with respond, which gets the call number.
type upstream struct {
	calls   atomic.Int64
	respond func(w http.ResponseWriter, r *http.Request, n int64) error
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n := u.calls.Add(1)
	if u.respond != nil {
		return u.respond(w, r, n)
	}
	return echo("")(w, r, n)
}

// echo answers with who called and the call number, with cache-control cc.
func echo(cc string, kv ...string) func(w http.ResponseWriter, r *http.Request, n int64) error {
	return func(w http.ResponseWriter, r *http.Request, n int64) error {
		who := "anonymous"
		if id := gateway.IdentityFrom(r); id != nil {
			who = id.Consumer
		}
		body := fmt.Sprintf(`{"consumer":%q,"n":%d,"accept":%q}`, who, n, r.Header.Get("Accept"))
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if cc != "" {
			h.Set("Cache-Control", cc)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte(body))
		return err
	}
}

type result struct {
	status int
	header http.Header
	body   string
	err    error
}

// call sends one request through the handler as consumer ("" for none).
func call(c *Cache, next caddyhttp.Handler, method, target, consumer string, headers ...string) result {
	r := httptest.NewRequest(method, target, nil)
	ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{})
	r = r.WithContext(ctx)
	if consumer != "" {
		gateway.SetIdentity(r.WithContext(ctx), &gateway.Identity{Consumer: consumer, Method: "api_key", ScopeString: "orders:read"})
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	err := c.ServeHTTP(w, r, next)
	return result{status: w.Code, header: w.Header(), body: w.Body.String(), err: err}
}

func (r result) cacheStatus() string { return strings.Join(r.header["Cache-Status"], ", ") }

func (r result) hit() bool { return strings.Contains(r.cacheStatus(), "; hit") }

// get does a GET and waits until ristretto applied any write it made.
func get(t *testing.T, c *Cache, next caddyhttp.Handler, target, consumer string, headers ...string) result {
	t.Helper()
	res := call(c, next, "GET", target, consumer, headers...)
	if res.err != nil {
		t.Fatalf("GET %s: %v", target, res.err)
	}
	c.pooled.Wait()
	return res
}

func TestCacheHitAndStatus(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(30 * time.Second)})
	up := &upstream{}
	first := get(t, c, up, "/orders?b=2&a=1", "alice")
	if first.hit() || first.cacheStatus() != "apigate; fwd=uri-miss; fwd-status=200; stored; ttl=30" {
		t.Fatalf("first: Cache-Status %q", first.cacheStatus())
	}
	second := get(t, c, up, "/orders?a=1&b=2", "alice")
	if !second.hit() || second.body != first.body || up.calls.Load() != 1 {
		t.Fatalf("second: %q %q, %d upstream calls", second.cacheStatus(), second.body, up.calls.Load())
	}
	if second.cacheStatus() != "apigate; hit; ttl=30" || second.header.Get("Age") != "0" {
		t.Fatalf("second: Cache-Status %q Age %q", second.cacheStatus(), second.header.Get("Age"))
	}
	if second.header.Get("Content-Length") == "" || second.header.Get("Content-Type") != "application/json" {
		t.Fatalf("hit lost headers: %v", second.header)
	}
}

func TestCacheConsumersIsolated(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
	up := &upstream{}
	for round := 0; round < 2; round++ {
		for _, who := range []string{"alice", "bob", ""} {
			res := get(t, c, up, "/orders/1", who)
			want := who
			if want == "" {
				want = "anonymous"
			}
			if !strings.Contains(res.body, `"consumer":"`+want+`"`) {
				t.Fatalf("round %d: %q got %s", round, who, res.body)
			}
			if round == 1 && !res.hit() {
				t.Fatalf("round 1: %q missed: %s", who, res.cacheStatus())
			}
		}
	}
	// The same consumer name from another method, or with other scopes, is
	// another partition.
	r := httptest.NewRequest("GET", "/orders/1", nil)
	ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{})
	gateway.SetIdentity(r.WithContext(ctx), &gateway.Identity{Consumer: "alice", Method: "jwt", ScopeString: "orders:read"})
	w := httptest.NewRecorder()
	if err := c.ServeHTTP(w, r.WithContext(ctx), up); err != nil || strings.Contains(w.Header().Get("Cache-Status"), "hit") {
		t.Fatalf("alice by jwt was served alice by api_key's entry: %v %q", err, w.Header().Get("Cache-Status"))
	}
}

func TestCacheConsumersIsolatedUnderConcurrency(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
	up := &upstream{}
	who := []string{"alice", "bob", "carol", ""}
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				consumer := who[(g+i)%len(who)]
				res := call(c, up, "GET", fmt.Sprintf("/orders/%d", i%5), consumer)
				want := consumer
				if want == "" {
					want = "anonymous"
				}
				if res.err != nil || !strings.Contains(res.body, `"consumer":"`+want+`"`) {
					bad.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d answers went to the wrong consumer", bad.Load())
	}
	if up.calls.Load() >= 8*200 {
		t.Fatal("nothing was served from the cache")
	}
}

func TestCacheResponseDirectives(t *testing.T) {
	date := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		ttl    time.Duration
		status int
		kv     []string
		stored bool
	}{
		{"ttl applies without freshness", 30 * time.Second, 200, nil, true},
		{"no ttl, no freshness", 0, 200, nil, false},
		{"max-age", 0, 200, []string{"Cache-Control", "max-age=60"}, true},
		{"s-maxage", 0, 200, []string{"Cache-Control", "s-maxage=60"}, true},
		{"max-age=0", 30 * time.Second, 200, []string{"Cache-Control", "max-age=0"}, false},
		{"s-maxage=0 beats max-age", 0, 200, []string{"Cache-Control", "max-age=60, s-maxage=0"}, false},
		{"no-store", 30 * time.Second, 200, []string{"Cache-Control", "no-store"}, false},
		{"private", 30 * time.Second, 200, []string{"Cache-Control", "private, max-age=60"}, false},
		{"no-cache", 30 * time.Second, 200, []string{"Cache-Control", "no-cache"}, false},
		{"set-cookie", 30 * time.Second, 200, []string{"Set-Cookie", "session=1"}, false},
		{"vary star", 30 * time.Second, 200, []string{"Vary", "*"}, false},
		{"expires", 0, 200, []string{"Date", date.Format(http.TimeFormat), "Expires", date.Add(time.Minute).Format(http.TimeFormat)}, true},
		{"expires past", 30 * time.Second, 200, []string{"Date", date.Format(http.TimeFormat), "Expires", date.Add(-time.Minute).Format(http.TimeFormat)}, false},
		{"500", 30 * time.Second, 500, []string{"Cache-Control", "max-age=60"}, false},
		{"404 with ttl only", 30 * time.Second, 404, nil, false},
		{"404 with max-age", 0, 404, []string{"Cache-Control", "max-age=60"}, true},
		{"201", 30 * time.Second, 201, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, Cache{TTL: caddy.Duration(tt.ttl)})
			up := &upstream{respond: func(w http.ResponseWriter, r *http.Request, n int64) error {
				for i := 0; i < len(tt.kv); i += 2 {
					w.Header().Add(tt.kv[i], tt.kv[i+1])
				}
				w.Header().Set("Content-Length", "2")
				w.WriteHeader(tt.status)
				_, err := w.Write([]byte("{}"))
				return err
			}}
			first := get(t, c, up, "/x", "alice")
			second := get(t, c, up, "/x", "alice")
			if first.status != tt.status || second.status != tt.status {
				t.Fatalf("status %d, %d", first.status, second.status)
			}
			if second.hit() != tt.stored || strings.Contains(first.cacheStatus(), "stored") != tt.stored {
				t.Fatalf("stored=%v: first %q, second %q", tt.stored, first.cacheStatus(), second.cacheStatus())
			}
		})
	}
}

func TestCacheRequestDirectives(t *testing.T) {
	c, clk := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
	up := &upstream{}
	if res := get(t, c, up, "/x", "alice", "Cache-Control", "only-if-cached"); res.status != http.StatusGatewayTimeout || up.calls.Load() != 0 {
		t.Fatalf("only-if-cached miss: %d, %d calls", res.status, up.calls.Load())
	}
	if res := get(t, c, up, "/x", "alice", "Cache-Control", "no-store"); strings.Contains(res.cacheStatus(), "stored") {
		t.Fatalf("request no-store stored: %q", res.cacheStatus())
	}
	get(t, c, up, "/x", "alice")
	if res := get(t, c, up, "/x", "alice", "Cache-Control", "only-if-cached"); !res.hit() {
		t.Fatalf("only-if-cached hit: %q", res.cacheStatus())
	}
	res := get(t, c, up, "/x", "alice", "Cache-Control", "no-cache")
	if res.hit() || !strings.Contains(res.cacheStatus(), "fwd=request") || up.calls.Load() != 3 {
		t.Fatalf("no-cache: %q, %d calls", res.cacheStatus(), up.calls.Load())
	}
	clk.advance(10 * time.Second)
	if res := get(t, c, up, "/x", "alice", "Cache-Control", "max-age=5"); res.hit() || !strings.Contains(res.cacheStatus(), "fwd=request") {
		t.Fatalf("max-age=5 on a 10s old entry: %q", res.cacheStatus())
	}
	clk.advance(10 * time.Second)
	if res := get(t, c, up, "/x", "alice", "Cache-Control", "min-fresh=55"); res.hit() {
		t.Fatalf("min-fresh=55 on an entry fresh for 50s more: %q", res.cacheStatus())
	}
	if res := get(t, c, up, "/x", "alice", "Range", "bytes=0-1"); !strings.Contains(res.cacheStatus(), "fwd=bypass") {
		t.Fatalf("range: %q", res.cacheStatus())
	}
}

// TestCacheOnlyIfCachedRefusal: the 504 to an only-if-cached miss is a
// refusal like any other handler's: problem+json, the decision in the audit
// record, counted in rejections_total.
func TestCacheOnlyIfCachedRefusal(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
	up := &upstream{}
	rejected := gateway.Rejections.WithLabelValues("api_cache", "only_if_cached")
	before := testutil.ToFloat64(rejected)
	r := httptest.NewRequest("GET", "/cold", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
	r.Header.Set("Cache-Control", "only-if-cached")
	w := httptest.NewRecorder()
	if err := c.ServeHTTP(w, r, up); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusGatewayTimeout || up.calls.Load() != 0 {
		t.Fatalf("status %d, %d upstream calls", w.Code, up.calls.Load())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" || !strings.Contains(w.Body.String(), "only-if-cached") {
		t.Errorf("answer %q %s", ct, w.Body.String())
	}
	if cs := w.Header().Get("Cache-Status"); cs != "apigate; fwd=uri-miss; detail=only-if-cached" {
		t.Errorf("Cache-Status %q", cs)
	}
	if d, ok := gateway.DecisionFrom(r); !ok || d != (gateway.Decision{Handler: "api_cache", Reason: "only_if_cached"}) {
		t.Errorf("decision %+v, %v", d, ok)
	}
	if n := testutil.ToFloat64(rejected) - before; n != 1 {
		t.Errorf("rejections_total grew by %v, want 1", n)
	}
}

func TestCacheExpiry(t *testing.T) {
	c, clk := newTestCache(t, Cache{TTL: caddy.Duration(time.Hour)})
	up := &upstream{respond: echo("max-age=10")}
	get(t, c, up, "/x", "alice")
	clk.advance(4 * time.Second)
	res := get(t, c, up, "/x", "alice")
	if !res.hit() || res.header.Get("Age") != "4" || res.cacheStatus() != "apigate; hit; ttl=6" {
		t.Fatalf("at +4s: %q Age %q", res.cacheStatus(), res.header.Get("Age"))
	}
	clk.advance(6 * time.Second)
	res = get(t, c, up, "/x", "alice")
	if res.hit() || !strings.Contains(res.cacheStatus(), "fwd=stale") || up.calls.Load() != 2 {
		t.Fatalf("at +10s: %q, %d calls", res.cacheStatus(), up.calls.Load())
	}
	// The default ttl, when the upstream gives no freshness.
	c2, clk2 := newTestCache(t, Cache{TTL: caddy.Duration(30 * time.Second)})
	up2 := &upstream{}
	get(t, c2, up2, "/y", "alice")
	clk2.advance(29 * time.Second)
	if !get(t, c2, up2, "/y", "alice").hit() {
		t.Fatal("ttl: expired early")
	}
	clk2.advance(time.Second)
	if get(t, c2, up2, "/y", "alice").hit() {
		t.Fatal("ttl: served after expiry")
	}
}

func TestCacheVary(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
	up := &upstream{respond: echo("", "Vary", "Accept")}
	a := get(t, c, up, "/x", "alice", "Accept", "application/json")
	b := get(t, c, up, "/x", "alice", "Accept", "text/plain")
	if b.hit() || !strings.Contains(b.cacheStatus(), "fwd=vary-miss") || !strings.Contains(b.body, "text/plain") {
		t.Fatalf("other Accept: %q %s", b.cacheStatus(), b.body)
	}
	a2 := get(t, c, up, "/x", "alice", "Accept", "application/json")
	b2 := get(t, c, up, "/x", "alice", "Accept", "text/plain")
	if !a2.hit() || !b2.hit() || a2.body != a.body || b2.body != b.body {
		t.Fatalf("variants: %q %s / %q %s", a2.cacheStatus(), a2.body, b2.cacheStatus(), b2.body)
	}
	if res := get(t, c, up, "/x", "bob", "Accept", "application/json"); res.hit() {
		t.Fatal("bob got alice's variant")
	}
}

func TestCacheHead(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
	up := &upstream{}
	head := call(c, up, "HEAD", "/x", "alice")
	c.pooled.Wait()
	if head.hit() || strings.Contains(head.cacheStatus(), "stored") {
		t.Fatalf("HEAD miss: %q", head.cacheStatus())
	}
	full := get(t, c, up, "/x", "alice")
	head = call(c, up, "HEAD", "/x", "alice")
	if !head.hit() || head.body != "" || head.header.Get("Content-Length") != strconv.Itoa(len(full.body)) {
		t.Fatalf("HEAD from GET: %q body %q length %q", head.cacheStatus(), head.body, head.header.Get("Content-Length"))
	}
}

func TestCacheUnsafeMethodsInvalidate(t *testing.T) {
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
			up := &upstream{}
			get(t, c, up, "/orders/1?x=1", "alice")
			get(t, c, up, "/orders/1", "bob")
			get(t, c, up, "/orders/2", "alice")
			res := call(c, up, method, "/orders/1", "carol")
			if res.cacheStatus() != "apigate; fwd=method" {
				t.Fatalf("%s: Cache-Status %q", method, res.cacheStatus())
			}
			for _, tc := range []struct{ target, who string }{{"/orders/1?x=1", "alice"}, {"/orders/1", "bob"}} {
				if get(t, c, up, tc.target, tc.who).hit() {
					t.Fatalf("%s %s for %s still served", method, tc.target, tc.who)
				}
			}
			if !get(t, c, up, "/orders/2", "alice").hit() {
				t.Fatal("another path was invalidated")
			}
		})
	}
}

func TestCachePurge(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
	up := &upstream{}
	get(t, c, up, "/a", "alice")
	get(t, c, up, "/b", "alice")
	if Purge("/a") < 1 {
		t.Fatal("no store purged")
	}
	if get(t, c, up, "/a", "alice").hit() || !get(t, c, up, "/b", "alice").hit() {
		t.Fatal("purge of /a")
	}
	get(t, c, up, "/a", "alice")
	Purge("")
	if get(t, c, up, "/a", "alice").hit() || get(t, c, up, "/b", "alice").hit() {
		t.Fatal("purge of all")
	}
}

func TestCacheSharePublic(t *testing.T) {
	for _, share := range []string{"", "public"} {
		c, _ := newTestCache(t, Cache{Share: share})
		up := &upstream{respond: echo("public, max-age=60")}
		get(t, c, up, "/catalog", "alice")
		res := get(t, c, up, "/catalog", "bob")
		if res.hit() != (share == "public") {
			t.Fatalf("share %q: bob %q", share, res.cacheStatus())
		}
		// Responses not marked public stay private even when sharing.
		up2 := &upstream{respond: echo("max-age=60")}
		get(t, c, up2, "/mine", "alice")
		if get(t, c, up2, "/mine", "bob").hit() {
			t.Fatalf("share %q: non-public response shared", share)
		}
	}
}

func TestCacheCoalescing(t *testing.T) {
	const n = 20
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute), Wait: caddy.Duration(time.Minute)})
	var joined atomic.Int64
	release := make(chan struct{})
	c.joined = func() {
		if joined.Add(1) == n {
			close(release)
		}
	}
	up := &upstream{respond: func(w http.ResponseWriter, r *http.Request, k int64) error {
		<-release
		return echo("")(w, r, k)
	}}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = call(c, up, "GET", "/slow", "alice")
		}()
	}
	wg.Wait()
	if up.calls.Load() != 1 {
		t.Fatalf("%d upstream requests for %d concurrent misses", up.calls.Load(), n)
	}
	collapsed := 0
	for _, res := range results {
		if res.err != nil || res.status != 200 || res.body != results[0].body {
			t.Fatalf("answer %d %q %v", res.status, res.body, res.err)
		}
		if strings.Contains(res.cacheStatus(), "collapsed") {
			collapsed++
		}
	}
	if collapsed != n-1 {
		t.Fatalf("%d collapsed answers, want %d", collapsed, n-1)
	}
}

func TestCacheCoalescingUpstreamError(t *testing.T) {
	const n = 10
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute), Wait: caddy.Duration(time.Minute)})
	var joined atomic.Int64
	release := make(chan struct{})
	c.joined = func() {
		if joined.Add(1) == n {
			close(release)
		}
	}
	up := &upstream{respond: func(w http.ResponseWriter, r *http.Request, k int64) error {
		<-release
		return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("upstream down"))
	}}
	var wg sync.WaitGroup
	var errs atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := call(c, up, "GET", "/down", "alice"); res.err != nil {
				errs.Add(1)
				if !strings.Contains(res.cacheStatus(), "fwd=") {
					t.Errorf("error answer without Cache-Status: %q", res.cacheStatus())
				}
			}
		}()
	}
	wg.Wait()
	if errs.Load() != n {
		t.Fatalf("%d of %d requests saw the upstream error", errs.Load(), n)
	}
	c.joined = nil
	before := up.calls.Load()
	up.respond = echo("")
	if res := get(t, c, up, "/down", "alice"); res.hit() || up.calls.Load() != before+1 {
		t.Fatalf("error was cached: %q", res.cacheStatus())
	}
}

func TestCacheWaitTimesOut(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute), Wait: caddy.Duration(20 * time.Millisecond)})
	release := make(chan struct{})
	up := &upstream{respond: func(w http.ResponseWriter, r *http.Request, k int64) error {
		if k == 1 {
			<-release // the first request hangs until the second is done
		}
		return echo("")(w, r, k)
	}}
	first := make(chan result)
	go func() { first <- call(c, up, "GET", "/hang", "alice") }()
	for up.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := call(c, up, "GET", "/hang", "alice")
	if second.err != nil || second.status != 200 || up.calls.Load() != 2 {
		t.Fatalf("waiter after timeout: %d %v, %d calls", second.status, second.err, up.calls.Load())
	}
	close(release)
	if res := <-first; res.status != 200 || res.err != nil {
		t.Fatalf("leader: %d %v", res.status, res.err)
	}
}

func TestCacheStoresUpstreamHeadersOnly(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
	up := &upstream{}
	r := httptest.NewRequest("GET", "/x", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
	w := httptest.NewRecorder()
	w.Header().Set("Deprecation", "@1") // set by api_auth for this caller only
	if err := c.ServeHTTP(w, r, up); err != nil {
		t.Fatal(err)
	}
	if w.Header().Get("Deprecation") != "@1" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("miss answer headers: %v", w.Header())
	}
	c.pooled.Wait()
	res := get(t, c, up, "/x", "")
	if !res.hit() || res.header.Get("Deprecation") != "" {
		t.Fatalf("hit: %q, Deprecation %q", res.cacheStatus(), res.header.Get("Deprecation"))
	}
}

func TestCacheLargeAndUnknownLengthStreamThrough(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute), MaxItem: 1024})
	big := strings.Repeat("x", 4096)
	up := &upstream{respond: func(w http.ResponseWriter, r *http.Request, n int64) error {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		}
		_, err := w.Write([]byte(big))
		return err
	}}
	for _, p := range []string{"/big", "/chunked"} {
		a := get(t, c, up, p, "alice")
		b := get(t, c, up, p, "alice")
		if a.body != big || b.body != big || b.hit() {
			t.Fatalf("%s: %d bytes, %q", p, len(b.body), b.cacheStatus())
		}
	}
}

func TestCacheConfigErrors(t *testing.T) {
	for _, c := range []Cache{
		{TTL: -1},
		{MaxSize: 100, MaxItem: 200},
		{Share: "everyone"},
		{Wait: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c, _ := newTestCache(b, Cache{TTL: caddy.Duration(time.Hour)})
	up := &upstream{}
	r := httptest.NewRequest("GET", "/orders/42?b=2&a=1", nil)
	ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{})
	gateway.SetIdentity(r.WithContext(ctx), &gateway.Identity{Consumer: "bench", Method: "api_key", ScopeString: "orders:read"})
	r = r.WithContext(ctx)
	c.ServeHTTP(httptest.NewRecorder(), r, up)
	c.pooled.Wait()
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		if err := c.ServeHTTP(w, r, up); err != nil {
			b.Fatal(err)
		}
	}
	if up.calls.Load() != 1 {
		b.Fatalf("%d upstream calls", up.calls.Load())
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

func TestCacheSmallUnknownLengthStoredStreamsNot(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute), MaxItem: 1024})
	up := &upstream{respond: func(w http.ResponseWriter, r *http.Request, n int64) error {
		if r.URL.Path == "/events" {
			w.Header().Set("Content-Type", "text/event-stream")
		}
		if r.URL.Path == "/incremental" {
			w.Header().Set("Incremental", "?1")
		}
		for i := 0; i < 3; i++ { // several writes, no Content-Length
			if _, err := w.Write([]byte("part;")); err != nil {
				return err
			}
			http.NewResponseController(w).Flush()
		}
		return nil
	}}
	get(t, c, up, "/small", "alice")
	if res := get(t, c, up, "/small", "alice"); !res.hit() || res.body != "part;part;part;" {
		t.Fatalf("small chunked response: %q %q", res.cacheStatus(), res.body)
	}
	for _, p := range []string{"/events", "/incremental"} {
		get(t, c, up, p, "alice")
		if res := get(t, c, up, p, "alice"); res.hit() || res.body != "part;part;part;" {
			t.Fatalf("%s: %q %q", p, res.cacheStatus(), res.body)
		}
	}
}

func TestCacheConditionalHit(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
	lm := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	up := &upstream{respond: echo("", "Etag", `W/"v1"`, "Last-Modified", lm)}
	get(t, c, up, "/x", "alice")
	for _, tc := range []struct {
		h    []string
		want int
	}{
		{[]string{"If-None-Match", `"v1"`}, 304},
		{[]string{"If-None-Match", `"v0", W/"v1"`}, 304},
		{[]string{"If-None-Match", `*`}, 304},
		{[]string{"If-None-Match", `"v2"`}, 200},
		{[]string{"If-Modified-Since", lm}, 304},
		{[]string{"If-Modified-Since", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)}, 200},
		{[]string{"If-None-Match", `"v2"`, "If-Modified-Since", lm}, 200},
	} {
		res := get(t, c, up, "/x", "alice", tc.h...)
		if !res.hit() || res.status != tc.want || (tc.want == 304 && res.body != "") {
			t.Errorf("%q: %d %q body %q, want %d", tc.h, res.status, res.cacheStatus(), res.body, tc.want)
		}
	}
}

func TestCacheSharedVary(t *testing.T) {
	c, _ := newTestCache(t, Cache{Share: "public"})
	up := &upstream{respond: echo("public, max-age=60", "Vary", "Accept")}
	get(t, c, up, "/x", "alice", "Accept", "a/b")
	get(t, c, up, "/x", "alice", "Accept", "c/d")
	if res := get(t, c, up, "/x", "bob", "Accept", "a/b"); !res.hit() || !strings.Contains(res.body, "a/b") {
		t.Fatalf("bob a/b: %q %s", res.cacheStatus(), res.body)
	}
	if res := get(t, c, up, "/x", "bob", "Accept", "c/d"); !res.hit() || !strings.Contains(res.body, "c/d") {
		t.Fatalf("bob c/d: %q %s", res.cacheStatus(), res.body)
	}
}

// TestCacheAnonymousWithCredentials: a caller api_auth did not identify but
// who sends its own credentials (on a route without api_auth) may get a
// personal answer: it is neither stored nor served from the shared anonymous
// partition.
func TestCacheAnonymousWithCredentials(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
	up := &upstream{}
	// A key header another api_auth of the config reads.
	defer gateway.RegisterCarriers("X-Partner-Token", "partner_token")()
	for _, tc := range []struct{ target, header, value string }{
		{"/me", "Authorization", "Bearer alice-token"},
		{"/me", "Authorization", "Basic YTpi"},
		{"/me", "Cookie", "session=alice"},
		{"/me", "Proxy-Authorization", "Basic YTpi"},
		{"/me", "X-Api-Key", "garbage"},
		{"/me", "X_API_KEY", "garbage"},
		{"/me", "X-Partner-Token", "t"},
		{"/me?api_key=k", "", ""},
		{"/me?a=1&partner%5Ftoken=t", "", ""},
	} {
		var h []string
		if tc.header != "" {
			h = []string{tc.header, tc.value}
		}
		for i := 0; i < 2; i++ {
			res := get(t, c, up, tc.target, "", h...)
			if res.hit() || !strings.Contains(res.cacheStatus(), "fwd=bypass") {
				t.Fatalf("%s %s, request %d: Cache-Status %q", tc.target, tc.header, i, res.cacheStatus())
			}
		}
	}
	// A plain anonymous caller is not served what the credentialed ones got.
	before := up.calls.Load()
	if res := get(t, c, up, "/me", ""); res.hit() || up.calls.Load() != before+1 {
		t.Fatalf("anonymous caller served from the cache: %q", res.cacheStatus())
	}
	// A caller api_auth identified before the cache is in its own partition:
	// the carriers it still has do not matter.
	get(t, c, up, "/mine", "alice", "X-Partner-Token", "t")
	if res := get(t, c, up, "/mine", "alice", "X-Partner-Token", "t"); !res.hit() {
		t.Fatalf("identified caller not cached: %q", res.cacheStatus())
	}
}

// identifyThen stands in for an api_auth after the cache: it sets the
// identity of consumer (none for "") and calls next.
func identifyThen(consumer string, next caddyhttp.Handler) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if consumer != "" {
			gateway.SetIdentity(r, &gateway.Identity{Consumer: consumer, Method: "client_cert"})
		}
		return next.ServeHTTP(w, r)
	})
}

// TestCacheIdentityAfterCacheNotStored: an api_auth that runs after the cache
// (route order, or a handle below a site-level cache) identifies the caller
// too late for the key: the answer is never stored, so no other caller gets
// it, and the normal order still caches.
func TestCacheIdentityAfterCacheNotStored(t *testing.T) {
	c, _ := newTestCache(t, Cache{TTL: caddy.Duration(time.Minute)})
	up := &upstream{}
	for _, tc := range []struct{ before, after string }{
		{"", "alice"},      // anonymous at the cache, alice downstream
		{"bob", "alice"},   // another identity downstream
		{"alice", "alice"}, // the same consumer, but established again
	} {
		path := "/late/" + tc.before + "-" + tc.after
		next := identifyThen(tc.after, up)
		res := get(t, c, next, path, tc.before)
		if !strings.Contains(res.body, `"alice"`) || strings.Contains(res.cacheStatus(), "stored") ||
			!strings.Contains(res.cacheStatus(), "detail=identity-after-cache") {
			t.Fatalf("%s: %q %s", path, res.cacheStatus(), res.body)
		}
		for _, who := range []string{"", "bob", "alice"} {
			if res := get(t, c, identifyThen(who, up), path, who); res.hit() {
				t.Fatalf("%s: %q got a hit: %s", path, who, res.body)
			}
		}
	}
	// The normal order: identified before the cache, nothing changes after.
	get(t, c, up, "/early", "alice")
	if res := get(t, c, up, "/early", "alice"); !res.hit() || !strings.Contains(res.body, `"alice"`) {
		t.Fatalf("normal order not cached: %q", res.cacheStatus())
	}
	if res := get(t, c, up, "/early", "bob"); res.hit() {
		t.Fatalf("bob got alice's answer")
	}
}

// BenchmarkCacheHitAnonymous: a hit for a caller without identity, whose
// headers and query are checked for credentials first.
func BenchmarkCacheHitAnonymous(b *testing.B) {
	c, _ := newTestCache(b, Cache{TTL: caddy.Duration(time.Hour)})
	up := &upstream{}
	r := httptest.NewRequest("GET", "/catalog?page=2&sort=name", nil)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "bench")
	r.Header.Set("X-Request-Id", "1")
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
	c.ServeHTTP(httptest.NewRecorder(), r, up)
	c.pooled.Wait()
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		if err := c.ServeHTTP(w, r, up); err != nil {
			b.Fatal(err)
		}
	}
	if up.calls.Load() != 1 {
		b.Fatalf("%d upstream calls", up.calls.Load())
	}
}
