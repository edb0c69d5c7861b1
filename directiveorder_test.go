package apigate

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestCacheDirectiveOrder adapts a site whose directives are written out of
// order and checks the handler order api_auth, api_authorize, api_cache,
// basic_auth, reverse_proxy.
func TestCacheDirectiveOrder(t *testing.T) {
	src := `http://127.0.0.1:8080 {
	reverse_proxy 127.0.0.1:9000
	basic_auth {
		u $2a$14$2CRTcbYIRlSZmJ6pK0DSQefdgvDeC8Ja7GgqIlFVjXMvVf7kh3uHO
	}
	api_cache {
		ttl 30s
	}
	api_authorize orders:read
	api_auth
}`
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	last := -1
	for _, h := range []string{`"handler":"api_auth"`, `"handler":"api_authorize"`, `"handler":"api_cache"`, `"handler":"authentication"`, `"handler":"reverse_proxy"`} {
		i := strings.Index(s, h)
		if i < 0 || i < last {
			t.Fatalf("%s out of order in %s", h, s)
		}
		last = i
	}
	if !strings.Contains(s, `"handler":"api_cache","ttl":30000000000`) {
		t.Fatalf("api_cache config: %s", s)
	}
}

// TestOpenAPIDirectiveOrder: api_openapi runs after api_auth (it needs the
// identity for scopes) and before api_authorize.
func TestOpenAPIDirectiveOrder(t *testing.T) {
	src := `http://127.0.0.1:8080 {
	reverse_proxy 127.0.0.1:9000
	api_authorize orders:read
	api_openapi api.yaml
	api_auth
}`
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, last := string(out), -1
	for _, h := range []string{`"handler":"api_auth"`, `"handler":"api_openapi"`, `"handler":"api_authorize"`, `"handler":"reverse_proxy"`} {
		i := strings.Index(s, h)
		if i < 0 || i < last {
			t.Fatalf("%s out of order in %s", h, s)
		}
		last = i
	}
}
