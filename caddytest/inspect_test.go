package caddytest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// inspectSite guards an echoing upstream with api_inspect (1 KiB bodies, JSON
// nested 8 deep at most, JSON and forms only, SQLi and XSS blocked, strict
// paths), api_auth on /secure, and a dead upstream on /down. Audit records go
// to their own file through Caddy's logging.
const inspectSite = `{
	{ADMIN_OPTIONS}
	log default {
		output file {DIR}/caddy.log
		exclude http.handlers.api_inspect.audit
	}
	log audit {
		output file {DIR}/audit.log
		format json
		include http.handlers.api_inspect.audit
	}
}

http://127.0.0.1:{PORT} {
	api_inspect {
		max_body 1KiB
		json_depth 8
		content_types application/json application/x-www-form-urlencoded
		block sqli xss
		paths strict
		mask card email
		audit
	}
	handle /secure/* {
		api_auth
		api_authorize orders:read
		reverse_proxy {UPSTREAM}
	}
	handle /down/* {
		reverse_proxy 127.0.0.1:{DEAD}
	}
	handle {
		reverse_proxy {UPSTREAM}
	}
}
`

// maskingUpstream answers some paths with data to mask, and echoes the rest.
func maskingUpstream(t *testing.T) *Upstream {
	return StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cards", "/cards-gz":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("ETag", `"v1"`)
			body := `{"card":"4111 1111 1111 1111","email":"mary@example.com","order":"1700000000000"}`
			if r.URL.Path == "/cards-gz" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				// An upstream that compresses when asked.
				w.Header().Set("Content-Encoding", "gzip")
				zw := gzip.NewWriter(w)
				io.WriteString(zw, body)
				zw.Close()
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			io.WriteString(w, body)
		case "/stream":
			// About 3 MB in many flushed chunks, no Content-Length.
			w.Header().Set("Content-Type", "application/x-ndjson")
			fl := w.(http.Flusher)
			for i := range 30000 {
				fmt.Fprintf(w, `{"n":%d,"card":"5555555555554444","email":"u%d@example.org","pad":"%s"}`+"\n", i, i, strings.Repeat("p", 40))
				if i%500 == 0 {
					fl.Flush()
				}
			}
		case "/binary":
			w.Header().Set("Content-Type", "application/octet-stream")
			io.WriteString(w, "4111111111111111 mary@example.com")
		case "/encoded":
			// A body in a coding the gateway cannot read: refused.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "br")
			io.WriteString(w, "4111111111111111 mary@example.com")
		default:
			w.Header().Set("Content-Type", "application/json")
			body, _ := io.ReadAll(r.Body)
			json.NewEncoder(w).Encode(Received{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Body: string(body)})
		}
	})
}

func startInspectGateway(t *testing.T) (*Gateway, *Upstream) {
	up := maskingUpstream(t)
	g := StartGateway(t, inspectSite, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{DEAD}", strconv.Itoa(freePort(t)))
	return g, up
}

// rawRequest sends bytes on a fresh connection and returns the status of the
// first answer.
func rawRequest(t *testing.T, g *Gateway, req string, closeWrite bool) int {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", g.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		c.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0 // connection closed without an answer
	}
	resp.Body.Close()
	return resp.StatusCode
}

// countPosts counts what the upstream received with a body marker.
func countBodies(up *Upstream, marker string) int {
	n := 0
	for _, r := range up.Requests() {
		if strings.Contains(r.Body, marker) {
			n++
		}
	}
	return n
}

// jsonOfSize returns a JSON document of exactly n bytes holding marker.
func jsonOfSize(n int, marker string) string {
	base := `{"m":"` + marker + `","p":""}`
	return `{"m":"` + marker + `","p":"` + strings.Repeat("x", n-len(base)) + `"}`
}

func doReader(t *testing.T, g *Gateway, method, path, ctype string, body io.Reader, length int64) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.URL(path), body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// onlyReader hides a reader's type, so the client cannot learn the length
// and sends the body chunked.
type onlyReader struct{ io.Reader }

