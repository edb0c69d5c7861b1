package upstream

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUpstreamAuthCaddyfile(t *testing.T) {
	const te = "api_upstream_auth {\n\ttoken_exchange https://idp/token {\n"
	tests := []struct {
		in, want, err string
	}{
		{in: te + "\t\tclient_id gw\n\t\tclient_secret {env.S}\n\t\taudience orders\n\t\tscope a b\n\t\tresource https://o\n\t\tfallback client_credentials\n\t}\n\theader X-Token\n\ttimeout 5s\n\tcache_size 100\n}",
			want: `{"token_exchange":{"token_url":"https://idp/token","client_id":"gw","client_secret":"{env.S}","audience":["orders"],"scope":["a","b"],"resource":["https://o"],"fallback":"client_credentials"},"header":"X-Token","timeout":5000000000,"cache_size":100}`},
		{in: te + "\t\tclient_id gw\n\t\tauth_method private_key_jwt\n\t\tkey_file k.pem\n\t\tkey_id k1\n\t\tsubject_token_type jwt\n\t}\n}",
			want: `{"token_exchange":{"token_url":"https://idp/token","client_id":"gw","auth_method":"private_key_jwt","key_file":"k.pem","key_id":"k1","subject_token_type":"jwt"}}`},
		{in: "api_upstream_auth {\n\tclient_credentials https://idp/token {\n\t\tclient_id gw\n\t\tclient_secret s\n\t\tauth_method client_secret_post\n\t\tscope s1\n\t\taudience billing\n\t}\n}",
			want: `{"client_credentials":{"token_url":"https://idp/token","client_id":"gw","client_secret":"s","auth_method":"client_secret_post","scope":["s1"],"audience":["billing"]}}`},
		{in: te + "\t\tclient_secret s\n\t}\n}", err: `token_exchange: client_id is required, at Testfile:4`},
		{in: te + "\t\tclient_id gw\n\t\tfallback api_key\n\t}\n}", err: `the only fallback is client_credentials, at Testfile:5`},
		{in: te + "\t\tclient_id gw\n\t\tauth_method tls\n\t}\n}", err: `auth_method "tls"`},
		{in: te + "\t\tclient_id gw\n\t\tauth_method private_key_jwt\n\t}\n}", err: `needs key_file`},
		{in: te + "\t\tclient_id gw\n\t\tsubject_token_type id_token\n\t}\n}", err: `subject_token_type "id_token"`},
		{in: te + "\t\tclient_id gw\n\t\tcolour red\n\t}\n}", err: `token_exchange: unrecognized subdirective "colour", at Testfile:4`},
		{in: te + "\t\tclient_id gw\n\t\tclient_id gx\n\t}\n}", err: `duplicate subdirective "client_id", at Testfile:4`},
		{in: te + "\t\tclient_id gw\n\t\taudience\n\t}\n}", err: `wrong argument count`},
		{in: te + "\t\tclient_id gw\n\t\tscope a,b\n\t}\n}", err: `contains a comma`},
		{in: "api_upstream_auth {\n\ttoken_exchange ftp://idp {\n\t\tclient_id gw\n\t}\n}", err: `not an http(s) URL, at Testfile:4`},
		{in: "api_upstream_auth {\n\ttoken_exchange {\n\t\tclient_id gw\n\t}\n}", err: `wrong argument count`},
		{in: te + "\t\tclient_id gw\n\t}\n\tclient_credentials https://idp {\n\t\tclient_id gw\n\t}\n}", err: `give one of token_exchange and client_credentials, at Testfile:5`},
		{in: "api_upstream_auth {\n\theader \"Bad Name\"\n}", err: `is not a header name, at Testfile:2`},
		{in: "api_upstream_auth {\n\tcache_size 0\n}", err: `cache_size "0"`},
		{in: "api_upstream_auth {\n\tsecret x\n}", err: `unrecognized subdirective "secret", at Testfile:2`},
		{in: "api_upstream_auth extra", err: `wrong argument count`},
	}
	for _, tt := range tests {
		var u UpstreamAuth
		err := u.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
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
		if got, _ := json.Marshal(u); string(got) != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

func TestUpstreamAuthValidate(t *testing.T) {
	for name, u := range map[string]UpstreamAuth{
		"none":     {},
		"both":     {TokenExchange: &TokenExchange{TokenURL: "https://i/t", ClientID: "g"}, ClientCredentials: &ClientCredentials{TokenURL: "https://i/t", ClientID: "g"}},
		"no id":    {ClientCredentials: &ClientCredentials{TokenURL: "https://i/t"}},
		"pkjwt cc": {ClientCredentials: &ClientCredentials{TokenURL: "https://i/t", ClientID: "g", AuthMethod: authPrivateKey}},
		"key+sec":  {TokenExchange: &TokenExchange{TokenURL: "https://i/t", ClientID: "g", AuthMethod: authPrivateKey, KeyFile: "k", ClientSecret: "s"}},
		"header":   {Header: "a:b", ClientCredentials: &ClientCredentials{TokenURL: "https://i/t", ClientID: "g"}},
	} {
		if err := u.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
