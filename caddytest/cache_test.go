package caddytest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The cache site: an open area (anonymous callers) and an API behind keys,
// both cached.
const cacheSite = `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	handle /open/* {
		api_cache {
			ttl 30s
			max_size 1MB
		}
		reverse_proxy {UPSTREAM}
	}
	handle {
		api_auth
		api_authorize orders:read
		api_cache {
			ttl 30s
			max_size 200KB
			max_item 8KB
			share public
		}
		reverse_proxy {UPSTREAM} {
			header_up X-Consumer {http.auth.user.id}
		}
	}
}
`

// cacheUpstream answers with the consumer the gateway named and how many
// requests it has seen for the path; /public/ answers are public, /big/ ones
// are 2 KB, and /slow/ ones wait for the test.
type cacheUpstream struct {
	*Upstream
	mu      sync.Mutex
	counts  map[string]int
	release chan struct{}
}

func startCacheUpstream(t *testing.T) *cacheUpstream {
	cu := &cacheUpstream{counts: map[string]int{}, release: make(chan struct{})}
	cu.Upstream = StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		cu.mu.Lock()
		cu.counts[r.URL.Path]++
		n := cu.counts[r.URL.Path]
		cu.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/slow/") {
			<-cu.release
		}
		if strings.HasPrefix(r.URL.Path, "/public/") {
			w.Header().Set("Cache-Control", "public, max-age=60")
		}
		if strings.HasPrefix(r.URL.Path, "/fail/") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		pad := ""
		if strings.HasPrefix(r.URL.Path, "/big/") {
			pad = strings.Repeat("x", 2000)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"consumer":%q,"path":%q,"n":%d,"pad":%q}`, r.Header.Get("X-Consumer"), r.URL.Path, n, pad)
	})
	return cu
}

func (cu *cacheUpstream) count(path string) int {
	cu.mu.Lock()
	defer cu.mu.Unlock()
	return cu.counts[path]
}

func startCacheGateway(t *testing.T) (*Gateway, *cacheUpstream, map[string]string, map[string]string) {
	up := startCacheUpstream(t)
	g := StartGateway(t, cacheSite, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	alice := g.CreateKey(map[string]any{"consumer": "alice", "scopes": []string{"orders:read"}})
	bob := g.CreateKey(map[string]any{"consumer": "bob", "scopes": []string{"orders:read"}})
	return g, up, map[string]string{"X-API-Key": alice.Key}, map[string]string{"X-API-Key": bob.Key}
}

// cached polls until a GET of path is a hit (ristretto applies writes
// asynchronously) and returns its body.
func cached(t *testing.T, g *Gateway, path string, headers map[string]string) string {
	t.Helper()
	var body string
	Eventually(t, 10*time.Second, "a hit for "+path, func() bool {
		status, h, b := g.Do("GET", path, headers, "")
		body = b
		return status == 200 && strings.Contains(h.Get("Cache-Status"), "hit")
	})
	return body
}

func consumerOf(t *testing.T, body string) string {
	t.Helper()
	var v struct {
		Consumer string `json:"consumer"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return v.Consumer
}

