package apigate

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestUpstreamAuthDirectiveOrder checks that api_upstream_auth runs after
// api_cache (a cache hit needs no token) and before basic_auth.
func TestUpstreamAuthDirectiveOrder(t *testing.T) {
	src := `http://127.0.0.1:8080 {
	reverse_proxy 127.0.0.1:9000
	basic_auth {
		u $2a$14$2CRTcbYIRlSZmJ6pK0DSQefdgvDeC8Ja7GgqIlFVjXMvVf7kh3uHO
	}
	api_upstream_auth {
		client_credentials https://idp.example/token {
			client_id gw
		}
	}
	api_cache
	api_auth
}`
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, last := string(out), -1
	for _, h := range []string{`"handler":"api_auth"`, `"handler":"api_cache"`, `"handler":"api_upstream_auth"`, `"handler":"authentication"`, `"handler":"reverse_proxy"`} {
		i := strings.Index(s, h)
		if i < 0 || i < last {
			t.Fatalf("%s out of order in %s", h, s)
		}
		last = i
	}
}

func TestLegacyBackendsExampleAdapts(t *testing.T) {
	assertExampleJSON(t, "examples/legacy-backends.Caddyfile", "examples/legacy-backends.json")
}