func TestInspectMaxBody(t *testing.T) {
	g, up := startInspectGateway(t)
	for _, c := range []struct {
		size    int
		chunked bool
		want    int
	}{
		{1023, false, 200}, {1024, false, 200}, {1025, false, 413},
		{1023, true, 200}, {1024, true, 200}, {1025, true, 413}, {200_000, true, 413},
	} {
		marker := fmt.Sprintf("size%d-%v", c.size, c.chunked)
		doc := jsonOfSize(c.size, marker)
		var status int
		var body string
		if c.chunked {
			status, body = doReader(t, g, "POST", "/echo", "application/json", onlyReader{strings.NewReader(doc)}, -1)
		} else {
			status, body = doReader(t, g, "POST", "/echo", "application/json", strings.NewReader(doc), int64(len(doc)))
		}
		if status != c.want {
			t.Errorf("%d bytes (chunked %v): status %d, want %d: %.200s", c.size, c.chunked, status, c.want, body)
		}
		seen := countBodies(up, marker)
		if c.want == 413 {
			if seen != 0 {
				t.Errorf("%d bytes (chunked %v): the upstream saw the refused request", c.size, c.chunked)
			}
			if !strings.Contains(body, `"status":413`) || !strings.Contains(body, "larger than") {
				t.Errorf("413 answer is not the problem document: %s", body)
			}
		} else if seen != 1 {
			t.Errorf("%d bytes (chunked %v): the upstream saw it %d times", c.size, c.chunked, seen)
		}
	}

	// A Content-Length over the limit is refused before the body is read.
	if s := rawRequest(t, g, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{", false); s != 413 {
		t.Errorf("announced 5000 bytes: status %d", s)
	}
	// A Content-Length that promises more than is sent: the body cannot be
	// read to its end, and the upstream never sees it.
	if s := rawRequest(t, g, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"lie\":\"short\"}", true); s != 400 && s != 0 {
		t.Errorf("short body: status %d", s)
	}
	// A Content-Length that covers less than is sent: what it covers is
	// checked (and here is malformed), the rest is not this request.
	if s := rawRequest(t, g, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{\"lie\":\"long\"}", false); s != 400 {
		t.Errorf("long body: status %d", s)
	}
	if countBodies(up, "lie") != 0 {
		t.Error("the upstream saw a body with a lying Content-Length")
	}
}

func nestedJSON(depth int) string {
	return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
}

func TestInspectJSON(t *testing.T) {
	g, up := startInspectGateway(t)
	for _, c := range []struct {
		name, body string
		want       int
	}{
		{"depth 7", nestedJSON(7), 200},
		{"depth 8", nestedJSON(8), 200},
		{"depth 9", nestedJSON(9), 400},
		{"malformed", `{"a":1,}`, 400},
		{"truncated", `{"a":[1,2`, 400},
		{"two documents", `{} {}`, 400},
		{"deep beyond any stack", strings.Repeat("[", 1000), 400},
	} {
		status, _, body := g.Do("POST", "/json", map[string]string{"Content-Type": "application/json"}, c.body)
		if status != c.want {
			t.Errorf("%s: status %d, want %d: %s", c.name, status, c.want, body)
		}
		if c.want == 400 && !strings.Contains(body, "JSON") {
			t.Errorf("%s: answer does not say why: %s", c.name, body)
		}
	}
	// Deep JSON sent chunked, far past the depth limit: refused at depth 9,
	// long before max_body.
	status, body := doReader(t, g, "POST", "/json", "application/json", onlyReader{strings.NewReader(strings.Repeat("[", 900))}, -1)
	if status != 400 || !strings.Contains(body, "nested deeper") {
		t.Errorf("chunked deep JSON: %d %s", status, body)
	}
	for _, r := range up.Requests() {
		if strings.HasPrefix(r.Body, "[[[[[[[[[") || strings.Contains(r.Body, ",}") {
			t.Errorf("the upstream saw a refused body: %.50s", r.Body)
		}
	}
}

func TestInspectContentTypes(t *testing.T) {
	g, _ := startInspectGateway(t)
	for _, c := range []struct {
		ctype, body string
		want        int
	}{
		{"application/json", `{"a":1}`, 200},
		{"application/json; charset=utf-8", `{"a":1}`, 200},
		{"APPLICATION/JSON", `{"a":1}`, 200},
		{"application/x-www-form-urlencoded", `a=1&b=two`, 200},
		{"text/plain", `hello`, 415},
		{"application/xml", `<a/>`, 415},
		{"", `{"a":1}`, 415},
		{"not a type", `{"a":1}`, 415},
	} {
		h := map[string]string{}
		if c.ctype != "" {
			h["Content-Type"] = c.ctype
		}
		status, _, body := g.Do("POST", "/ct", h, c.body)
		if status != c.want {
			t.Errorf("%q: status %d, want %d: %s", c.ctype, status, c.want, body)
		}
	}
	// No body, no type needed.
	if status, _, body := g.Do("GET", "/ct", nil, ""); status != 200 {
		t.Errorf("GET: %d %s", status, body)
	}
}

func TestInspectStrictPaths(t *testing.T) {
	g, _ := startInspectGateway(t)
	for path, want := range map[string]int{
		"/orders/42":        200,
		"/orders/42/":       200,
		"/name/O%27Reilly":  200,
		"/a%2Fb":            400,
		"/a/../admin":       400,
		"/a/./b":            400,
		"/a/%2e%2e/admin":   400,
		"//admin":           400,
		"/a\\b":             400,
		"/a%5cb":            400,
		"/a%00b":            400,
		"/a%252e%252e/b":    400,
		"/a%zz":             400,
		"/files/report.txt": 200,
	} {
		got := rawRequest(t, g, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", false)
		if got != want {
			t.Errorf("%s: status %d, want %d", path, got, want)
		}
	}
}

// attackPayloads and benignValues are a subset of the corpora of the inspect
// package, sent through a real gateway.
var attackPayloads = []string{
	`' OR '1'='1`, `1 UNION SELECT username, password FROM users`, `'; DROP TABLE users; --`,
	`1' AND SLEEP(5)--`, `admin'--`, `1 or 1=1`, `' uNiOn SeLeCt 1,2--`, `1/**/UNION/**/SELECT/**/1`,
	`%27%20OR%20%271%27%3D%271`, `%2527%2520OR%25201%253D1--`,
	`<script>alert(1)</script>`, `"><script>alert(document.cookie)</script>`, `<img src=x onerror=alert(1)>`,
	`<svg/onload=alert(1)>`, `<a href="javascript:alert(1)">x</a>`, `" onmouseover="alert(1)`,
	`%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E`, `%253Cscript%253Ealert(1)%253C%252Fscript%253E`,
	`&lt;script&gt;alert(1)&lt;/script&gt;`, `&#60;img src=x onerror=alert(1)&#62;`,
}

var benignValues = []string{
	"O'Reilly", "John O'Brien", "D'Angelo", "Rock 'n' roll", "It's 5 o'clock", `He said "hello"`,
	"Please select the best option from the menu and drop it in the cart", "SELECT * FROM users",
	"Don't delete from the list or update it", "Tom & Jerry", "&lt;b&gt;bold&lt;/b&gt;", "caf&eacute;",
	"<b>bold</b> and <i>italic</i>", "a < b and c > d", "I <3 cats", "the user's (primary) address; see notes",
	"50% off", "C:\\Users\\me", "https://example.com/a?b=c&d=e", "mary@example.com", "2026-01-02T03:04:05Z",
}

func TestInspectBlock(t *testing.T) {
	g, up := startInspectGateway(t)
	blocked, passed := 0, 0
	for _, p := range attackPayloads {
		// In a query value (sent as the client would, encoded once).
		status, _, body := g.Do("GET", "/search?q="+url.QueryEscape(p), nil, "")
		if status == 403 {
			blocked++
		} else {
			t.Errorf("query %q: status %d", p, status)
		}
		if status == 403 && (!strings.Contains(body, `query parameter \"q\"`) || strings.Contains(body, p)) {
			t.Errorf("answer must name the parameter and not echo the payload: %s", body)
		}
		// In a nested JSON string value.
		doc, _ := json.Marshal(map[string]any{"order": map[string]any{"items": []any{map[string]any{"note": p}}}})
		status, _, body = g.Do("POST", "/orders", map[string]string{"Content-Type": "application/json"}, string(doc))
		if status == 403 {
			blocked++
		} else {
			t.Errorf("JSON %q: status %d", p, status)
		}
		if status == 403 && !strings.Contains(body, "/order/items/0/note") {
			t.Errorf("answer must name the JSON location: %s", body)
		}
		// In a form value.
		status, _, _ = g.Do("POST", "/form", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "a=1&comment="+url.QueryEscape(p))
		if status == 403 {
			blocked++
		} else {
			t.Errorf("form %q: status %d", p, status)
		}
	}
	for _, v := range benignValues {
		doc, _ := json.Marshal(map[string]any{"name": v, "nested": []any{map[string]string{"text": v}}})
		status, _, body := g.Do("POST", "/orders", map[string]string{"Content-Type": "application/json"}, string(doc))
		if status == 200 {
			passed++
		} else {
			t.Errorf("benign JSON %q: status %d %s", v, status, body)
		}
		status, _, _ = g.Do("GET", "/search?q="+url.QueryEscape(v), nil, "")
		if status == 200 {
			passed++
		} else {
			t.Errorf("benign query %q: status %d", v, status)
		}
	}
	t.Logf("through the gateway: %d/%d attack requests blocked, %d/%d benign requests passed",
		blocked, 3*len(attackPayloads), passed, 2*len(benignValues))
	// A path segment.
	if status := rawRequest(t, g, "GET /users/%3Cscript%3Ealert(1)%3C%2Fscript%3E HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", false); status != 400 && status != 403 {
		t.Errorf("XSS in a path segment: %d", status)
	}
	if status, _, body := g.Do("GET", "/users/1'%20or%20'1'='1", nil, ""); status != 403 || !strings.Contains(body, "path segment 2") {
		t.Errorf("SQLi in a path segment: %d %s", status, body)
	}
	for _, r := range up.Requests() {
		if strings.Contains(r.Body, "onerror") || strings.Contains(r.RawQuery, "UNION") {
			t.Errorf("the upstream saw an attack: %+v", r)
		}
	}
}

func TestInspectMask(t *testing.T) {
	g, _ := startInspectGateway(t)
	status, h, body := g.Do("GET", "/cards", nil, "")
	want := `{"card":"**** **** **** 1111","email":"***@example.com","order":"1700000000000"}`
	if status != 200 || body != want {
		t.Fatalf("masked: %d %s", status, body)
	}
	if h.Get("Content-Length") != strconv.Itoa(len(want)) {
		t.Errorf("Content-Length %q, body %d bytes", h.Get("Content-Length"), len(want))
	}
	if h.Get("ETag") != "" {
		t.Errorf("ETag %q kept on a masked answer", h.Get("ETag"))
	}

	// A client that accepts gzip still gets the masked body: the upstream is
	// asked for an uncompressed one.
	req, _ := http.NewRequest("GET", g.URL("/cards-gz"), nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != want || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("with Accept-Encoding gzip: %q %q", resp.Header.Get("Content-Encoding"), got)
	}

	// A large streamed response: masked throughout, still streamed.
	resp, err = client.Get(g.URL("/stream"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	lines := 0
	for sc.Scan() {
		line := sc.Text()
		wantLine := fmt.Sprintf(`{"n":%d,"card":"************4444","email":"***@example.org","pad":"%s"}`, lines, strings.Repeat("p", 40))
		if line != wantLine {
			t.Fatalf("line %d: %s", lines, line)
		}
		lines++
	}
	resp.Body.Close()
	if lines != 30000 || resp.ContentLength != -1 {
		t.Errorf("%d lines, Content-Length %d", lines, resp.ContentLength)
	}

	// Binary bodies pass untouched; one in a coding the gateway cannot read
	// is refused.
	if _, _, body := g.Do("GET", "/binary", nil, ""); body != "4111111111111111 mary@example.com" {
		t.Errorf("binary body changed: %q", body)
	}
	req, _ = http.NewRequest("GET", g.URL("/encoded"), nil)
	req.Header.Set("Accept-Encoding", "br")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || bytes.Contains(raw, []byte("mary")) || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("encoded body: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), raw)
	}
}

// auditRecords reads the audit log.
func auditRecords(t *testing.T, g *Gateway) []map[string]any {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(g.Dir, "audit.log"))
	var out []map[string]any
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func findAudit(recs []map[string]any, path string) map[string]any {
	for _, r := range recs {
		if r["path"] == path {
			return r
		}
	}
	return nil
}

func TestInspectAudit(t *testing.T) {
	g, _ := startInspectGateway(t)
	k := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})
	body := `{"item":"mug"}`
	if s, _, b := g.Do("POST", "/secure/allowed", map[string]string{"X-API-Key": k.Key, "Content-Type": "application/json"}, body); s != 200 {
		t.Fatalf("allowed: %d %s", s, b)
	}
	if s, _, _ := g.Do("GET", "/secure/no-key?api_key=secret-looking", nil, ""); s != 401 {
		t.Fatalf("no key: %d", s)
	}
	if s, _, _ := g.Do("GET", "/inspected?q=%27%20OR%20%271%27%3D%271", nil, ""); s != 403 {
		t.Fatalf("inspected: %d", s)
	}
	if s, _, _ := g.Do("GET", "/down/failed", nil, ""); s != 502 {
		t.Fatalf("failed: %d", s)
	}
	var recs []map[string]any
	Eventually(t, 10*time.Second, "audit records", func() bool {
		recs = auditRecords(t, g)
		return findAudit(recs, "/down/failed") != nil && findAudit(recs, "/secure/allowed") != nil
	})
	check := func(path string, want map[string]any) {
		t.Helper()
		r := findAudit(recs, path)
		if r == nil {
			t.Fatalf("no audit record for %s", path)
		}
		for k, v := range want {
			if fmt.Sprint(r[k]) != fmt.Sprint(v) {
				t.Errorf("%s: %s = %v, want %v (record %v)", path, k, r[k], v, r)
			}
		}
		for _, f := range []string{"ts", "latency", "bytes_in", "bytes_out", "method", "route", "client_ip"} {
			if _, ok := r[f]; !ok {
				t.Errorf("%s: no field %s", path, f)
			}
		}
		if r["logger"] != "http.handlers.api_inspect.audit" {
			t.Errorf("%s: logger %v", path, r["logger"])
		}
	}
	check("/secure/allowed", map[string]any{"consumer": "shop", "key_id": k.ID, "auth_method": "api_key", "status": 200,
		"decision": "allowed", "handler": "", "method": "POST", "bytes_in": len(body)})
	check("/secure/no-key", map[string]any{"consumer": "", "status": 401, "decision": "rejected", "handler": "api_auth", "reason": "no_credential"})
	check("/inspected", map[string]any{"status": 403, "decision": "rejected", "handler": "api_inspect", "reason": "sqli"})
	check("/down/failed", map[string]any{"status": 502, "decision": "failed"})
	if r := findAudit(recs, "/secure/allowed"); r != nil {
		if out, _ := r["bytes_out"].(float64); out <= 0 {
			t.Errorf("bytes_out %v", r["bytes_out"])
		}
	}
	data, _ := os.ReadFile(filepath.Join(g.Dir, "audit.log"))
	for _, secret := range []string{k.Key, "secret-looking", "mug"} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the audit log holds %q", secret)
		}
	}
	if len(recs) != 4 {
		t.Errorf("%d audit records for 4 requests", len(recs))
	}
}

// metricValue returns the value of the first sample of name whose labels
// contain every one of labels.
func metricValue(t *testing.T, g *Gateway, name string, labels ...string) (float64, bool) {
	t.Helper()
	status, body := g.AdminDo("GET", "/metrics", nil)
	if status != 200 {
		t.Fatalf("metrics: %d", status)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			return v, true
		}
	}
	return 0, false
}

