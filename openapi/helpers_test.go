package openapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// specFile returns a document of a module's own test data, read where the
// module cache keeps it (never copied into this repository).
func specFile(t testing.TB, mod, name string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod).Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("go list -m %s: %v", mod, err)
	}
	return filepath.Join(dir, "test_specs", name)
}

// The real documents the tests read: the Swagger Petstore (OpenAPI 3.0) of
// libopenapi-validator, and Deliveroo's care request API (OpenAPI 3.1).
func petstore(t testing.TB) string {
	return specFile(t, "github.com/pb33f/libopenapi-validator", "petstorev3.json")
}

func careRequest(t testing.TB) string {
	return specFile(t, "github.com/pb33f/libopenapi-validator", "care_request.yaml")
}

// provisioned returns o validated and provisioned as Caddy would.
func provisioned(t testing.TB, o *OpenAPI) *OpenAPI {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Cleanup() })
	return o
}

// newRequest builds a request as Caddy's server prepares it, with the caller
// id when it is not nil.
func newRequest(method, target, body string, id *gateway.Identity) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	r = r.WithContext(ctx)
	if id != nil {
		gateway.SetIdentity(r, id)
	}
	return r
}

// upstream is the next handler: it records the body it received.
type upstream struct {
	called bool
	body   string
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	u.called = true
	b, _ := io.ReadAll(r.Body)
	u.body = string(b)
	w.WriteHeader(http.StatusOK)
	return nil
}

// serve runs one request through o.
func serve(t testing.TB, o *OpenAPI, r *http.Request) (*httptest.ResponseRecorder, *upstream) {
	t.Helper()
	w := httptest.NewRecorder()
	next := &upstream{}
	if err := o.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	return w, next
}

// writeFile writes text to dir/name and returns its path.
func writeFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
