package inspect

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

func provisionInspect(t testing.TB, in *Inspect) *Inspect {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := in.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	return in
}

// newInspectRequest builds a request with the context Caddy's server gives
// handlers: a vars map and a replacer.
func newInspectRequest(ctx context.Context, method, target, ctype, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, caddy.NewReplacer())
	return r.WithContext(ctx)
}

func TestInspectTracingAttributes(t *testing.T) {
	in := provisionInspect(t, &Inspect{Block: []string{"sqli", "xss"}, Audit: &AuditConfig{}})
	in.audit = zap.NewNop()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tracer := tp.Tracer("test")

	// Allowed: the next handler plays api_auth.
	ctx, span := tracer.Start(context.Background(), "request")
	r := newInspectRequest(ctx, "GET", "/orders/1", "", "")
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id := &gateway.Identity{Consumer: "shop", KeyID: "K1", Method: "api_key"}
		gateway.SetIdentity(r, id)
		gateway.AnnotateIdentity(r, id)
		w.WriteHeader(204)
		return nil
	})
	if err := in.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
		t.Fatal(err)
	}
	span.End()

	// Refused by api_inspect.
	ctx, span = tracer.Start(context.Background(), "request")
	r = newInspectRequest(ctx, "GET", "/orders?q=%27%20OR%20%271%27%3D%271", "", "")
	w := httptest.NewRecorder()
	if err := in.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	span.End()
	if w.Code != 403 || strings.Contains(w.Body.String(), "OR") {
		t.Fatalf("refusal: %d %s", w.Code, w.Body)
	}

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	attrs := func(s sdktrace.ReadOnlySpan) map[string]string {
		m := map[string]string{}
		for _, kv := range s.Attributes() {
			m[string(kv.Key)] = kv.Value.Emit()
		}
		return m
	}
	a := attrs(spans[0])
	if a["apigate.consumer"] != "shop" || a["apigate.key_id"] != "K1" || a["apigate.decision"] != "allowed" {
		t.Errorf("allowed span: %v", a)
	}
	a = attrs(spans[1])
	if a["apigate.decision"] != "rejected" || a["apigate.handler"] != "api_inspect" || a["apigate.reason"] != "sqli" {
		t.Errorf("refused span: %v", a)
	}
}

// flushRecorder records what reached the client at each flush.
type flushRecorder struct {
	*httptest.ResponseRecorder
	atFlush []string
}

func (f *flushRecorder) Flush() {
	f.atFlush = append(f.atFlush, f.Body.String())
	f.ResponseRecorder.Flush()
}

func TestMaskKeepsStreaming(t *testing.T) {
	in := provisionInspect(t, &Inspect{Mask: &MaskConfig{Card: true, Email: true}})
	w := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		rc := http.NewResponseController(w)
		io.WriteString(w, "data: {\"card\":\"4111 1111 ")
		rc.Flush()
		io.WriteString(w, "1111 1111\"}\n\n")
		rc.Flush()
		io.WriteString(w, "data: {\"email\":\"bob@example.com\"}\n\n")
		rc.Flush()
		return nil
	})
	if err := in.ServeHTTP(w, newInspectRequest(context.Background(), "GET", "/events", "", ""), next); err != nil {
		t.Fatal(err)
	}
	want := "data: {\"card\":\"**** **** **** 1111\"}\n\ndata: {\"email\":\"***@example.com\"}\n\n"
	if w.Body.String() != want {
		t.Fatalf("body %q", w.Body.String())
	}
	// Each event reached the client at its flush; only the half-written card
	// was held back at the first.
	if len(w.atFlush) != 3 || w.atFlush[0] != `data: {"card":"` || w.atFlush[1] != "data: {\"card\":\"**** **** **** 1111\"}\n\n" || w.atFlush[2] != want {
		t.Fatalf("at each flush: %q", w.atFlush)
	}
}