func TestCacheEndToEnd(t *testing.T) {
	g, up, alice, bob := startCacheGateway(t)

	status, h, body := g.Do("GET", "/orders/1", alice, "")
	if status != 200 || consumerOf(t, body) != "alice" || !strings.HasPrefix(h.Get("Cache-Status"), "apigate; fwd=uri-miss") {
		t.Fatalf("first: %d %q %s", status, h.Get("Cache-Status"), body)
	}
	if got := cached(t, g, "/orders/1", alice); consumerOf(t, got) != "alice" {
		t.Fatalf("alice's hit: %s", got)
	}
	// Bob asks for the same URL: his own answer, from the upstream.
	status, h, body = g.Do("GET", "/orders/1", bob, "")
	if status != 200 || consumerOf(t, body) != "bob" || strings.Contains(h.Get("Cache-Status"), "hit") {
		t.Fatalf("bob: %q %s", h.Get("Cache-Status"), body)
	}
	if got := cached(t, g, "/orders/1", bob); consumerOf(t, got) != "bob" {
		t.Fatalf("bob's hit: %s", got)
	}
	// A request without a key never reaches the cache.
	if status, _, _ := g.Do("GET", "/orders/1", nil, ""); status != 401 {
		t.Fatalf("no key: %d", status)
	}

	// HEAD from the GET entry.
	req, _ := http.NewRequest("HEAD", g.URL("/orders/1"), nil)
	req.Header.Set("X-API-Key", alice["X-API-Key"])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Cache-Status"), "hit") || resp.Header.Get("Content-Length") == "" {
		t.Fatalf("HEAD: %q", resp.Header.Get("Cache-Status"))
	}

	// Public answers are shared (share public).
	g.Do("GET", "/public/catalog", alice, "")
	cached(t, g, "/public/catalog", alice) // stored (ristretto writes asynchronously)
	n := up.count("/public/catalog")
	_, h, body = g.Do("GET", "/public/catalog", bob, "")
	if !strings.Contains(h.Get("Cache-Status"), "hit") || consumerOf(t, body) != "alice" || up.count("/public/catalog") != n {
		t.Fatalf("public answer not shared: %q %s", h.Get("Cache-Status"), body)
	}

	// An unsafe method invalidates the path for every consumer.
	before := up.count("/orders/1")
	status, h, _ = g.Do("POST", "/orders/1", alice, `{}`)
	if status != 200 || h.Get("Cache-Status") != "apigate; fwd=method" {
		t.Fatalf("POST: %d %q", status, h.Get("Cache-Status"))
	}
	for _, who := range []map[string]string{alice, bob} {
		_, h, _ := g.Do("GET", "/orders/1", who, "")
		if strings.Contains(h.Get("Cache-Status"), "hit") {
			t.Fatalf("served after POST: %q", h.Get("Cache-Status"))
		}
	}
	if up.count("/orders/1") != before+3 { // the POST and two GETs
		t.Fatalf("upstream saw %d requests, want %d", up.count("/orders/1"), before+3)
	}

	// Errors are not stored.
	for i := 0; i < 2; i++ {
		status, h, _ := g.Do("GET", "/fail/x", alice, "")
		if status != 503 || h.Get("Cache-Status") == "" {
			t.Fatalf("failing upstream: %d %q", status, h.Get("Cache-Status"))
		}
	}
	if up.count("/fail/x") != 2 {
		t.Fatalf("a 503 was cached")
	}

	// The anonymous partition.
	g.Do("GET", "/open/a", nil, "")
	if got := cached(t, g, "/open/a", nil); consumerOf(t, got) != "" {
		t.Fatalf("open: %s", got)
	}
}

