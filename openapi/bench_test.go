package openapi

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// discard is a response writer that keeps nothing.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

var passNext = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

func benchServe(b *testing.B, o *OpenAPI, method, target string, body []byte, id *gateway.Identity) {
	r := newRequest(method, target, "", id)
	r.Header.Set("Content-Type", "application/json")
	w := &discard{h: http.Header{}}
	rd := bytes.NewReader(body)
	if body != nil {
		r.Body = nopCloser2{bytes.NewReader(body)}
		r.ContentLength = int64(len(body))
	}
	if err := o.ServeHTTP(w, r, passNext); err != nil || w.code != 0 {
		b.Fatalf("the request does not pass: %d %v", w.code, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if body != nil {
			rd.Reset(body)
			r.Body = nopCloser2{rd}
			r.ContentLength = int64(len(body))
		}
		if err := o.ServeHTTP(w, r, passNext); err != nil {
			b.Fatal(err)
		}
	}
}

type nopCloser2 struct{ *bytes.Reader }

func (nopCloser2) Close() error { return nil }

// order1K is a valid order of the demo document, about 1 KiB.
var order1K = func() []byte {
	var items []string
	for len(strings.Join(items, ",")) < 700 {
		items = append(items, `{"sku":"TEA-100","quantity":2}`)
	}
	head := `{"items":[` + strings.Join(items, ",") + `],"delivery":{"address":{"street":"12 Baker Street","city":"London"}},"note":"`
	return []byte(head + strings.Repeat("x", 1024-len(head)-2) + `"}`)
}()

func BenchmarkPost1KValidated(b *testing.B) {
	o := provisioned(b, &OpenAPI{File: exampleDoc, ValidateRequest: true, Scopes: ScopesFromSecurity})
	benchServe(b, o, "POST", "/orders", order1K, &gateway.Identity{Scopes: []string{"orders:write"}})
}

func BenchmarkGetPathParams(b *testing.B) {
	o := provisioned(b, &OpenAPI{File: exampleDoc, ValidateRequest: true, Scopes: ScopesFromSecurity})
	benchServe(b, o, "GET", "/orders/42", nil, &gateway.Identity{Scopes: []string{"orders:read"}})
}

func BenchmarkGetMatchOnly(b *testing.B) {
	o := provisioned(b, &OpenAPI{File: exampleDoc})
	benchServe(b, o, "GET", "/orders/42", nil, nil)
}

func BenchmarkPetstorePost(b *testing.B) {
	o := provisioned(b, &OpenAPI{File: petstore(b), ValidateRequest: true})
	benchServe(b, o, "POST", "/api/v3/pet", []byte(validPet), nil)
}
