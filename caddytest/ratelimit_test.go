package caddytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rateSite is a gateway whose routes are limited per consumer (shorthand) and
// per client address.
const rateSite = `{
	{ADMIN_OPTIONS}
	log {
		level DEBUG
		output file {DIR}/caddy.log
	}
	metrics
}

http://127.0.0.1:{PORT} {
	handle /keyed/* {
		api_auth
		api_rate_limit 5/1m
		reverse_proxy {UPSTREAM}
	}
	handle {
		api_rate_limit {RATE}
		respond "ok {PHASE}"
	}
}
`

func TestRateLimitShorthandEndToEnd(t *testing.T) {
	up := StartUpstream(t, nil)
	g := StartGateway(t, rateSite, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{RATE}", "3/1h", "{PHASE}", "1")
	k1 := g.CreateKey(map[string]any{"consumer": "shop"})
	k2 := g.CreateKey(map[string]any{"consumer": "billing"})
	for i := 0; i < 5; i++ {
		status, h, body := g.Do("GET", "/keyed/orders", map[string]string{"X-API-Key": k1.Key}, "")
		if status != 200 {
			t.Fatalf("request %d: %d %s", i+1, status, body)
		}
		if got, want := h.Get("RateLimit-Policy"), `"default";q=5;w=60`; got != want {
			t.Fatalf("RateLimit-Policy %q, want %q", got, want)
		}
		// t is the time until the bucket is full: 12s per request made.
		r, reset := rateLimitState(t, h.Get("RateLimit"), "default")
		if r != 4-i || reset > 12*(i+1) || reset < 12*(i+1)-2 {
			t.Fatalf("request %d: RateLimit %q, want r=%d;t=%d", i+1, h.Get("RateLimit"), 4-i, 12*(i+1))
		}
	}
	status, h, body := g.Do("GET", "/keyed/orders", map[string]string{"X-API-Key": k1.Key}, "")
	if status != http.StatusTooManyRequests {
		t.Fatalf("sixth request: %d %s", status, body)
	}
	if h.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, `"status":429`) {
		t.Fatalf("429 answer: %v %s", h, body)
	}
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 || ra > 12 {
		t.Fatalf("Retry-After %q", h.Get("Retry-After"))
	}
	if h.Get("RateLimit") == "" || h.Get("RateLimit-Policy") == "" {
		t.Fatal("the 429 has no RateLimit headers")
	}
	if n := len(up.Requests()); n != 5 {
		t.Fatalf("upstream saw %d requests, want 5", n)
	}
	// Another consumer from the same address has its own bucket.
	if status, _, _ := g.Do("GET", "/keyed/orders", map[string]string{"X-API-Key": k2.Key}, ""); status != 200 {
		t.Fatalf("second consumer: %d", status)
	}

	// The metric counts the rejection by zone, with no key or address.
	status, data := g.AdminDo("GET", "/metrics", nil)
	if status != 200 {
		t.Fatalf("metrics: %d", status)
	}
	if !regexp.MustCompile(`caddy_apigate_rate_limit_rejected_total\{zone="default"\} 1\b`).Match(data) {
		t.Fatalf("no rejection metric:\n%s", grepLines(string(data), "apigate"))
	}
	if strings.Contains(string(data), k1.ID) || strings.Contains(grepLines(string(data), "apigate"), "127.0.0.1") {
		t.Fatal("a metric holds a key id or an address")
	}
	// The Caddy event was emitted, without the key.
	Eventually(t, 5*time.Second, "rate_limit.rejected event in the log", func() bool {
		return strings.Contains(readFile(filepath.Join(g.Dir, "caddy.log")), "rate_limit.rejected")
	})
	for _, line := range strings.Split(readFile(filepath.Join(g.Dir, "caddy.log")), "\n") {
		if strings.Contains(line, "rate_limit.rejected") && (strings.Contains(line, "shop") || strings.Contains(line, k1.ID)) {
			t.Fatalf("the event holds the key: %s", line)
		}
	}
}