func TestCacheConsumersNeverMixUnderConcurrency(t *testing.T) {
	g, _, alice, bob := startCacheGateway(t)
	var wg sync.WaitGroup
	var wrong, failed atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				who, name := alice, "alice"
				if (w+i)%2 == 1 {
					who, name = bob, "bob"
				}
				path := fmt.Sprintf("/orders/%d", i%4)
				status, _, body := do(t, "GET", g.URL(path), who, "")
				if status != 200 {
					failed.Add(1)
					continue
				}
				var v struct{ Consumer string }
				if json.Unmarshal([]byte(body), &v) != nil || v.Consumer != name {
					wrong.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	if wrong.Load() != 0 || failed.Load() != 0 {
		t.Fatalf("%d answers for the wrong consumer, %d failures", wrong.Load(), failed.Load())
	}
}

// metric reads one sample of Caddy's /metrics.
func metric(t *testing.T, g *Gateway, name string) float64 {
	t.Helper()
	status, data := g.AdminDo("GET", "/metrics", nil)
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

func TestCacheCoalescesConcurrentMisses(t *testing.T) {
	g, up, alice, _ := startCacheGateway(t)
	const n = 12
	misses := metric(t, g, "caddy_apigate_cache_misses_total")
	var wg sync.WaitGroup
	bodies := make([]string, n)
	statuses := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, h, body := do(t, "GET", g.URL("/slow/report"), alice, "")
			bodies[i], statuses[i] = body, h.Get("Cache-Status")
		}(i)
	}
	// Every request has missed (and so joined the one upstream request)
	// before the upstream answers.
	Eventually(t, 20*time.Second, "all requests waiting", func() bool {
		return metric(t, g, "caddy_apigate_cache_misses_total") >= misses+n
	})
	close(up.release)
	wg.Wait()
	if c := up.count("/slow/report"); c != 1 {
		t.Fatalf("%d upstream requests for %d concurrent misses", c, n)
	}
	collapsed := 0
	for i := range bodies {
		if bodies[i] != bodies[0] || consumerOf(t, bodies[i]) != "alice" {
			t.Fatalf("answer %d: %s", i, bodies[i])
		}
		if strings.Contains(statuses[i], "collapsed") {
			collapsed++
		}
	}
	if collapsed != n-1 {
		t.Fatalf("%d collapsed answers, want %d: %q", collapsed, n-1, statuses)
	}
}

func TestCachePurgeAdminAndCLI(t *testing.T) {
	g, up, alice, _ := startCacheGateway(t)
	for _, p := range []string{"/orders/a", "/orders/b"} {
		g.Do("GET", p, alice, "")
		cached(t, g, p, alice)
	}
	status, data := g.AdminDo("DELETE", "/api_gateway/cache?path=/orders/a", nil)
	if status != 200 || !strings.Contains(string(data), `"purged": "/orders/a"`) {
		t.Fatalf("purge path: %d %s", status, data)
	}
	if _, h, _ := g.Do("GET", "/orders/a", alice, ""); strings.Contains(h.Get("Cache-Status"), "hit") {
		t.Fatal("/orders/a served after its purge")
	}
	if _, h, _ := g.Do("GET", "/orders/b", alice, ""); !strings.Contains(h.Get("Cache-Status"), "hit") {
		t.Fatal("/orders/b lost by purging /orders/a")
	}
	out, err := exec.Command(binary(t), "api-cache", "purge", "--address", g.Admin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "purged all") {
		t.Fatalf("CLI purge: %v %s", err, out)
	}
	if _, h, _ := g.Do("GET", "/orders/b", alice, ""); strings.Contains(h.Get("Cache-Status"), "hit") {
		t.Fatal("/orders/b served after purging all")
	}
	out, err = exec.Command(binary(t), "api-cache", "purge", "--path", "/orders/b", "--address", g.Admin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "purged /orders/b") {
		t.Fatalf("CLI purge --path: %v %s", err, out)
	}
	for _, bad := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api_gateway/cache", 405},
		{"DELETE", "/api_gateway/cache?path=relative", 400},
		{"DELETE", "/api_gateway/cache?path=/a%00b", 400},
		{"DELETE", "/api_gateway/cache?path=/a&path=/b", 400},
		{"DELETE", "/api_gateway/cache?what=1", 400},
		{"DELETE", "/api_gateway/cache?%zz", 400},
	} {
		if status, data := g.AdminDo(bad.method, bad.path, nil); status != bad.want {
			t.Errorf("%s %s: %d %s, want %d", bad.method, bad.path, status, data, bad.want)
		}
	}
	_ = up
}

