package authz

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestAuthorizeCaddyfile(t *testing.T) {
	tests := []caddyfileCase{
		{in: `api_authorize`, want: `{}`},
		{in: `api_authorize orders:read orders:write`, want: `{"all":["orders:read","orders:write"]}`},
		{in: "api_authorize {\n\tall orders:read\n\tany admin support\n\tip 10.0.0.0/8 192.0.2.1\n}",
			want: `{"all":["orders:read"],"any":["admin","support"],"ips":["10.0.0.0/8","192.0.2.1"]}`},
		{in: "api_authorize a {\n\tall b\n}", want: `{"all":["a","b"]}`},
		{in: "api_authorize admin {\n\tmode report\n}", want: `{"all":["admin"],"mode":"report"}`},
		{in: "api_authorize {\n\tmode enforce\n}", want: `{"mode":"enforce"}`},
		{in: `api_authorize "a b"`, err: `scope "a b" is not valid: a scope is printable ASCII`},
		{in: `api_authorize orders:read,orders:write`, err: `contains a comma`},
		{in: `api_authorize ""`, err: `is not valid`},
		{in: "api_authorize {\n\tnone x\n}", err: `api_authorize: unrecognized subdirective "none", at Testfile:2`},
		{in: "api_authorize {\n\tall\n}", err: `wrong argument count`},
		{in: "api_authorize {\n\tip\n}", err: `wrong argument count`},
		{in: "api_authorize {\n\tip 10.0.0.0/33\n}", err: `ip "10.0.0.0/33" is not an IP address or CIDR prefix, at Testfile:2`},
		{in: "api_authorize {\n\tany a\n\tany b\n}", err: `api_authorize: duplicate subdirective "any", at Testfile:3`},
		{in: "api_authorize {\n\tany a=b\n}", err: `contains '='`},
		{in: "api_authorize {\n\tmode shadow\n}", err: `mode "shadow": want enforce or report, at Testfile:2`},
		{in: "api_authorize {\n\tmode\n}", err: `wrong argument count`},
		{in: "api_authorize {\n\tmode report enforce\n}", err: `wrong argument count`},
	}
	checkCaddyfile(t, tests, func() caddyfile.Unmarshaler { return new(Authorize) })
}

func TestScopeCaddyfile(t *testing.T) {
	tests := []caddyfileCase{
		{in: `api_scope staff reports`, want: `["staff","reports"]`},
		{in: "api_scope a\napi_scope b", want: `["a","b"]`},
		{in: `api_scope`, err: `wrong argument count or unexpected line ending after 'api_scope', at Testfile:1`},
		{in: `api_scope a,b`, err: `contains a comma`},
		{in: "api_scope a {\n\tb\n}", err: `api_scope takes no block`},
	}
	checkCaddyfile(t, tests, func() caddyfile.Unmarshaler { return new(MatchScope) })
}

type caddyfileCase struct{ in, want, err string }

// checkCaddyfile parses each case's input into a fresh value: the JSON it
// makes, or the error it gives.
func checkCaddyfile(t *testing.T, tests []caddyfileCase, fresh func() caddyfile.Unmarshaler) {
	t.Helper()
	for _, tt := range tests {
		v := fresh()
		err := v.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
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
		if got, _ := json.Marshal(v); string(got) != tt.want {
			t.Errorf("%q: %s, want %s", tt.in, got, tt.want)
		}
	}
}

func FuzzCaddyfileAuthorize(f *testing.F) {
	gatewaytest.FuzzDirective(f, []string{
		"api_authorize a b", "api_authorize {\n all a\n any b c\n ip 10.0.0.0/8\n}", "api_authorize {\n ip x\n}",
		"api_authorize a {\n any\n}", "api_authorize \"\"", "api_authorize a {\n mode report\n}", "api_authorize {\n mode\n}",
	}, func(d *caddyfile.Dispenser) error { return new(Authorize).UnmarshalCaddyfile(d) })
}

func FuzzCaddyfileScope(f *testing.F) {
	gatewaytest.FuzzDirective(f, []string{"api_scope a", "api_scope", "api_scope a {\n}", "api_scope a\napi_scope b"},
		func(d *caddyfile.Dispenser) error { return new(MatchScope).UnmarshalCaddyfile(d) })
}
