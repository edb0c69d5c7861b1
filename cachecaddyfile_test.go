package apigate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func TestCacheCaddyfile(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: `api_cache`, want: `{}`},
		{in: `api_cache {
			ttl 30s
			max_size 256MB
			max_item 1MiB
			share public
			wait 2s
		}`, want: `{"ttl":30000000000,"max_size":256000000,"max_item":1048576,"share":"public","wait":2000000000}`},
		{in: "api_cache {\n\tttl 30s\n\tttl 40s\n}", err: `api_cache: duplicate subdirective "ttl", at Testfile:3`},
		{in: "api_cache {\n\tsize 1MB\n}", err: `api_cache: unrecognized subdirective "size", at Testfile:2`},
		{in: "api_cache {\n\tshare everyone\n}", err: `share "everyone"`},
		{in: "api_cache {\n\tmax_size lots\n}", err: `max_size "lots" is not a size`},
		{in: "api_cache {\n\tmax_size 0\n}", err: `is not a size`},
		{in: "api_cache {\n\tttl -5s\n}", err: `must not be negative`},
		{in: "api_cache {\n\tttl soon\n}", err: `invalid duration`},
		{in: "api_cache {\n\tttl 1s 2s\n}", err: `wrong argument count`},
		{in: "api_cache {\n\tmax_size 1KB\n\tmax_item 1MB\n}", err: `max_item is larger than max_size`},
		{in: `api_cache extra`, err: `wrong argument count`},
	}
	for _, tt := range tests {
		var c Cache
		err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if got, _ := json.Marshal(c); string(got) != tt.want {
			t.Errorf("%q: %s, want %s", tt.in, got, tt.want)
		}
	}
}

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