func TestCacheMemoryBoundedUnderFlood(t *testing.T) {
	g, _, alice, _ := startCacheGateway(t)
	const maxSize = 200_000 // max_size 200KB
	for i := 0; i < 600; i++ {
		status, _, _ := g.Do("GET", fmt.Sprintf("/big/%d", i), alice, "")
		if status != 200 {
			t.Fatalf("request %d: %d", i, status)
		}
		if i%100 == 99 {
			if b := metric(t, g, "caddy_apigate_cache_bytes"); b > maxSize {
				t.Fatalf("after %d distinct URLs: %.0f bytes cached, max_size %d", i+1, b, maxSize)
			}
		}
	}
	if metric(t, g, "caddy_apigate_cache_stored_total") == 0 {
		t.Fatal("nothing was stored")
	}
	// Past max_size, ristretto either evicts or (TinyLFU) refuses newcomers
	// requested once.
	Eventually(t, 10*time.Second, "evictions or rejections counted", func() bool {
		return metric(t, g, "caddy_apigate_cache_evictions_total")+metric(t, g, "caddy_apigate_cache_rejections_total") > 0
	})
	if b := metric(t, g, "caddy_apigate_cache_bytes"); b > maxSize || b == 0 {
		t.Fatalf("%.0f bytes cached, max_size %d", b, maxSize)
	}
}

func TestCacheSurvivesReload(t *testing.T) {
	g, up, alice, _ := startCacheGateway(t)
	g.Do("GET", "/orders/r", alice, "")
	cached(t, g, "/orders/r", alice)
	n := up.count("/orders/r")
	// Reload the same config (as `caddy reload` does).
	req, _ := http.NewRequest("POST", "http://"+g.Admin+"/load", strings.NewReader(g.config))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate") // force a reload of an unchanged config
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d", resp.StatusCode)
	}
	// The reload closes idle connections: ask on a fresh one.
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var status string
	Eventually(t, 10*time.Second, "an answer after the reload", func() bool {
		req, _ := http.NewRequest("GET", g.URL("/orders/r"), nil)
		req.Header.Set("X-API-Key", alice["X-API-Key"])
		resp, err := fresh.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		status = resp.Header.Get("Cache-Status")
		return resp.StatusCode == 200
	})
	if !strings.Contains(status, "hit") {
		t.Fatalf("cache lost on reload: %q", status)
	}
	if up.count("/orders/r") != n {
		t.Fatalf("upstream saw %d requests", up.count("/orders/r"))
	}
	if metric(t, g, "caddy_apigate_cache_hits_total") == 0 {
		t.Fatal("hit metric lost on reload")
	}
}

// The cache cannot leak whatever the order: a cache placed where api_auth
// has not run yet stores no answer for an identified caller, and a request
// with a credential gets nothing from, and leaves nothing in, the anonymous
// partition.

// notStored fails when a response says it was stored or served from memory.
func notStored(t *testing.T, what string, status int, h http.Header, body string) {
	t.Helper()
	if cs := h.Get("Cache-Status"); strings.Contains(cs, "stored") || strings.Contains(cs, "hit") || strings.Contains(cs, "collapsed") {
		t.Fatalf("%s: %d, Cache-Status %q: %s", what, status, cs, body)
	}
}

