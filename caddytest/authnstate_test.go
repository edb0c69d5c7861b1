package caddytest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// reloadConfig loads the gateway's own config again through the admin API, as
// `caddy reload` does (must-revalidate forces a reload of an unchanged
// config), and waits until the site answers.
func reloadConfig(t *testing.T, g *Gateway) {
	t.Helper()
	reloadWith(t, g, g.config)
}

// reloadWith loads the Caddyfile config (its placeholders already replaced,
// as g.config's are) through the admin API, as `caddy reload` of an edited
// Caddyfile does, makes it the gateway's config and waits until the site
// answers.
func reloadWith(t *testing.T, g *Gateway, config string) {
	t.Helper()
	g.config = config
	req, _ := http.NewRequest("POST", "http://"+g.Admin+"/load", strings.NewReader(g.config))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %d", resp.StatusCode)
	}
	client.CloseIdleConnections()
	Eventually(t, 10*time.Second, "the site after the reload", func() bool {
		_, err := http.Get(g.URL("/"))
		return err == nil
	})
}

// lockoutAuditSite has a lockout of 2 failures and the audit record of
// api_inspect in its own file.
const lockoutAuditSite = `{
	{ADMIN_OPTIONS}
	log default {
		output file {DIR}/caddy.log
		exclude http.handlers.api_inspect.audit
	}
	log audit {
		output file {DIR}/audit.log
		format json
		include http.handlers.api_inspect.audit
	}
	metrics
}

http://127.0.0.1:{PORT} {
	api_inspect {
		audit
	}
	api_auth {
		api_key
		lockout 2/1m 1m
	}
	respond "hello {http.auth.user.id}"
}
`

// lockOut sends two failed logins from this client and checks that the next
// request, with the right key, gets 429.
func lockOut(t *testing.T, g *Gateway, key string) {
	t.Helper()
	for i := 0; i < 2; i++ {
		if status, _, _ := g.Do("GET", "/failed", map[string]string{"X-API-Key": wrongKey(key)}, ""); status != 401 {
			t.Fatalf("failed login %d: %d", i+1, status)
		}
	}
	if status, h, _ := g.Do("GET", "/locked", map[string]string{"X-API-Key": key}, ""); status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("after 2 failures: %d", status)
	}
}

// TestLockoutIsARejection: a 429 of the lockout is in the audit record as
// rejected by api_auth for locked_out, and in rejections_total.
func TestLockoutIsARejection(t *testing.T) {
	g := StartGateway(t, lockoutAuditSite, GatewayOptions{})
	k := g.CreateKey(map[string]any{"consumer": "shop"})
	lockOut(t, g, k.Key)
	var rec map[string]any
	Eventually(t, 10*time.Second, "the audit record of the locked-out request", func() bool {
		rec = findAudit(auditRecords(t, g), "/locked")
		return rec != nil
	})
	for field, want := range map[string]any{"status": 429, "decision": "rejected", "handler": "api_auth", "reason": "locked_out"} {
		if fmt.Sprint(rec[field]) != fmt.Sprint(want) {
			t.Errorf("audit %s = %v, want %v (record %v)", field, rec[field], want, rec)
		}
	}
	if v, ok := metricValue(t, g, "caddy_apigate_rejections_total", `handler="api_auth"`, `reason="locked_out"`); !ok || v != 1 {
		t.Errorf(`rejections_total{handler="api_auth",reason="locked_out"} = %v, %v; want 1`, v, ok)
	}
	if v, ok := metricValue(t, g, "caddy_apigate_decisions_total", `handler="api_auth"`, `outcome="allowed"`); ok && v != 0 {
		t.Errorf("the refusals were counted as allowed: %v", v)
	}
}

// TestLockoutSurvivesReload: a locked-out address stays locked out after
// `caddy reload`.
func TestLockoutSurvivesReload(t *testing.T) {
	g := StartGateway(t, lockoutAuditSite, GatewayOptions{})
	k := g.CreateKey(map[string]any{"consumer": "shop"})
	lockOut(t, g, k.Key)
	reloadConfig(t, g)
	if status, _, _ := g.Do("GET", "/after-reload", map[string]string{"X-API-Key": k.Key}, ""); status != http.StatusTooManyRequests {
		t.Fatalf("after the reload: %d, want still locked out", status)
	}
}

// TestIntrospectionCacheSurvivesReload: after `caddy reload`, a repeated
// opaque token makes no new introspection call.
func TestIntrospectionCacheSurvivesReload(t *testing.T) {
	p := StartIdP(t)
	up := StartUpstream(t, nil)
	site := strings.Replace(introspectSite, "cache 2s", "cache 5m", 1)
	g := StartGateway(t, site, GatewayOptions{Env: []string{"APIGATE_TEST_INTROSPECT_SECRET=" + p.ClientSecret}}, "{UPSTREAM}", up.Addr, "{IDP}", p.URL)
	p.SetIntrospection("opaque-1", map[string]any{"active": true, "sub": "shop", "aud": "orders-api", "exp": time.Now().Add(time.Hour).Unix()})
	if status, _, body := g.Do("GET", "/x", bearerH("opaque-1"), ""); status != 200 {
		t.Fatalf("before the reload: %d %s", status, body)
	}
	calls := p.Introspects.Load()
	reloadConfig(t, g)
	if status, _, body := g.Do("GET", "/x", bearerH("opaque-1"), ""); status != 200 {
		t.Fatalf("after the reload: %d %s", status, body)
	}
	if n := p.Introspects.Load(); n != calls {
		t.Fatalf("the reload sent the token to the provider again: %d calls, was %d", n, calls)
	}
}

// TestJWKSKeyPublishedRightAfterStart: a token signed with a key the provider
// publishes right after the gateway fetched its keys at start is accepted on
// its first use (unknown_kid_interval, default 10s, delays only fetches
// caused by unknown kids).
func TestJWKSKeyPublishedRightAfterStart(t *testing.T) {
	k1, k2 := NewES256Key(t, "k1"), NewES256Key(t, "k2")
	p := StartIdP(t, k1)
	up := StartUpstream(t, nil)
	site := strings.Replace(jwtSite, "\t\t\tunknown_kid_interval 1s\n", "", 1)
	if site == jwtSite {
		t.Fatal("the site still sets unknown_kid_interval")
	}
	g := StartGateway(t, site, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{IDP}", p.URL)
	Eventually(t, 10*time.Second, "the fetch of the keys at start", func() bool { return p.JWKSFetches.Load() >= 1 })
	p.SetKeys(k1, k2)
	if status, _, body := g.Do("GET", "/orders", bearerH(k2.Sign(t, auth0Claims(p), nil)), ""); status != 200 {
		t.Fatalf("a key published right after start, first use: %d %s", status, body)
	}
}
