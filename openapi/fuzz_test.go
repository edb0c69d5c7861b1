package openapi

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// FuzzServe sends random paths, queries, headers and bodies through the
// matcher and the validator of the demo's document: every answer is a pass
// or a 4xx, never a 5xx or a panic.
func FuzzServe(f *testing.F) {
	seeds := []struct{ method, target, ctype, body string }{
		{"POST", "/orders", "application/json", validOrder},
		{"GET", "/orders/42?limit=3&status=open", "", ""},
		{"GET", "/orders/%2e%2e/admin/stats", "", ""},
		{"DELETE", "/orders//42", "", ""},
		{"POST", "/orders", "application/json; charset=utf-8", `{"items":[{"sku":"A","quantity":1e400}],"delivery":{"pickup":null}}`},
		{"POST", "/orders", "text/plain", "\x00\xff"},
		{"GET", "/orders/{orderId}", "", ""},
		{"PUT", "/admin/stats/", "application/json", `[[[[[[[[[[]]]]]]]]]]`},
		{"GET", "/health?x=%zz", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.ctype, s.body)
	}
	o := provisioned(f, &OpenAPI{File: exampleDoc, ValidateRequest: true, Scopes: ScopesFromSecurity, MaxBody: 4096})
	id := &gateway.Identity{Consumer: "f", Scopes: []string{"orders:read", "orders:write", "admin"}}
	f.Fuzz(func(t *testing.T, method, target, ctype, body string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			method = "GET"
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") {
			return
		}
		r := newRequest("GET", "/", "", id)
		r.Method = method
		r.URL = u
		r.RequestURI = target
		if body != "" {
			r.Body = nopCloser{strings.NewReader(body)}
			r.ContentLength = int64(len(body))
		}
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		w := httptest.NewRecorder()
		next := &upstream{}
		if err := o.ServeHTTP(w, r, next); err != nil {
			t.Fatalf("%s %s: error %v", method, target, err)
		}
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
		}
		if next.called && next.body != body {
			t.Fatalf("%s %s: the upstream got another body", method, target)
		}
	})
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }
