package openapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// The demo's OpenAPI 3.1 document: oneOf, type arrays, path templates,
// additionalProperties, inherited and per-operation security.
const exampleDoc = "../examples/openapi.yaml"

const validOrder = `{"items":[{"sku":"TEA-1","quantity":2}],"note":null,"delivery":{"pickup":"shop"}}`

func TestExample31(t *testing.T) {
	o := provisioned(t, &OpenAPI{File: exampleDoc, ValidateRequest: true, Scopes: ScopesFromSecurity})
	shop := &gateway.Identity{Consumer: "shop", Scopes: []string{"orders:read", "orders:write"}}
	tests := []struct {
		name, method, target, body string
		id                         *gateway.Identity
		want                       int
		pointer                    string
	}{
		{"oneOf first branch, null note", "POST", "/orders", validOrder, shop, 200, ""},
		{"oneOf second branch, string note", "POST", "/orders", `{"items":[{"sku":"TEA-1","quantity":1}],"note":"ring twice","delivery":{"address":{"street":"Main 1","city":"Bern"}}}`, shop, 200, ""},
		{"oneOf neither branch", "POST", "/orders", `{"items":[{"sku":"TEA-1","quantity":1}],"delivery":{"drone":true}}`, shop, 400, "/body/delivery"},
		{"type array refuses a number", "POST", "/orders", `{"items":[{"sku":"TEA-1","quantity":1}],"note":5,"delivery":{"pickup":"shop"}}`, shop, 400, "/body/note"},
		{"nested pointer", "POST", "/orders", `{"items":[{"sku":"TEA-1","quantity":0}],"delivery":{"pickup":"shop"}}`, shop, 400, "/body/items/0/quantity"},
		{"additional property", "POST", "/orders", `{"items":[{"sku":"TEA-1","quantity":1}],"delivery":{"pickup":"shop"},"password":"hunter2"}`, shop, 400, "/body"},
		{"path template", "GET", "/orders/42", "", shop, 200, ""},
		{"path template pattern", "GET", "/orders/4x2", "", shop, 400, "/path/orderId"},
		{"query maximum", "GET", "/orders?limit=1000", "", shop, 400, "/query/limit"},
		{"inherited security", "GET", "/orders", "", &gateway.Identity{Consumer: "x"}, 403, ""},
		{"operation security", "GET", "/admin/stats", "", shop, 403, ""},
		{"security: [] needs no identity", "GET", "/health", "", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, next := serve(t, o, newRequest(tt.method, tt.target, tt.body, tt.id))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want == 200 && next.body != tt.body {
				t.Fatalf("upstream got %q, want %q", next.body, tt.body)
			}
			if tt.want == 400 {
				errs := problemErrors(t, w.Body.String())
				if errs[0].Pointer != tt.pointer {
					t.Fatalf("errors %+v, want the first at %q", errs, tt.pointer)
				}
				if strings.Contains(w.Body.String(), "hunter2") {
					t.Fatalf("the answer echoes a value: %s", w.Body)
				}
			}
		})
	}
}

func TestReportMode(t *testing.T) {
	o := provisioned(t, &OpenAPI{File: exampleDoc, ValidateRequest: true, Scopes: ScopesFromSecurity, Mode: gateway.Report})
	for _, target := range []string{"/refunds", "/orders/4x2"} {
		r := newRequest("GET", target, "", &gateway.Identity{Consumer: "x", Scopes: []string{"orders:read"}})
		w, next := serve(t, o, r)
		if w.Code != 200 || !next.called {
			t.Fatalf("%s: report mode refused: %d", target, w.Code)
		}
		ds := gateway.WouldRejectFrom(r)
		if len(ds) != 1 || ds[0].Handler != "api_openapi" {
			t.Fatalf("%s: would_reject %+v", target, ds)
		}
	}
}

func TestMaxBody(t *testing.T) {
	o := provisioned(t, &OpenAPI{File: exampleDoc, ValidateRequest: true, MaxBody: 64})
	body := `{"items":[{"sku":"TEA-1","quantity":1}],"note":"` + strings.Repeat("a", 100) + `","delivery":{"pickup":"shop"}}`
	r := newRequest("POST", "/orders", body, nil)
	r.ContentLength = -1 // chunked: the limit holds while reading too
	w, next := serve(t, o, r)
	if w.Code != 413 || next.called {
		t.Fatalf("status %d, want 413", w.Code)
	}
}

// jsonResponder answers with a fixed JSON body.
type jsonResponder string

func (j jsonResponder) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write([]byte(j))
	return err
}

func TestResponseValidationReports(t *testing.T) {
	o := provisioned(t, &OpenAPI{File: exampleDoc, ValidateResponse: true})
	for _, tc := range []struct {
		body   string
		report bool
	}{
		{`{"id":"42","status":"open","items":[{"sku":"TEA-1","quantity":1}],"delivery":{"pickup":"shop"}}`, false},
		{`{"id":42}`, true},
	} {
		r := newRequest("GET", "/orders/42", "", nil)
		w := httptest.NewRecorder()
		if err := o.ServeHTTP(w, r, jsonResponder(tc.body)); err != nil {
			t.Fatal(err)
		}
		if w.Code != 200 || w.Body.String() != tc.body {
			t.Fatalf("the response was altered: %d %s", w.Code, w.Body)
		}
		if got := len(gateway.WouldRejectFrom(r)) == 1; got != tc.report {
			t.Fatalf("%s: reported %v, want %v", tc.body, got, tc.report)
		}
	}
}

var _ caddyhttp.Handler = jsonResponder("")
