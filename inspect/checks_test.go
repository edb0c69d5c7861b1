package inspect

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// inspectOnce runs one request through api_inspect and returns the status
// and the request the next handler got (nil when refused).
func inspectOnce(t *testing.T, in *Inspect, r *http.Request) (int, *http.Request, string) {
	t.Helper()
	var got *http.Request
	var gotBody string
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		got = r
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		gotBody = string(b)
		w.WriteHeader(http.StatusOK)
		return nil
	})
	w := httptest.NewRecorder()
	if err := in.ServeHTTP(w, r, next); err != nil {
		if he, ok := err.(caddyhttp.HandlerError); ok {
			return he.StatusCode, got, gotBody
		}
		t.Fatal(err)
	}
	if w.Code != http.StatusOK && w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("refusal %d is not problem+json", w.Code)
	}
	return w.Code, got, gotBody
}

func TestInspectRequestForms(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	block := provisionInspect(t, &Inspect{Block: []string{"sqli", "xss"}, MaxBody: 1 << 20})
	strictOnly := provisionInspect(t, &Inspect{})
	off := provisionInspect(t, &Inspect{Paths: "off"})
	gz := func(s string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		io.WriteString(zw, s)
		zw.Close()
		return b.String()
	}
	for _, c := range []struct {
		name     string
		in       *Inspect
		method   string
		target   string
		headers  map[string]string
		body     string
		want     int
		upstream string // the body the next handler reads, when passed
	}{
		{"path parameter", strictOnly, "GET", "/admin;x=1/users", nil, "", 400, ""},
		{"trailing dot", strictOnly, "GET", "/admin./users", nil, "", 400, ""},
		{"paths off passes a parameter", off, "GET", "/admin;x=1/users", nil, "", 200, ""},
		{"override header", strictOnly, "POST", "/orders", map[string]string{"X-HTTP-Method-Override": "DELETE"}, "", 400, ""},
		{"override header X-Method-Override", strictOnly, "POST", "/orders", map[string]string{"X-Method-Override": "PUT"}, "", 400, ""},
		{"override query", strictOnly, "POST", "/orders?_method=DELETE", nil, "", 400, ""},
		{"override form", strictOnly, "POST", "/orders", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "a=1&_method=DELETE", 400, ""},
		{"form without override", strictOnly, "POST", "/orders", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "a=1&method=x", 200, "a=1&method=x"},
		{"override passes with paths off", off, "POST", "/orders?_method=DELETE", map[string]string{"X-HTTP-Method": "PUT"}, "", 200, ""},
		{"two content types", strictOnly, "POST", "/orders", map[string]string{"Content-Type": "text/plain", "Content-Type2": "application/x-www-form-urlencoded"}, "_method=DELETE", 415, ""},
		{"text/plain with block", block, "POST", "/orders", map[string]string{"Content-Type": "text/plain"}, "' OR '1'='1", 415, ""},
		{"multipart with block", block, "POST", "/orders", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, "--x\r\n", 415, ""},
		{"no type with block", block, "POST", "/orders", nil, "{}", 415, ""},
		{"utf-16 with block", block, "POST", "/orders", map[string]string{"Content-Type": "application/json; charset=utf-16"}, "{}", 415, ""},
		{"utf-8 with block", block, "POST", "/orders", map[string]string{"Content-Type": "application/json; charset=UTF-8"}, `{"a":"é"}`, 200, `{"a":"é"}`},
		{"malformed UTF-8 JSON", block, "POST", "/orders", map[string]string{"Content-Type": "application/json"}, "{\"a\":\"\xc0\xa7 OR 1=1\"}", 400, ""},
		{"malformed UTF-8 form", block, "POST", "/orders", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "a=%C0%A7+OR+1%3D1", 400, ""},
		{"gzip SQLi", block, "POST", "/orders", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, gz(`{"q":"' OR '1'='1"}`), 403, ""},
		{"gzip benign, passed decoded", block, "POST", "/orders", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, gz(`{"q":"mug"}`), 200, `{"q":"mug"}`},
		{"brotli", block, "POST", "/orders", map[string]string{"Content-Type": "application/json", "Content-Encoding": "br"}, "xx", 415, ""},
		{"broken gzip", block, "POST", "/orders", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, "not gzip", 400, ""},
		{"gzip bomb", block, "POST", "/orders", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, gz(`{"a":"` + strings.Repeat("0", 2<<20) + `"}`), 413, ""},
	} {
		r := newInspectRequest(ctx, c.method, c.target, "", c.body)
		for k, v := range c.headers {
			if k != "Content-Type2" {
				r.Header.Set(k, v)
			}
		}
		// After the Set above, whatever the map's order.
		if v, ok := c.headers["Content-Type2"]; ok {
			r.Header.Add("Content-Type", v)
		}
		status, got, gotBody := inspectOnce(t, c.in, r)
		if status != c.want {
			t.Errorf("%s: status %d, want %d", c.name, status, c.want)
			continue
		}
		if c.want == 200 {
			if gotBody != c.upstream {
				t.Errorf("%s: the next handler read %q", c.name, gotBody)
			}
			if got.Header.Get("Content-Encoding") != "" || (c.upstream != "" && got.ContentLength != int64(len(c.upstream))) {
				t.Errorf("%s: passed on with Content-Encoding %q, length %d", c.name, got.Header.Get("Content-Encoding"), got.ContentLength)
			}
		} else if got != nil {
			t.Errorf("%s: refused, yet the next handler ran", c.name)
		}
	}
}

// slowBody gives one byte every interval.
type slowBody struct {
	left     int
	interval time.Duration
}

func (s *slowBody) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.interval)
	s.left--
	p[0] = '1'
	return 1, nil
}

func (s *slowBody) Close() error { return nil }

// Where the writer cannot set read deadlines, a read that comes back late
// still fails the body.
func TestInspectMinUploadRateWithoutDeadlines(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	in := provisionInspect(t, &Inspect{MaxBody: 1 << 20, MinUploadRate: 100, UploadGrace: caddy.Duration(50 * time.Millisecond)})
	for _, ctype := range []string{"application/octet-stream", "application/x-www-form-urlencoded"} {
		r := newInspectRequest(ctx, "POST", "/upload", ctype, "")
		r.Body = &slowBody{left: 1000, interval: 20 * time.Millisecond}
		r.ContentLength = 1000
		start := time.Now()
		status, _, _ := inspectOnce(t, in, r)
		if status != http.StatusRequestTimeout {
			t.Errorf("%s: status %d, want 408", ctype, status)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: refused after %v", ctype, d)
		}
	}
	// A body at the pace passes.
	r := newInspectRequest(ctx, "POST", "/upload", "application/octet-stream", "")
	r.Body = &slowBody{left: 5, interval: time.Millisecond}
	r.ContentLength = 5
	if status, _, body := inspectOnce(t, in, r); status != 200 || body != "11111" {
		t.Errorf("a fast body: %d %q", status, body)
	}
}

func TestUploadDeadline(t *testing.T) {
	start := time.Unix(1000, 0)
	for _, c := range []struct {
		n    int64
		want time.Duration
	}{{0, 10 * time.Second}, {10_000, 11 * time.Second}, {5_000, 10500 * time.Millisecond}, {1 << 62, 100 * 365 * 24 * time.Hour}} {
		got := uploadDeadline(start, 10*time.Second, 10_000, c.n).Sub(start)
		if c.n == 1<<62 {
			if got < c.want {
				t.Errorf("%d bytes: %v", c.n, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%d bytes: %v, want %v", c.n, got, c.want)
		}
	}
}