func TestMaskContentLength(t *testing.T) {
	in := provisionInspect(t, &Inspect{Mask: &MaskConfig{Email: true}})
	for _, c := range []struct {
		name, ctype, encoding, method string
		body                          string
		masked, length                bool
	}{
		{"small json", "application/json", "", "GET", `{"e":"ann@example.com"}`, true, true},
		{"large json", "application/json", "", "GET", `{"e":"ann@example.com","p":"` + strings.Repeat("x", maskBufferLimit) + `"}`, true, false},
		{"text", "text/plain; charset=utf-8", "", "GET", `write to ann@example.com`, true, true},
		{"binary", "application/octet-stream", "", "GET", `ann@example.com`, false, true},
		{"image", "image/png", "", "GET", `ann@example.com`, false, true},
		{"no type", "", "", "GET", `ann@example.com`, true, true},
		{"xml", "application/xml", "", "GET", `<e>ann@example.com</e>`, true, true},
		{"svg", "image/svg+xml", "", "GET", `<svg>ann@example.com</svg>`, true, true},
		{"unknown type", "application/x-whatever", "", "GET", `ann@example.com`, true, true},
		{"bad type", "text/plain; charset", "", "GET", `ann@example.com`, true, true},
	} {
		w := httptest.NewRecorder()
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if c.ctype != "" {
				w.Header().Set("Content-Type", c.ctype)
			}
			if c.encoding != "" {
				w.Header().Set("Content-Encoding", c.encoding)
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
			io.WriteString(w, c.body)
			return nil
		})
		if err := in.ServeHTTP(w, newInspectRequest(context.Background(), c.method, "/x", "", ""), next); err != nil {
			t.Fatal(err)
		}
		got := w.Body.String()
		if c.masked == strings.Contains(got, "ann@") {
			t.Errorf("%s: masked=%v, body %.80q", c.name, c.masked, got)
		}
		cl := w.Header().Get("Content-Length")
		if c.length && cl != strconv.Itoa(len(got)) || !c.length && cl != "" {
			t.Errorf("%s: Content-Length %q for %d bytes", c.name, cl, len(got))
		}
	}
}

func BenchmarkInspectHandlerJSON1K(b *testing.B) {
	in := provisionInspect(b, &Inspect{JSONDepth: 32, ContentTypes: []string{"application/json"}, Block: []string{"sqli", "xss"}})
	doc := `{"order":{"id":"ord_1042","customer":{"name":"Mary O'Connor","email":"mary@example.com"},"items":[{"sku":"A-100","name":"Blue mug","qty":2,"price":12.5},{"sku":"B-220","name":"Tea (earl grey)","qty":1}],"notes":"Please leave it at the door; ring twice if nobody answers."},"pad":"` + strings.Repeat("x", 700) + `"}`
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, err := io.Copy(io.Discard, r.Body)
		return err
	})
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		r := newInspectRequest(context.Background(), "POST", "/orders?page=2", "application/json", doc)
		if err := in.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspectHandlerMask masks a 16 KiB answer as it streams.
func BenchmarkInspectHandlerMask(b *testing.B) {
	in := provisionInspect(b, &Inspect{Mask: &MaskConfig{Card: true, Email: true}})
	plain, _ := maskedDoc(16 << 10)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/x-ndjson")
		_, err := io.WriteString(w, plain)
		return err
	})
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		r := newInspectRequest(context.Background(), "GET", "/orders", "", "")
		if err := in.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAuditBodiesMasked(t *testing.T) {
	in := provisionInspect(t, &Inspect{JSONDepth: 8, Audit: &AuditConfig{Bodies: 40}})
	core, logs := observer.New(zapcore.InfoLevel)
	in.audit = zap.New(core)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"card":"4111111111111111","note":"`+strings.Repeat("z", 100)+`"}`)
		return nil
	})
	// A new key in an answer (api_key_rotate's) and a JWT are masked too.
	key := "agk_cr5Mgdb3sWew_qOoCcXFtpdISClnqa4SPBqyD5SQn6StD25d7yE"
	jwtTok := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
	in2 := provisionInspect(t, &Inspect{Audit: &AuditConfig{Bodies: 200}})
	core2, logs2 := observer.New(zapcore.InfoLevel)
	in2.audit = zap.New(core2)
	keyNext := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		io.WriteString(w, `{"key":"`+key+`"}`)
		return nil
	})
	r2 := newInspectRequest(context.Background(), "POST", "/rotate", "application/json", `{"token":"`+jwtTok+`"}`)
	if err := in2.ServeHTTP(httptest.NewRecorder(), r2, keyNext); err != nil {
		t.Fatal(err)
	}
	for k, v := range logs2.All()[0].ContextMap() {
		if s := fmt.Sprint(v); strings.Contains(s, key[20:]) || strings.Contains(s, "c2lnbmF0dXJl") {
			t.Errorf("the record's %s holds a credential: %s", k, s)
		}
	}
	r := newInspectRequest(context.Background(), "POST", "/x?api_key=agk_secret", "application/json", `{"email":"ann@example.com","n":1}`)
	r.Header.Set("X-API-Key", "agk_secret")
	if err := in.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
		t.Fatal(err)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d records", len(entries))
	}
	f := entries[0].ContextMap()
	if f["request_body"] != `{"email":"***@example.com","n":1}` {
		t.Errorf("request_body %q", f["request_body"])
	}
	// Cut at 40 bytes, before the word the cut falls in.
	if f["response_body"] != `{"card":"************1111","note":"` {
		t.Errorf("response_body %q", f["response_body"])
	}
	if f["bytes_in"] != int64(33) || f["bytes_out"] != int64(137) {
		t.Errorf("bytes in %v, out %v", f["bytes_in"], f["bytes_out"])
	}
	for k, v := range f {
		if strings.Contains(fmt.Sprint(v), "agk_secret") {
			t.Errorf("the record's %s holds the credential", k)
		}
	}
}