// rateLimitState parses the item of zone in a RateLimit header.
func rateLimitState(t *testing.T, header, zone string) (r, reset int) {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(strconv.Quote(zone)) + `;r=(\d+);t=(\d+)`).FindStringSubmatch(header)
	if m == nil {
		t.Fatalf("RateLimit %q has no item for zone %s", header, zone)
	}
	r, _ = strconv.Atoi(m[1])
	reset, _ = strconv.Atoi(m[2])
	return r, reset
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// loadCaddyfile replaces the gateway's config through the admin API, as
// `caddy reload` does.
func (g *Gateway) loadCaddyfile(config string) {
	g.t.Helper()
	req, err := http.NewRequest("POST", "http://"+g.Admin+"/load", strings.NewReader(config))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := client.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		g.t.Fatalf("POST /load: %d %s", resp.StatusCode, body)
	}
	// The old servers close their connections: do not reuse one.
	client.CloseIdleConnections()
}

func TestRateLimitSurvivesReload(t *testing.T) {
	up := StartUpstream(t, nil)
	g := StartGateway(t, rateSite, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{RATE}", "3/1h", "{PHASE}", "1")
	for i := 0; i < 3; i++ {
		if status, _, body := g.Do("GET", "/", nil, ""); status != 200 {
			t.Fatalf("request %d: %d %s", i+1, status, body)
		}
	}
	if status, _, _ := g.Do("GET", "/", nil, ""); status != 429 {
		t.Fatalf("fourth request: %d", status)
	}
	// A reload that changes something else keeps the client limited.
	g.loadCaddyfile(strings.Replace(g.config, `respond "ok 1"`, `respond "ok 2"`, 1))
	Eventually(t, 10*time.Second, "the new config", func() bool {
		status, _, body, err := tryGet(g.URL("/"))
		if err != nil {
			return false
		}
		if status == 200 {
			t.Fatalf("a reload reset the bucket: %s", body)
		}
		return status == 429 && g.configHas("ok 2")
	})
	// A reload that changes the limit applies to the existing bucket: 3 used
	// at 20m each is a TAT an hour ahead; with a burst of 10 that leaves 7.
	g.loadCaddyfile(strings.Replace(g.config, "api_rate_limit 3/1h", "api_rate_limit 3/1h 10", 1))
	Eventually(t, 10*time.Second, "the raised burst", func() bool {
		status, h, _, err := tryGet(g.URL("/"))
		if err != nil || status != 200 {
			return false
		}
		if r, reset := rateLimitState(t, h.Get("RateLimit"), "default"); r != 6 || reset > 4800 || reset < 4700 {
			t.Fatalf("first request after the raised burst: RateLimit %q, want r=6;t=4800", h.Get("RateLimit"))
		}
		return true
	})
	n := 1
	for ; n < 20; n++ {
		if status, _, _ := g.Do("GET", "/", nil, ""); status != 200 {
			break
		}
	}
	if n != 7 {
		t.Fatalf("%d requests allowed after raising the burst to 10, want 7", n)
	}
	// The metrics survived the reloads and count on.
	_, data := g.AdminDo("GET", "/metrics", nil)
	if !regexp.MustCompile(`caddy_apigate_rate_limit_rejected_total\{zone="default"\} [2-9]`).Match(data) {
		t.Fatalf("rejections not counted across reloads:\n%s", grepLines(string(data), "apigate"))
	}
}

// tryGet is a GET that returns transport errors: a connection accepted by
// the old servers while a reload stops them is closed unanswered.
func tryGet(url string) (int, http.Header, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		client.CloseIdleConnections()
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body), err
}

// configHas reports whether the running config (as JSON) contains s.
func (g *Gateway) configHas(s string) bool {
	status, data := g.AdminDo("GET", "/config/", nil)
	return status == 200 && strings.Contains(string(data), s)
}

func TestRateLimitFloodOfDistinctKeys(t *testing.T) {
	site := `{
	{ADMIN_OPTIONS}
	metrics
}

http://127.0.0.1:{PORT} {
	api_rate_limit {
		zone per_tenant {
			key {header.X-Tenant}
			rate 3/1h
		}
		max_keys 1000
	}
	respond ok
}
`
	g := StartGateway(t, site, GatewayOptions{})
	victim := map[string]string{"X-Tenant": "victim"}
	for i := 0; i < 3; i++ {
		g.Do("GET", "/", victim, "")
	}
	if status, _, _ := g.Do("GET", "/", victim, ""); status != 429 {
		t.Fatalf("victim not limited: %d", status)
	}
	heap := func() float64 {
		_, data := g.AdminDo("GET", "/metrics", nil)
		m := regexp.MustCompile(`(?m)^go_memstats_heap_inuse_bytes ([0-9.e+]+)$`).FindSubmatch(data)
		if m == nil {
			return 0
		}
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		return f
	}
	before := heap()
	// A bounded flood: 5000 distinct keys, five times the bound.
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
		if status, _, _ := g.Do("GET", "/", map[string]string{"X-Tenant": "flood-" + strconv.Itoa(i)}, ""); status != 200 {
			t.Fatalf("flood key %d: %d", i, status)
		}
	}
	t.Logf("heap in use: %.1f MiB before the flood, %.1f MiB after", before/(1<<20), heap()/(1<<20))
	// Eviction takes the entries nearest to expiry, never the most indebted:
	// the flood does not free the limited client.
	if status, _, _ := g.Do("GET", "/", victim, ""); status != 429 {
		t.Fatalf("the flood freed a limited client: %d", status)
	}
}