func TestInspectMetricsSurviveReload(t *testing.T) {
	g, _ := startInspectGateway(t)
	g.Do("GET", "/m?q=%3Cscript%3Ealert(1)%3C/script%3E", nil, "")
	g.Do("GET", "/m", nil, "")
	g.Do("GET", "/secure/x", nil, "")
	want := [][]string{
		{"caddy_apigate_decisions_total", `handler="api_inspect"`, `outcome="xss"`},
		{"caddy_apigate_decisions_total", `handler="api_inspect"`, `outcome="allowed"`},
		{"caddy_apigate_rejections_total", `handler="api_inspect"`, `reason="xss"`},
		{"caddy_apigate_rejections_total", `handler="api_auth"`, `reason="no_credential"`},
		{"caddy_apigate_handler_duration_seconds_count", `handler="api_inspect"`},
	}
	before := map[int]float64{}
	for i, w := range want {
		v, ok := metricValue(t, g, w[0], w[1:]...)
		if !ok || v < 1 {
			t.Fatalf("%v: %v %v", w, v, ok)
		}
		before[i] = v
	}
	// Reload the same config through the admin API.
	cfg, _ := os.ReadFile(filepath.Join(g.Dir, "Caddyfile"))
	req, _ := http.NewRequest("POST", "http://"+g.Admin+"/load", bytes.NewReader(cfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d %s", resp.StatusCode, rb)
	}
	Eventually(t, 10*time.Second, "gateway after reload", func() bool {
		s, _, _ := g.Do("GET", "/m?q=%3Cscript%3Ealert(1)%3C/script%3E", nil, "")
		return s == 403
	})
	v, ok := metricValue(t, g, want[0][0], want[0][1:]...)
	if !ok || v < before[0]+1 {
		t.Errorf("after reload: %s = %v, was %v", want[0], v, before[0])
	}
	status, body := g.AdminDo("GET", "/metrics", nil)
	if status != 200 || strings.Contains(string(body), "127.0.0.1") && strings.Contains(string(body), "caddy_apigate") && strings.Contains(grepLines(string(body), "caddy_apigate"), "127.0.0.1") {
		t.Errorf("a client address in the plugin's metrics")
	}
}

// An encode placed before api_inspect (in a route) compresses the masked
// answer.
func TestInspectMaskThenEncode(t *testing.T) {
	up := maskingUpstream(t)
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	route {
		encode gzip {
			minimum_length 1
		}
		api_inspect {
			mask card email
		}
		reverse_proxy {UPSTREAM}
	}
}
`, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	req, _ := http.NewRequest("GET", g.URL("/cards"), nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if string(plain) != `{"card":"**** **** **** 1111","email":"***@example.com","order":"1700000000000"}` {
		t.Fatalf("body %q", plain)
	}
}
