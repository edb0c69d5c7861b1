package caddytest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// requestSite guards an upstream that reads requests leniently, as Tomcat,
// Spring or Rails do: it strips path parameters and trailing dots and spaces
// from segments, decodes overlong UTF-8, honours method overrides, decodes
// compressed bodies and parses any body as a form. The gateway keeps /admin
// closed and refuses DELETE on /orders; uploads under /upload are not
// scanned but must arrive at a minimum rate.
const requestSite = `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	@upload path /upload/*
	@api not path /upload/*
	api_inspect @api {
		max_body 64KiB
		min_upload_rate 1KB/s 500ms
		json_depth 16
		block sqli xss
		paths {PATHS}
	}
	api_inspect @upload {
		max_body 1MB
		min_upload_rate 1KB/s 500ms
	}
	handle /admin/* {
		respond "the gateway keeps the admin area closed" 403
	}
	@delete method DELETE
	handle @delete {
		respond "this gateway does not allow DELETE" 403
	}
	handle {
		reverse_proxy {UPSTREAM}
	}
}
`

// lenientPath is the path a lenient upstream routes on.
func lenientPath(raw string) string {
	var segs []string
	for _, seg := range strings.Split(raw, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		seg = strings.ReplaceAll(seg, "%3B", ";")
		seg, _, _ = strings.Cut(seg, ";")
		seg = strings.NewReplacer("%c0%ae", ".", "%C0%AE", ".", "%2e", ".", "%2E", ".", "%20", " ").Replace(seg)
		seg = strings.TrimRight(seg, ". ")
		segs = append(segs, seg)
	}
	return strings.Join(segs, "/")
}

func lenientReadingUpstream(t *testing.T) *Upstream {
	return StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
			if v := r.Header.Get(h); v != "" {
				method = v
			}
		}
		if v := r.URL.Query().Get("_method"); v != "" {
			method = v
		}
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
				body, _ = io.ReadAll(zr)
			}
		}
		path := lenientPath(r.URL.EscapedPath())
		w.Header().Set("Content-Type", "text/plain")
		switch {
		case strings.HasPrefix(path, "/admin"):
			fmt.Fprintf(w, "ADMIN AREA at %s", path)
		case method == "DELETE":
			fmt.Fprint(w, "DELETED")
		default:
			fmt.Fprintf(w, "%s %s %s", method, path, body)
		}
	})
}