// neverServed asks for path as callers who must not get what was fetched
// before, for long enough that an asynchronous write would have landed, and
// fails on any answer from memory or from the upstream for someone else.
func neverServed(t *testing.T, g *Gateway, path string, callers map[string]map[string]string, want map[string]int) {
	t.Helper()
	for round := 0; round < 5; round++ {
		for name, headers := range callers {
			status, h, body := g.Do("GET", path, headers, "")
			if strings.Contains(h.Get("Cache-Status"), "hit") || status != want[name] {
				t.Fatalf("%s, round %d: %d %q %s", name, round, status, h.Get("Cache-Status"), body)
			}
			if status == 200 && consumerOf(t, body) != strings.TrimPrefix(name, "as ") {
				t.Fatalf("%s got someone else's answer: %s", name, body)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCacheBeforeAuthInRoute(t *testing.T) {
	up := startCacheUpstream(t)
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	# Written first in a route, api_cache runs first.
	route /orders/* {
		api_cache {
			ttl 30s
		}
		api_auth
		reverse_proxy {UPSTREAM} {
			header_up X-Consumer {http.auth.user.id}
		}
	}
	# The order the README recommends.
	route /good/* {
		api_auth
		api_cache {
			ttl 30s
		}
		reverse_proxy {UPSTREAM} {
			header_up X-Consumer {http.auth.user.id}
		}
	}
}
`, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	alice := map[string]string{"X-API-Key": g.CreateKey(map[string]any{"consumer": "alice"}).Key}
	bob := map[string]string{"X-API-Key": g.CreateKey(map[string]any{"consumer": "bob"}).Key}
	bearer := map[string]string{"Authorization": "Bearer " + alice["X-API-Key"]}

	for i := 0; i < 3; i++ {
		for what, who := range map[string]map[string]string{"alice": alice, "alice's bearer key": bearer} {
			status, h, body := g.Do("GET", "/orders/1", who, "")
			if status != 200 || consumerOf(t, body) != "alice" || !strings.Contains(h.Get("Cache-Status"), "fwd=bypass") {
				t.Fatalf("%s %d: %d %q %s", what, i, status, h.Get("Cache-Status"), body)
			}
		}
	}
	neverServed(t, g, "/orders/1", map[string]map[string]string{
		"no key":      nil,
		"garbage key": {"X-API-Key": "apigate_garbage"},
		"as bob":      bob,
	}, map[string]int{"no key": 401, "garbage key": 401, "as bob": 200})

	// The recommended order caches per consumer.
	g.Do("GET", "/good/1", alice, "")
	if got := cached(t, g, "/good/1", alice); consumerOf(t, got) != "alice" {
		t.Fatalf("alice's hit: %s", got)
	}
	if status, h, body := g.Do("GET", "/good/1", bob, ""); status != 200 || consumerOf(t, body) != "bob" || strings.Contains(h.Get("Cache-Status"), "hit") {
		t.Fatalf("bob: %d %q %s", status, h.Get("Cache-Status"), body)
	}
	if status, _, _ := g.Do("GET", "/good/1", nil, ""); status != 401 {
		t.Fatalf("no key on the recommended route: %d", status)
	}
}

func TestCacheSiteLevelAuthInHandle(t *testing.T) {
	up := startCacheUpstream(t)
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	# Caddy runs site-level api_cache before any handle.
	api_cache {
		ttl 30s
	}
	handle /orders/* {
		api_auth
		reverse_proxy {UPSTREAM} {
			header_up X-Consumer {http.auth.user.id}
		}
	}
	handle {
		reverse_proxy {UPSTREAM}
	}
}
`, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	alice := map[string]string{"X-API-Key": g.CreateKey(map[string]any{"consumer": "alice"}).Key}
	bob := map[string]string{"X-API-Key": g.CreateKey(map[string]any{"consumer": "bob"}).Key}

	for i := 0; i < 3; i++ {
		status, h, body := g.Do("GET", "/orders/1", alice, "")
		if status != 200 || consumerOf(t, body) != "alice" {
			t.Fatalf("alice %d: %d %q %s", i, status, h.Get("Cache-Status"), body)
		}
		notStored(t, "alice", status, h, body)
	}
	neverServed(t, g, "/orders/1", map[string]map[string]string{
		"no key":      nil,
		"garbage key": {"X-API-Key": "apigate_garbage"},
		"as bob":      bob,
	}, map[string]int{"no key": 401, "garbage key": 401, "as bob": 200})

	// Anonymous answers outside the handle are still cached.
	g.Do("GET", "/open/a", nil, "")
	if got := cached(t, g, "/open/a", nil); consumerOf(t, got) != "" {
		t.Fatalf("open: %s", got)
	}
}

// TestCacheWithoutAuthCredentialsBypass: on a site with no api_auth, a
// request carrying a credential (Authorization, X-API-Key, or a key header or
// parameter another site's api_auth reads) may get a personal answer from an
// upstream that checks it: it never reaches the anonymous partition.
func TestCacheWithoutAuthCredentialsBypass(t *testing.T) {
	up := StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		who := r.Header.Get("Authorization") + r.Header.Get("X-Api-Key") + r.Header.Get("X-Partner-Token") + r.URL.Query().Get("partner_token")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"consumer":%q}`, who)
	})
	port2 := freePort(t)
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	api_cache {
		ttl 30s
	}
	reverse_proxy {UPSTREAM}
}

http://127.0.0.1:{PORT2} {
	api_auth {
		api_key {
			header X-Partner-Token
			query partner_token
		}
	}
	reverse_proxy {UPSTREAM}
}
`, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{PORT2}", fmt.Sprint(port2))

	for _, tc := range []struct {
		path    string
		headers map[string]string
	}{
		{"/me", map[string]string{"X-API-Key": "alice-key"}},
		{"/me", map[string]string{"Authorization": "Bearer alice-token"}},
		{"/me", map[string]string{"Authorization": "Basic YWxpY2U6cHc="}},
		{"/me", map[string]string{"X-Partner-Token": "alice-partner"}},
		{"/me?partner_token=alice-partner", nil},
		{"/me?api_key=alice-key", nil},
	} {
		for i := 0; i < 2; i++ {
			status, h, body := g.Do("GET", tc.path, tc.headers, "")
			if status != 200 || !strings.Contains(h.Get("Cache-Status"), "fwd=bypass") {
				t.Fatalf("%s %v: %d %q %s", tc.path, tc.headers, status, h.Get("Cache-Status"), body)
			}
		}
	}
	// Anonymous callers get the anonymous answer, cached.
	g.Do("GET", "/me", nil, "")
	if got := cached(t, g, "/me", nil); consumerOf(t, got) != "" {
		t.Fatalf("anonymous caller got %s", got)
	}
}

// TestCacheBeforeClientCertAuth: a client certificate is no header the cache
// can see; api_auth after the cache identifies its holder, and that answer is
// not stored, so a caller without a certificate never gets it.
func TestCacheBeforeClientCertAuth(t *testing.T) {
	ca := newTestCA(t, "apigate test CA")
	_, srvCert, srvKey := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	bot, _, _ := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ci-bot"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	dir := t.TempDir()
	for name, data := range map[string][]byte{"ca.pem": ca.pem, "server.pem": srvCert, "server.key": srvKey} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	up := startCacheUpstream(t)
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
}

https://localhost:{PORT} {
	bind 127.0.0.1
	tls {CERTS}/server.pem {CERTS}/server.key {
		client_auth {
			mode verify_if_given
			trust_pool file {CERTS}/ca.pem
		}
	}
	route {
		api_cache {
			ttl 30s
		}
		api_auth {
			client_cert
		}
		reverse_proxy {UPSTREAM} {
			header_up X-Consumer {http.auth.user.id}
		}
	}
}
`, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{CERTS}", dir)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	get := func(certs ...tls.Certificate) (int, http.Header, string) {
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: certs},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", g.Port))
			},
		}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(fmt.Sprintf("https://localhost:%d/orders/1", g.Port))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for i := 0; i < 3; i++ {
		status, h, body := get(bot)
		if status != 200 || consumerOf(t, body) != "ci-bot" || !strings.Contains(h.Get("Cache-Status"), "detail=identity-after-cache") {
			t.Fatalf("ci-bot %d: %d %q %s", i, status, h.Get("Cache-Status"), body)
		}
		notStored(t, "ci-bot", status, h, body)
	}
	for i := 0; i < 5; i++ {
		if status, h, body := get(); status != 401 {
			t.Fatalf("no certificate, round %d: %d %q %s", i, status, h.Get("Cache-Status"), body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(g.Output(), "api_cache runs before api_auth") {
		t.Fatal("no warning logged for api_cache before api_auth")
	}
	if n := metric(t, g, `caddy_apigate_cache_requests_total{reason="identity_after_cache"}`); n < 3 {
		t.Fatalf("identity_after_cache counted %v times", n)
	}
}
