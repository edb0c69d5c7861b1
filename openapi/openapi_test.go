package openapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

const validPet = `{"id":10,"name":"doggie","photoUrls":["https://example.com/a.png"],"status":"available","category":{"id":1,"name":"Dogs"}}`

var (
	writer  = &gateway.Identity{Consumer: "w", Scopes: []string{"write:pets", "read:pets"}}
	reader  = &gateway.Identity{Consumer: "r", Scopes: []string{"read:pets"}}
	keyUser = &gateway.Identity{Consumer: "k", Method: "api_key"}
)

// problemErrors decodes the errors list of a 400.
func problemErrors(t *testing.T, body string) []fieldError {
	t.Helper()
	var p invalidProblem
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("400 body %q: %v", body, err)
	}
	return p.Errors
}

func TestPetstore30(t *testing.T) {
	o := provisioned(t, &OpenAPI{File: petstore(t), ValidateRequest: true, Scopes: ScopesFromSecurity})
	tests := []struct {
		name, method, target, body string
		id                         *gateway.Identity
		want                       int
		pointer                    string // the first error's pointer, for a 400
		allow                      string
	}{
		{"valid post", "POST", "/api/v3/pet", validPet, writer, 200, "", ""},
		{"valid get with path template", "GET", "/api/v3/pet/10", "", keyUser, 200, "", ""},
		{"valid query", "GET", "/api/v3/pet/findByStatus?status=sold", "", writer, 200, "", ""},
		{"unknown path", "GET", "/api/v3/unicorns", "", writer, 404, "", ""},
		{"outside the server base path", "GET", "/pet/10", "", writer, 404, "", ""},
		{"other method", "PATCH", "/api/v3/pet/10", "", writer, 405, "", "DELETE, GET, POST"},
		{"no identity", "POST", "/api/v3/pet", validPet, nil, 401, "", ""},
		{"lacks write:pets", "POST", "/api/v3/pet", validPet, reader, 403, "", ""},
		{"api key alternative needs no scope", "GET", "/api/v3/pet/10", "", keyUser, 200, "", ""},
		{"path parameter type", "GET", "/api/v3/pet/ten", "", writer, 400, "/path/petId", ""},
		{"query enum", "GET", "/api/v3/pet/findByStatus?status=hungry", "", writer, 400, "/query/status", ""},
		{"body type", "POST", "/api/v3/pet", `{"name":7,"photoUrls":[]}`, writer, 400, "/body/name", ""},
		{"body required", "POST", "/api/v3/pet", `{"photoUrls":[]}`, writer, 400, "/body", ""},
		{"body enum", "POST", "/api/v3/pet", `{"name":"a","photoUrls":[],"status":"s3cr3t"}`, writer, 400, "/body/status", ""},
		{"body not json", "POST", "/api/v3/pet", `{"name":`, writer, 400, "/body", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, next := serve(t, o, newRequest(tt.method, tt.target, tt.body, tt.id))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want == 200 {
				if !next.called || next.body != tt.body {
					t.Fatalf("upstream got %q (called %v), want the body untouched", next.body, next.called)
				}
				return
			}
			if next.called {
				t.Fatal("a refused request reached the upstream")
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Fatalf("Allow %q, want %q", got, tt.allow)
			}
			if tt.want == 403 && !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="insufficient_scope", scope="write:pets read:pets"`) {
				t.Fatalf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
			if tt.want != 400 {
				return
			}
			errs := problemErrors(t, w.Body.String())
			if len(errs) == 0 || len(errs) > maxErrors || errs[0].Pointer != tt.pointer {
				t.Fatalf("errors %+v, want the first at %q", errs, tt.pointer)
			}
			if strings.Contains(w.Body.String(), "s3cr3t") || strings.Contains(w.Body.String(), "hungry") || strings.Contains(w.Body.String(), "ten") {
				t.Fatalf("the answer echoes a value: %s", w.Body)
			}
		})
	}
}

func TestCareRequest31(t *testing.T) {
	o := provisioned(t, &OpenAPI{File: careRequest(t), ValidateRequest: true, Scopes: ScopesFromSecurity})
	const id = "8d0f3b7e-2a4c-4b1e-9f3a-1c2d3e4f5a6b"
	tests := []struct {
		name, target, header string
		want                 int
		pointer              string
	}{
		{"valid, no security needs no identity", "/requests/" + id, "", 200, ""},
		{"valid tracing header", "/requests/" + id, id, 200, ""},
		{"path parameter pattern", "/requests/not-a-uuid", "", 400, "/path/request-id"},
		{"header parameter pattern", "/requests/" + id, "nope", 400, "/header/tracing-id"},
		{"unknown path", "/requests", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest("GET", tt.target, "", nil)
			if tt.header != "" {
				r.Header.Set("tracing-id", tt.header)
			}
			w, _ := serve(t, o, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want == 400 {
				if errs := problemErrors(t, w.Body.String()); errs[0].Pointer != tt.pointer {
					t.Fatalf("errors %+v, want %q", errs, tt.pointer)
				}
			}
		})
	}
	w, _ := serve(t, o, newRequest("POST", "/requests/"+id, "", nil))
	if w.Code != 405 || w.Header().Get("Allow") != "GET" {
		t.Fatalf("POST: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
}
