package caddytest

import (
	"strings"
	"testing"
	"time"
)

const introspectSite = `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	api_auth {
		jwt {
			jwks_url {IDP}/jwks
			issuer {IDP}/
			audience orders-api
		}
		introspect {IDP}/introspect {
			client_id apigate
			client_secret {env.APIGATE_TEST_INTROSPECT_SECRET}
			cache 2s
			negative_cache 1s
			audience orders-api
			claims client_id
		}
	}
	reverse_proxy {UPSTREAM} {
		header_up X-Consumer {http.auth.user.id}
		header_up X-Scopes {http.auth.user.scopes}
		header_up X-Method {http.auth.user.method}
		header_up X-Client {http.auth.user.client_id}
	}
}
`

func TestIntrospectionEndToEnd(t *testing.T) {
	k := NewES256Key(t, "k1")
	p := StartIdP(t, k)
	up := StartUpstream(t, nil)
	g := StartGateway(t, introspectSite, GatewayOptions{Env: []string{"APIGATE_TEST_INTROSPECT_SECRET=" + p.ClientSecret}}, "{UPSTREAM}", up.Addr, "{IDP}", p.URL)

	active := func(sub string) map[string]any {
		return map[string]any{"active": true, "sub": sub, "scope": "orders:read", "aud": "orders-api", "client_id": "mobile-app", "exp": time.Now().Add(time.Hour).Unix()}
	}
	// Active opaque token.
	p.SetIntrospection("opaque-1", active("shop"))
	status, _, body := g.Do("GET", "/x", bearerH("opaque-1"), "")
	if status != 200 {
		t.Fatalf("active: %d %s", status, body)
	}
	r := received(t, body)
	if r.Header.Get("X-Consumer") != "shop" || r.Header.Get("X-Method") != "introspect" || r.Header.Get("X-Client") != "mobile-app" || r.Header.Get("Authorization") != "" {
		t.Fatalf("upstream saw %v", r.Header)
	}
	// A JWT still goes to the jwt method, without an introspection call.
	calls := p.Introspects.Load()
	status, _, body = g.Do("GET", "/x", bearerH(k.Sign(t, auth0Claims(p), nil)), "")
	if status != 200 || received(t, body).Header.Get("X-Method") != "jwt" {
		t.Fatalf("jwt: %d %s", status, body)
	}
	if p.Introspects.Load() != calls {
		t.Fatal("a JWT was introspected")
	}

	// Inactive.
	if status, h, _ := g.Do("GET", "/x", bearerH("opaque-unknown"), ""); status != 401 || h.Get("WWW-Authenticate") != `Bearer realm="api", error="invalid_token"` {
		t.Fatalf("inactive: %d", status)
	}

	// Revoked: the cached entry keeps it working at most `cache`, then 401.
	p.SetIntrospection("opaque-1", nil)
	Eventually(t, 10*time.Second, "the revoked token is refused once its cache entry expires", func() bool {
		status, _, _ := g.Do("GET", "/x", bearerH("opaque-1"), "")
		return status == 401
	})

	// IdP down: a cached token keeps working; an uncached one gets 503 and Retry-After.
	p.SetIntrospection("opaque-2", active("billing"))
	if status, _, _ := g.Do("GET", "/x", bearerH("opaque-2"), ""); status != 200 {
		t.Fatalf("opaque-2: %d", status)
	}
	p.Down.Store(true)
	if status, _, _ := g.Do("GET", "/x", bearerH("opaque-2"), ""); status != 200 {
		t.Fatalf("cached token while the IdP is down: %d", status)
	}
	p.SetIntrospection("opaque-3", active("ops"))
	status, h, body := g.Do("GET", "/x", bearerH("opaque-3"), "")
	if status != 503 || h.Get("Retry-After") == "" || h.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("uncached token while the IdP is down: %d %v %s", status, h, body)
	}
	p.Down.Store(false)
	if status, _, _ := g.Do("GET", "/x", bearerH("opaque-3"), ""); status != 200 {
		t.Fatalf("after the IdP is back: %d", status)
	}
	for _, rq := range up.Requests() {
		if rq.Header.Get("Authorization") != "" {
			t.Fatal("a token reached the upstream")
		}
	}
	_, metrics := g.AdminDo("GET", "/metrics", nil)
	for _, want := range []string{
		`caddy_apigate_idp_requests_total{kind="introspect",result="ok"}`,
		`caddy_apigate_idp_requests_total{kind="introspect",result="error"}`,
		`caddy_apigate_idp_requests_total{kind="jwks",result="ok"}`,
		`caddy_apigate_decisions_total{handler="api_auth",outcome="inactive"}`,
		`caddy_apigate_decisions_total{handler="api_auth",outcome="idp_unavailable"}`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(metrics), "opaque-") {
		t.Fatal("a token appears in the metrics")
	}
}