// auditedRateSite limits /limited/* to one request an hour per client address,
// in the mode {MODE}, behind api_inspect's audit; /a and /b each have a
// shorthand limit of their own.
const auditedRateSite = `{
	{ADMIN_OPTIONS}
	log default {
		level DEBUG
		output file {DIR}/caddy.log
		exclude http.handlers.api_inspect.audit
	}
	log audit {
		output file {DIR}/audit.log
		format json
		include http.handlers.api_inspect.audit
	}
	metrics
}

http://127.0.0.1:{PORT} {
	api_inspect {
		audit
	}
	handle /limited/* {
		api_rate_limit 1/1h {
			mode {MODE}
		}
		respond "limited {PHASE}"
	}
	handle /a {
		api_rate_limit 2/1h
		respond "a"
	}
	handle /b {
		api_rate_limit 2/1h
		respond "b"
	}
}
`

func TestRateLimitRejectionIsAudited(t *testing.T) {
	g := StartGateway(t, auditedRateSite, GatewayOptions{}, "{MODE}", "enforce", "{PHASE}", "1")
	if status, _, body := g.Do("GET", "/limited/first", nil, ""); status != 200 {
		t.Fatalf("first request: %d %s", status, body)
	}
	status, h, body := g.Do("GET", "/limited/second", nil, "")
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" || h.Get("RateLimit-Policy") == "" {
		t.Fatalf("second request: %d %v %s", status, h, body)
	}
	var rec map[string]any
	Eventually(t, 10*time.Second, "the audit record of the 429", func() bool {
		rec = findAudit(auditRecords(t, g), "/limited/second")
		return rec != nil
	})
	for k, want := range map[string]any{"status": 429, "decision": "rejected", "handler": "api_rate_limit", "reason": "limited"} {
		if fmt.Sprint(rec[k]) != fmt.Sprint(want) {
			t.Errorf("audit %s = %v, want %v (record %v)", k, rec[k], want, rec)
		}
	}
	if r := findAudit(auditRecords(t, g), "/limited/first"); r == nil || r["decision"] != "allowed" {
		t.Errorf("audit record of the allowed request: %v", r)
	}
	if v, ok := metricValue(t, g, "caddy_apigate_rejections_total", `handler="api_rate_limit"`, `reason="limited"`); !ok || v != 1 {
		t.Errorf("rejections_total{handler=api_rate_limit,reason=limited} = %v (%v), want 1", v, ok)
	}
	if v, ok := metricValue(t, g, "caddy_apigate_rate_limit_rejected_total", `zone="default"`); !ok || v != 1 {
		t.Errorf("rate_limit_rejected_total{zone=default} = %v (%v), want 1", v, ok)
	}
	Eventually(t, 5*time.Second, "rate_limit.rejected event in the log", func() bool {
		return strings.Contains(readFile(filepath.Join(g.Dir, "caddy.log")), "rate_limit.rejected")
	})
}

