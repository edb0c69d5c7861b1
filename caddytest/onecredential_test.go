package caddytest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Both orders of api_key and jwt, one route each, so one Caddy serves both.
const oneCredentialSite = `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	handle /key-first/* {
		api_auth {
			api_key {
				query api_key
			}
			{JWT}
		}
		{PROXY}
	}
	handle /jwt-first/* {
		api_auth {
			{JWT}
			api_key {
				query api_key
			}
		}
		{PROXY}
	}
}
`

const oneCredentialJWT = `jwt {
				jwks_url {IDP}/jwks
				issuer {IDP}/
				audience orders-api
			}`

const oneCredentialProxy = `reverse_proxy {UPSTREAM} {
			header_up X-Consumer {http.auth.user.id}
			header_up X-Method {http.auth.user.method}
		}`

// TestOnlyOneVerifiedCredentialReachesTheUpstream: with api_key and jwt in
// either order, a request holding two credentials (a valid key beside a
// forged alg:none token, a valid token beside another consumer's key, two
// keys, one key twice, a key beside Basic credentials) is refused with 401
// invalid_request and never reaches the upstream; a request holding one valid
// credential passes, and the upstream gets the identity but no credential.
func TestOnlyOneVerifiedCredentialReachesTheUpstream(t *testing.T) {
	k := NewES256Key(t, "k1")
	p := StartIdP(t, k)
	up := StartUpstream(t, nil)
	site := strings.NewReplacer("{JWT}", oneCredentialJWT, "{PROXY}", oneCredentialProxy).Replace(oneCredentialSite)
	g := StartGateway(t, site, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{IDP}", p.URL)

	shop := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})
	other := g.CreateKey(map[string]any{"consumer": "other", "scopes": []string{"admin"}})
	good := k.Sign(t, auth0Claims(p), nil)
	enc := base64.RawURLEncoding.EncodeToString
	forged := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(`{"iss":"`+p.Issuer+`","aud":"orders-api","sub":"admin","scope":"admin","exp":9999999999}`)) + "."

	refused := map[string]struct {
		query string
		h     http.Header
	}{
		"valid key, forged alg none token":  {"", http.Header{"X-Api-Key": {shop.Key}, "Authorization": {"Bearer " + forged}}},
		"valid token, other consumer's key": {"", http.Header{"Authorization": {"Bearer " + good}, "X-Api-Key": {other.Key}}},
		"valid token, other's key in query": {"api_key=" + other.Key, http.Header{"Authorization": {"Bearer " + good}}},
		"key header and other key in query": {"api_key=" + other.Key, http.Header{"X-Api-Key": {shop.Key}}},
		"key header and other key bearer":   {"", http.Header{"X-Api-Key": {shop.Key}, "Authorization": {"Bearer " + other.Key}}},
		"same key in header and query":      {"api_key=" + shop.Key, http.Header{"X-Api-Key": {shop.Key}}},
		"repeated key header":               {"", http.Header{"X-Api-Key": {shop.Key, other.Key}}},
		"repeated authorization":            {"", http.Header{"Authorization": {"Bearer " + good, "Bearer " + forged}}},
		"repeated query parameter":          {"api_key=" + shop.Key + "&api_key=" + other.Key, nil},
		"valid key and basic credentials":   {"", http.Header{"X-Api-Key": {shop.Key}, "Authorization": {"Basic YWRtaW46YWRtaW4="}}},
		// Query names a lenient upstream reads as api_key: PHP maps '.' and
		// ' ' to '_', ASP.NET ignores case, some servers split on ';'.
		// (Caddy drops header names with '_' or '.' itself.)
		"valid token, other's key as API_KEY":        {"API_KEY=" + other.Key, http.Header{"Authorization": {"Bearer " + good}}},
		"valid token, other's key as api.key":        {"api.key=" + other.Key, http.Header{"Authorization": {"Bearer " + good}}},
		"valid token, other's key as api+key":        {"api+key=" + other.Key, http.Header{"Authorization": {"Bearer " + good}}},
		"valid token, other's key after a semicolon": {"x=1;api_key=" + other.Key, http.Header{"Authorization": {"Bearer " + good}}},
		"valid key, other's key as Api_Key":          {"Api_Key=" + other.Key, http.Header{"X-Api-Key": {shop.Key}}},
	}
	passed := map[string]struct {
		query    string
		h        http.Header
		consumer string
	}{
		"key header": {"", http.Header{"X-Api-Key": {shop.Key}}, "shop"},
		"key bearer": {"", http.Header{"Authorization": {"Bearer " + shop.Key}}, "shop"},
		"key query":  {"api_key=" + shop.Key, nil, "shop"},
		"jwt":        {"", http.Header{"Authorization": {"Bearer " + good}}, "auth0|64b7f1c2a9"},
	}
	for _, route := range []string{"/key-first/", "/jwt-first/"} {
		for name, c := range refused {
			url := g.URL(route + "orders?page=2")
			if c.query != "" {
				url += "&" + c.query
			}
			h := c.h.Clone()
			if h == nil {
				h = http.Header{}
			}
			status, hdr, body := doHeaders(t, "GET", url, h)
			if status != 401 || hdr.Get("WWW-Authenticate") != `Bearer realm="api", error="invalid_request"` || hdr.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s%s: %d %q %q: %s", route, name, status, hdr.Get("WWW-Authenticate"), hdr.Get("Content-Type"), body)
			}
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("the upstream saw %d refused requests: %+v", n, up.Requests())
	}
	for _, route := range []string{"/key-first/", "/jwt-first/"} {
		for name, c := range passed {
			url := g.URL(route + "orders?page=2")
			if c.query != "" {
				url += "&" + c.query
			}
			h := c.h.Clone()
			if h == nil {
				h = http.Header{}
			}
			status, _, body := doHeaders(t, "GET", url, h)
			if status != 200 {
				t.Errorf("%s%s: %d %s", route, name, status, body)
				continue
			}
			r := received(t, body)
			if r.Header.Get("X-Consumer") != c.consumer {
				t.Errorf("%s%s: consumer %q", route, name, r.Header.Get("X-Consumer"))
			}
			if len(r.Header.Values("X-Api-Key"))+len(r.Header.Values("Authorization")) != 0 || r.RawQuery != "page=2" {
				t.Errorf("%s%s: a credential reached the upstream: %v %q", route, name, r.Header, r.RawQuery)
			}
		}
	}

	// Whatever was sent, the upstream never received a raw credential.
	seen, err := json.Marshal(up.Requests())
	if err != nil {
		t.Fatal(err)
	}
	for what, secret := range map[string]string{
		"shop key": shop.Key, "shop secret": secretOf(shop.Key), "other key": other.Key,
		"other secret": secretOf(other.Key), "token": good, "forged token": forged,
		"token signature": good[strings.LastIndexByte(good, '.')+1:],
	} {
		if secret == "" {
			t.Fatalf("%s is empty: the test would prove nothing", what)
		}
		if strings.Contains(string(seen), secret) {
			t.Errorf("the upstream received the %s", what)
		}
	}
	if n := len(up.Requests()); n != 2*len(passed) {
		t.Fatalf("the upstream saw %d requests, want %d", n, 2*len(passed))
	}
}