// A body larger than what is held in memory is held in a temporary file and
// reaches the next handler whole, with its length, once it passed.
func TestInspectHoldsLargeBody(t *testing.T) {
	in := provisionInspect(t, &Inspect{MaxBody: 1 << 20, JSONDepth: 4, Block: []string{"sqli", "xss"}})
	doc := `{"items":[` + strings.Repeat(`{"name":"O'Reilly mug","qty":2},`, 8000) + `{"last":true}]}`
	if len(doc) < 3*spoolMemory {
		t.Fatalf("body of %d bytes is too small for the test", len(doc))
	}
	for _, chunked := range []bool{false, true} {
		var got string
		var length int64
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			b, err := io.ReadAll(r.Body)
			got, length = string(b), r.ContentLength
			return err
		})
		r := newInspectRequest(context.Background(), "POST", "/bulk", "application/json", doc)
		if chunked {
			r.Body = io.NopCloser(struct{ io.Reader }{strings.NewReader(doc)})
			r.ContentLength = -1
		}
		w := httptest.NewRecorder()
		if err := in.ServeHTTP(w, r, next); err != nil {
			t.Fatal(err)
		}
		if w.Code != 200 || got != doc || length != int64(len(doc)) {
			t.Fatalf("chunked %v: status %d, body %d bytes (length %d), want %d", chunked, w.Code, len(got), length, len(doc))
		}
	}
	// The same body with an attack at its very end is refused, and the next
	// handler never runs.
	bad := doc[:len(doc)-len(`{"last":true}]}`)] + `{"last":"<script>alert(1)</script>"}]}`
	called := false
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { called = true; return nil })
	w := httptest.NewRecorder()
	if err := in.ServeHTTP(w, newInspectRequest(context.Background(), "POST", "/bulk", "application/json", bad), next); err != nil {
		t.Fatal(err)
	}
	if w.Code != 403 || called || !strings.Contains(w.Body.String(), "/items/8000/last") {
		t.Fatalf("status %d, next called %v: %s", w.Code, called, w.Body)
	}
}

// TestInspectHeldBodyBounded: without max_body, a chunked body held for
// checking is still refused past maxHeldBody rather than filling the disk.
func TestInspectHeldBodyBounded(t *testing.T) {
	in := provisionInspect(t, &Inspect{JSONDepth: 8})
	body := io.MultiReader(strings.NewReader(`{"a":"`), io.LimitReader(repeatByte('x'), maxHeldBody+1), strings.NewReader(`"}`))
	r := newInspectRequest(context.Background(), "POST", "/x", "application/json", "")
	r.Body = io.NopCloser(body)
	r.ContentLength = -1
	w := httptest.NewRecorder()
	called := false
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { called = true; return nil })
	if err := in.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusRequestEntityTooLarge || called {
		t.Fatalf("status %d, next called %v", w.Code, called)
	}
}

type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