func startRequestGateway(t *testing.T, paths string) (*Gateway, *Upstream) {
	up := lenientReadingUpstream(t)
	g := StartGateway(t, requestSite, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{PATHS}", paths)
	return g, up
}

// rawDo sends bytes on a fresh connection and returns the first answer's
// status, Content-Type and body (0 when the connection closed unanswered).
func rawDo(t *testing.T, g *Gateway, req string) (int, string, string) {
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
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// Path spellings that a lenient upstream routes into the admin area.
var lenientAdminPaths = []string{
	"/admin;x=1/users", "/admin;/users", "/admin%3Bx=1/users", "/admin%3b/users",
	"/admin./users", "/admin%2e/users", "/admin%2E", "/admin%20/users", "/admin.%20/users",
	"/x/..;/admin/users", "/%c0%ae%c0%ae/admin/users",
}

func TestInspectPathSpellings(t *testing.T) {
	g, up := startRequestGateway(t, "strict")
	for _, p := range lenientAdminPaths {
		status, ctype, body := rawDo(t, g, "GET "+p+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
		if status != 400 || ctype != "application/problem+json" || !strings.Contains(body, "the request path is not acceptable") {
			t.Errorf("%s: %d %s %s", p, status, ctype, body)
		}
	}
	for _, r := range up.Requests() {
		t.Errorf("the upstream saw %s", r.RawPath+r.Path)
	}
	// The closed area stays closed, and what is not a trick passes.
	for p, want := range map[string]int{"/admin/users": 403, "/orders/42": 200, "/v1.2/orders": 200, "/files/a.b": 200} {
		if status, _, body := rawDo(t, g, "GET "+p+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); status != want {
			t.Errorf("%s: %d %s", p, status, body)
		}
	}

	// What strict paths prevent: with them off, each spelling reaches the
	// upstream's admin area.
	open, _ := startRequestGateway(t, "off")
	for _, p := range lenientAdminPaths[:3] {
		if _, _, body := rawDo(t, open, "GET "+p+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); !strings.Contains(body, "ADMIN AREA") {
			t.Errorf("paths off, %s: %s (the upstream stand-in does not reproduce the attack)", p, body)
		}
	}
}

func TestInspectMethodOverride(t *testing.T) {
	g, up := startRequestGateway(t, "strict")
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	jsonType := map[string]string{"Content-Type": "application/json"}
	for _, c := range []struct {
		name    string
		path    string
		headers map[string]string
		body    string
	}{
		{"X-HTTP-Method-Override", "/orders/1", map[string]string{"X-HTTP-Method-Override": "DELETE"}, ""},
		{"X-HTTP-Method", "/orders/1", map[string]string{"X-HTTP-Method": "DELETE"}, ""},
		{"X-Method-Override", "/orders/1", map[string]string{"X-Method-Override": "DELETE"}, ""},
		{"query _method", "/orders/1?_method=DELETE", nil, ""},
		{"query _method encoded", "/orders/1?a=1&%5Fmethod=DELETE", nil, ""},
		{"query _METHOD", "/orders/1?_METHOD=DELETE", nil, ""},
		{"form _method", "/orders/1", form, "note=x&_method=DELETE"},
		// PHP reads these names as _method (Laravel, Symfony).
		{"query .method", "/orders/1?.method=DELETE", nil, ""},
		{"query +method", "/orders/1?+method=DELETE", nil, ""},
		{"query [method", "/orders/1?%5Bmethod=DELETE", nil, ""},
		{"query after ;", "/orders/1?a=1;_method=DELETE", nil, ""},
		{"form .method", "/orders/1", form, "note=x&.method=DELETE"},
		{"form space method", "/orders/1", form, "note=x&%20method=DELETE"},
		// Laravel reads _method from a JSON body too.
		{"JSON _method", "/orders/1", jsonType, `{"note":"x","_method":"DELETE"}`},
		{"JSON escaped _method", "/orders/1", jsonType, `{"\u005fmethod":"DELETE"}`},
	} {
		status, h, body := g.Do("POST", c.path, c.headers, c.body)
		if status != 400 || h.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, "method override") {
			t.Errorf("%s: %d %s", c.name, status, body)
		}
	}
	for _, r := range up.Requests() {
		t.Errorf("the upstream saw %s %s?%s %s", r.Method, r.Path, r.RawQuery, r.Body)
	}
	if status, _, body := g.Do("POST", "/orders/1?method=fast", form, "note=x&method=card"); status != 200 || !strings.HasPrefix(body, "POST /orders/1") {
		t.Errorf("a plain POST: %d %s", status, body)
	}
	// A _method deeper down, or that is not a string, asks for nothing.
	if status, _, body := g.Do("POST", "/orders/1", jsonType, `{"item":{"_method":"DELETE"},"_method":7}`); status != 200 || !strings.HasPrefix(body, "POST /orders/1") {
		t.Errorf("a JSON POST with inner _method: %d %s", status, body)
	}
	if status, _, _ := g.Do("DELETE", "/orders/1", nil, ""); status != 403 {
		t.Errorf("DELETE: %d", status)
	}

	// What strict paths prevent: with them off, the override reaches the
	// upstream, which deletes.
	open, _ := startRequestGateway(t, "off")
	if _, _, body := open.Do("POST", "/orders/1", map[string]string{"X-HTTP-Method-Override": "DELETE"}, ""); body != "DELETED" {
		t.Errorf("paths off: %s (the upstream stand-in does not reproduce the attack)", body)
	}
}

func gzipString(t *testing.T, s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return b.String()
}

func TestInspectBodyEncodings(t *testing.T) {
	g, up := startRequestGateway(t, "strict")
	sqli := `' OR '1'='1`
	for _, c := range []struct {
		name    string
		headers map[string]string
		body    string
		want    int
		says    string
	}{
		{"gzip form with SQLi", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}, gzipString(t, "q="+sqli), 403, "SQL injection"},
		{"gzip JSON with SQLi", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, gzipString(t, `{"q":"`+sqli+`"}`), 403, "SQL injection"},
		{"brotli form", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "br"}, "q=" + sqli, 415, "content coding"},
		{"two codings", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"}, gzipString(t, gzipString(t, `{}`)), 415, "content coding"},
		{"gzip bomb", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, gzipString(t, `{"a":"`+strings.Repeat("0", 4<<20)+`"}`), 413, "larger"},
		{"broken gzip", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, "{}", 400, "decode"},
		{"Latin-1 JSON", map[string]string{"Content-Type": "application/json"}, "{\"name\":\"caf\xe9\"}", 400, "UTF-8"},
		{"overlong quote in JSON", map[string]string{"Content-Type": "application/json"}, "{\"q\":\"\xc0\xa7 OR \xc0\xa71\xc0\xa7=\xc0\xa71\"}", 400, "UTF-8"},
		{"overlong quote in a form", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "q=%C0%A7%20OR%20%C0%A71%C0%A7%3D%C0%A71", 400, "UTF-8"},
		{"UTF-16 JSON", map[string]string{"Content-Type": "application/json; charset=utf-16"}, "{}", 415, "UTF-8"},
		{"Latin-1 form", map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=iso-8859-1"}, "q=1", 415, "UTF-8"},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, "q=" + sqli, 415, "reads every request body"},
		{"multipart", map[string]string{"Content-Type": "multipart/form-data; boundary=b"}, "--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n" + sqli + "\r\n--b--\r\n", 415, "reads every request body"},
		{"no type", nil, "q=" + sqli, 415, "reads every request body"},
	} {
		status, h, body := g.Do("POST", "/orders", c.headers, c.body)
		if status != c.want || h.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s", c.name, status, body)
		}
	}
	for _, r := range up.Requests() {
		t.Errorf("the upstream saw %s %q", r.Header.Get("Content-Type"), r.Body)
	}
	// A benign compressed body passes, decoded: the upstream reads what was
	// checked.
	status, _, body := g.Do("POST", "/orders", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, gzipString(t, `{"item":"mug","note":"café"}`))
	if status != 200 || body != `POST /orders {"item":"mug","note":"café"}` {
		t.Errorf("benign gzip: %d %q", status, body)
	}
	if reqs := up.Requests(); len(reqs) != 1 || reqs[0].Header.Get("Content-Encoding") != "" {
		t.Errorf("the upstream got %+v", reqs)
	}
}

// trickle sends a request's head, then its body one byte at a time, and
// returns the status of the answer and how long it took.
func trickle(t *testing.T, g *Gateway, path, ctype string, size int, every time.Duration) (int, string, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", g.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, ctype, size)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for range size {
			select {
			case <-done:
				return
			case <-time.After(every):
			}
			if _, err := c.Write([]byte{'1'}); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", time.Since(start)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), time.Since(start)
}

func TestInspectSlowUpload(t *testing.T) {
	g, up := startRequestGateway(t, "strict")
	// 1 KB/s after 500ms: a body at 10 bytes a second falls behind at once.
	for _, c := range []struct{ name, path, ctype string }{
		{"held for checking", "/orders", "application/json"},
		{"streamed to the upstream", "/upload/file", "application/octet-stream"},
	} {
		status, body, took := trickle(t, g, c.path, c.ctype, 2000, 100*time.Millisecond)
		if status != 408 || !strings.Contains(body, "too slowly") {
			t.Errorf("%s: %d %s", c.name, status, body)
		}
		if took > 4*time.Second {
			t.Errorf("%s: answered after %v", c.name, took)
		}
	}
	for _, r := range up.Requests() {
		if r.Path == "/orders" {
			t.Errorf("the upstream saw a slow body held for checking: %q", r.Body)
		}
	}
	// A client at the pace is served.
	status, _, body := g.Do("POST", "/upload/file", map[string]string{"Content-Type": "application/octet-stream"}, strings.Repeat("x", 20_000))
	if status != 200 || !strings.HasPrefix(body, "POST /upload/file xxxx") {
		t.Errorf("a fast upload: %d %.80s", status, body)
	}
}
