package upstream

import (
	"testing"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUpstreamAuthCaddyfile(t *testing.T) {
	const te = "api_upstream_auth {\n\ttoken_exchange https://idp/token {\n"
	tests := []gatewaytest.CaddyfileCase{
		{In: te + "\t\tclient_id gw\n\t\tclient_secret {env.S}\n\t\taudience orders\n\t\tscope a b\n\t\tresource https://o\n\t\tfallback client_credentials\n\t}\n\theader X-Token\n\ttimeout 5s\n\tcache_size 100\n}",
			Want: `{"token_exchange":{"token_url":"https://idp/token","client_id":"gw","client_secret":"{env.S}","audience":["orders"],"scope":["a","b"],"resource":["https://o"],"fallback":"client_credentials"},"header":"X-Token","timeout":5000000000,"cache_size":100}`},
		{In: te + "\t\tclient_id gw\n\t\tauth_method private_key_jwt\n\t\tkey_file k.pem\n\t\tkey_id k1\n\t\tassertion_audience https://idp\n\t\tsubject_token_type jwt\n\t}\n}",
			Want: `{"token_exchange":{"token_url":"https://idp/token","client_id":"gw","auth_method":"private_key_jwt","key_file":"k.pem","key_id":"k1","assertion_audience":"https://idp","subject_token_type":"jwt"}}`},
		{In: te + "\t\tclient_id gw\n\t\tclient_secret s\n\t\tassertion_audience https://idp\n\t}\n}", Err: `assertion_audience are for auth_method private_key_jwt, at Testfile:6`},
		{In: "api_upstream_auth {\n\tclient_credentials https://idp/token {\n\t\tclient_id gw\n\t\tclient_secret s\n\t\tauth_method client_secret_post\n\t\tscope s1\n\t\taudience billing\n\t}\n}",
			Want: `{"client_credentials":{"token_url":"https://idp/token","client_id":"gw","client_secret":"s","auth_method":"client_secret_post","scope":["s1"],"audience":["billing"]}}`},
		{In: te + "\t\tclient_secret s\n\t}\n}", Err: `token_exchange: client_id is required, at Testfile:4`},
		{In: te + "\t\tclient_id gw\n\t\tfallback api_key\n\t}\n}", Err: `the only fallback is client_credentials, at Testfile:5`},
		{In: te + "\t\tclient_id gw\n\t\tauth_method tls\n\t}\n}", Err: `auth_method "tls"`},
		{In: te + "\t\tclient_id gw\n\t\tauth_method private_key_jwt\n\t}\n}", Err: `needs key_file`},
		{In: te + "\t\tclient_id gw\n\t\tsubject_token_type id_token\n\t}\n}", Err: `subject_token_type "id_token"`},
		{In: te + "\t\tclient_id gw\n\t\tcolour red\n\t}\n}", Err: `token_exchange: unrecognized subdirective "colour", at Testfile:4`},
		{In: te + "\t\tclient_id gw\n\t\tclient_id gx\n\t}\n}", Err: `duplicate subdirective "client_id", at Testfile:4`},
		{In: te + "\t\tclient_id gw\n\t\taudience\n\t}\n}", Err: `wrong argument count`},
		{In: te + "\t\tclient_id gw\n\t\tscope a,b\n\t}\n}", Err: `contains a comma`},
		{In: "api_upstream_auth {\n\ttoken_exchange ftp://idp {\n\t\tclient_id gw\n\t}\n}", Err: `not an http(s) URL, at Testfile:4`},
		{In: "api_upstream_auth {\n\ttoken_exchange {\n\t\tclient_id gw\n\t}\n}", Err: `wrong argument count`},
		{In: te + "\t\tclient_id gw\n\t}\n\tclient_credentials https://idp {\n\t\tclient_id gw\n\t}\n}", Err: `give one of token_exchange and client_credentials, at Testfile:5`},
		{In: "api_upstream_auth {\n\theader \"Bad Name\"\n}", Err: `is not a header name, at Testfile:2`},
		{In: "api_upstream_auth {\n\tcache_size 0\n}", Err: `cache_size "0"`},
		{In: "api_upstream_auth {\n\tsecret x\n}", Err: `unrecognized subdirective "secret", at Testfile:2`},
		{In: "api_upstream_auth extra", Err: `wrong argument count`},
	}
	gatewaytest.CaddyfileTable(t, tests, func() caddyfile.Unmarshaler { return new(UpstreamAuth) })
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