func TestRateLimitReportMode(t *testing.T) {
	g := StartGateway(t, auditedRateSite, GatewayOptions{}, "{MODE}", "report", "{PHASE}", "1")
	for i := range 3 {
		status, h, body := g.Do("GET", "/limited/"+strconv.Itoa(i), nil, "")
		if status != 200 || body != "limited 1" {
			t.Fatalf("request %d in report mode: %d %s", i+1, status, body)
		}
		if h.Get("Retry-After") != "" {
			t.Fatalf("request %d: Retry-After %q in report mode", i+1, h.Get("Retry-After"))
		}
		if h.Get("RateLimit-Policy") != `"default";q=1;w=3600` || h.Get("RateLimit") == "" {
			t.Fatalf("request %d: RateLimit headers %v", i+1, h)
		}
	}
	if v, ok := metricValue(t, g, "caddy_apigate_decisions_total", `handler="api_rate_limit"`, `outcome="report"`); !ok || v != 2 {
		t.Errorf("decisions_total{handler=api_rate_limit,outcome=report} = %v (%v), want 2", v, ok)
	}
	if v, ok := metricValue(t, g, "caddy_apigate_rejections_total", `handler="api_rate_limit"`); ok && v != 0 {
		t.Errorf("report mode counted %v rejections", v)
	}
	Eventually(t, 5*time.Second, "the report mode log line", func() bool {
		for _, line := range strings.Split(readFile(filepath.Join(g.Dir, "caddy.log")), "\n") {
			if strings.Contains(line, "would be rejected") && strings.Contains(line, `"handler":"api_rate_limit"`) && strings.Contains(line, `"reason":"limited"`) {
				return true
			}
		}
		return false
	})
	if strings.Contains(readFile(filepath.Join(g.Dir, "caddy.log")), "rate_limit.rejected") {
		t.Error("report mode emitted rate_limit.rejected")
	}
	var recs []map[string]any
	Eventually(t, 10*time.Second, "the audit records", func() bool {
		recs = auditRecords(t, g)
		return findAudit(recs, "/limited/2") != nil
	})
	if r := findAudit(recs, "/limited/2"); r["decision"] != "allowed" || fmt.Sprint(r["status"]) != "200" {
		t.Errorf("audit record of a request passed in report mode: %v", r)
	}
}

// The audit record of a request passed in report mode names the refusal it
// would have had (the would_reject field of api_inspect's audit record).
func TestRateLimitReportModeAudit(t *testing.T) {
	g := StartGateway(t, auditedRateSite, GatewayOptions{}, "{MODE}", "report", "{PHASE}", "1")
	g.Do("GET", "/limited/first", nil, "")
	if status, _, _ := g.Do("GET", "/limited/second", nil, ""); status != 200 {
		t.Fatalf("report mode: %d", status)
	}
	var rec map[string]any
	Eventually(t, 10*time.Second, "the audit record", func() bool {
		rec = findAudit(auditRecords(t, g), "/limited/second")
		return rec != nil
	})
	wr, _ := json.Marshal(rec["would_reject"])
	if rec["would_reject"] == nil || !strings.Contains(string(wr), "api_rate_limit") || !strings.Contains(string(wr), "limited") {
		t.Errorf("audit record has would_reject %s, want api_rate_limit/limited (record %v)", wr, rec)
	}
	if r := findAudit(auditRecords(t, g), "/limited/first"); r != nil && r["would_reject"] != nil {
		if b, _ := json.Marshal(r["would_reject"]); strings.Contains(string(b), "api_rate_limit") {
			t.Errorf("the request within the limit has would_reject %s", b)
		}
	}
}

// Two shorthand limits on two routes count separately, and each keeps its
// count across a reload.
func TestRateLimitShorthandsCountSeparately(t *testing.T) {
	g := StartGateway(t, auditedRateSite, GatewayOptions{}, "{MODE}", "enforce", "{PHASE}", "1")
	for _, path := range []string{"/a", "/b"} {
		for i := range 2 {
			if status, _, body := g.Do("GET", path, nil, ""); status != 200 {
				t.Fatalf("%s request %d: %d %s (the other route's requests counted here?)", path, i+1, status, body)
			}
		}
		if status, _, _ := g.Do("GET", path, nil, ""); status != http.StatusTooManyRequests {
			t.Fatalf("%s third request: %d", path, status)
		}
	}
	g.loadCaddyfile(strings.Replace(g.config, `respond "limited 1"`, `respond "limited 2"`, 1))
	Eventually(t, 10*time.Second, "the new config", func() bool { return g.configHas("limited 2") })
	for _, path := range []string{"/a", "/b"} {
		Eventually(t, 10*time.Second, path+" answered by the new config", func() bool {
			status, _, _, err := tryGet(g.URL(path))
			if err != nil {
				return false
			}
			if status != http.StatusTooManyRequests {
				t.Fatalf("%s after the reload: %d, want 429: the reload reset its bucket", path, status)
			}
			return true
		})
	}
}
