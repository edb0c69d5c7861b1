package openapi

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The request of the openapi_get variant of `go run ./bench`, as Caddy's
// server hands it to the handler: a GET with two path parameters (one with
// a pattern) whose body is not http.NoBody but Caddy's read-deadline reader
// around it, with ContentLength 0. The handler microbenchmarks above reuse a
// request without a body; these show what the real server's request costs.
const serverGetDoc = `{"openapi": "3.1.0", "info": {"title": "bench", "version": "1"}, "paths": {
 "/orders": {"post": {
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
  "responses": {"200": {"description": "ok"}}}},
 "/orders/{orderId}/items/{sku}": {"get": {
  "parameters": [
   {"name": "orderId", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^ord_[0-9]+$"}},
   {"name": "sku", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 32}}],
  "responses": {"200": {"description": "ok"}}}}}}
`

const serverGetPath = "/orders/ord_1042/items/A-100"

// serverBody stands for Caddy's IdleTimeoutReader around http.NoBody.
type serverBody struct{ io.ReadCloser }

func serverGetHandler(b *testing.B, validate bool) *OpenAPI {
	file := filepath.Join(b.TempDir(), "openapi.json")
	if err := os.WriteFile(file, []byte(serverGetDoc), 0o600); err != nil {
		b.Fatal(err)
	}
	return provisioned(b, &OpenAPI{File: file, ValidateRequest: validate})
}

func serverGetRequest() *http.Request {
	r := newRequest("GET", serverGetPath, "", nil)
	r.Body = serverBody{http.NoBody}
	return r
}

func benchServerGet(b *testing.B, validate bool) {
	o := serverGetHandler(b, validate)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		if err := o.ServeHTTP(w, serverGetRequest(), passNext); err != nil || w.code != 0 {
			b.Fatalf("the request does not pass: %d %v", w.code, err)
		}
	}
}

// BenchmarkServerGetValidated is the openapi_get variant's handler.
func BenchmarkServerGetValidated(b *testing.B) { benchServerGet(b, true) }

// BenchmarkServerGetMatched is the same request matched only.
func BenchmarkServerGetMatched(b *testing.B) { benchServerGet(b, false) }

// BenchmarkServerGetRequestOnly is the cost of building the request itself,
// to subtract from the two above.
func BenchmarkServerGetRequestOnly(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = serverGetRequest()
	}
}

// TestEmptyBodyNotRead: Caddy's reader around an empty body, announced with
// length 0, is handed on as it came, never read and replaced.
func TestEmptyBodyNotRead(t *testing.T) {
	file := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(file, []byte(serverGetDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	o := provisioned(t, &OpenAPI{File: file, ValidateRequest: true})
	r := serverGetRequest()
	var seen io.ReadCloser
	next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error { seen = r.Body; return nil })
	w := &discard{h: http.Header{}}
	if err := o.ServeHTTP(w, r, next); err != nil || w.code != 0 {
		t.Fatalf("the request does not pass: %d %v", w.code, err)
	}
	if _, ok := seen.(serverBody); !ok {
		t.Fatalf("the upstream got a %T, want the server's own body", seen)
	}
}
