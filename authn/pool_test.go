package authn

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

const poolSecret = "pool-test-secret-0123456789abcdef"

func provisionJWT(t *testing.T, m *JWTMethod) *JWTMethod {
	t.Helper()
	if err := m.Provision(testContext(t)); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTokenCacheBelongsToConfiguration: jwt methods configured alike (a
// reload keeping the configuration) share one verified-token cache, which
// outlives the config that made it; a change of what decides a token's worth
// (issuer, secret, claims) gets another; the pool key never holds a secret.
func TestTokenCacheBelongsToConfiguration(t *testing.T) {
	conf := func() *JWTMethod {
		return &JWTMethod{Secret: poolSecret, Issuer: testIss, Audience: []string{testAud}, Algorithms: []string{"HS256"}, ScopesClaim: []string{"scope"}}
	}
	old := provisionJWT(t, conf())
	if strings.Contains(old.cacheKey, poolSecret) || !strings.HasPrefix(old.cacheKey, "jwt:") {
		t.Fatalf("pool key %q", old.cacheKey)
	}
	tok := signHS256(t, poolSecret, goodClaims())
	if _, err := old.verifier.Verify(context.Background(), tok, t0); err != nil {
		t.Fatal(err)
	}
	reloaded := provisionJWT(t, conf())
	if reloaded.verifier.Cache != old.verifier.Cache || reloaded.cacheKey != old.cacheKey {
		t.Fatal("a config configured alike got another token cache")
	}
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if reloaded.verifier.Cache.Len() != 1 {
		t.Fatal("the verified token was lost when the old config was cleaned up")
	}
	for name, change := range map[string]func(m *JWTMethod){
		"issuer": func(m *JWTMethod) { m.Issuer = "https://other.example/" },
		"secret": func(m *JWTMethod) { m.Secret = poolSecret + "2" },
		"claims": func(m *JWTMethod) { m.Claims = []string{"email"} },
		"scopes": func(m *JWTMethod) { m.ScopesClaim = []string{"permissions"} },
	} {
		m := conf()
		change(m)
		provisionJWT(t, m)
		if m.verifier.Cache == reloaded.verifier.Cache || m.cacheKey == reloaded.cacheKey {
			t.Errorf("a change of %s kept the token cache", name)
		}
		m.Cleanup() //nolint:errcheck
	}
	key := reloaded.cacheKey
	reloaded.Cleanup() //nolint:errcheck
	if _, ok := tokenCaches.References(key); ok {
		t.Fatal("the token cache outlived its last config")
	}
}

// TestIntrospectionCacheSurvivesReload: after a reload that keeps the
// introspect configuration, a token introspected before is not sent to the
// provider again.
func TestIntrospectionCacheSurvivesReload(t *testing.T) {
	p := newIntrospectIDP(t)
	p.set("opaque-1", map[string]any{"active": true, "sub": "shop", "exp": t0.Add(time.Hour).Unix()})
	conf := func() *IntrospectMethod {
		return &IntrospectMethod{URL: p.srv.URL, ClientID: "gate:way", ClientSecret: "s&cret"}
	}
	provision := func(m *IntrospectMethod) *IntrospectMethod {
		t.Helper()
		if err := m.Provision(testContext(t)); err != nil {
			t.Fatal(err)
		}
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Cleanup() }) //nolint:errcheck
		return m
	}
	old := provision(conf())
	if strings.Contains(old.cacheKey, "s&cret") {
		t.Fatalf("pool key %q holds the secret", old.cacheKey)
	}
	if _, err := old.in.Verify(context.Background(), "opaque-1", t0); err != nil {
		t.Fatal(err)
	}
	reloaded := provision(conf())
	old.Cleanup() //nolint:errcheck
	if _, err := reloaded.in.Verify(context.Background(), "opaque-1", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("%d introspection calls, want 1 (the reload kept the cache)", n)
	}
	other := conf()
	other.Cache = caddy.Duration(time.Minute)
	provision(other)
	if _, err := other.in.Verify(context.Background(), "opaque-1", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := p.calls.Load(); n != 2 {
		t.Fatalf("%d introspection calls, want 2 (another configuration, another cache)", n)
	}
}

// TestJWKSPoolLogsThroughCurrentConfig: jwt methods naming one provider
// share its key set; its refresh loop starts once, and logs through the
// logger of the config provisioned last.
func TestJWKSPoolLogsThroughCurrentConfig(t *testing.T) {
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	conf := func() *JWTMethod {
		return &JWTMethod{JWKSURL: srv.URL + "/jwks", Issuer: testIss, Audience: []string{testAud}}
	}
	a, b := provisionJWT(t, conf()), provisionJWT(t, conf())
	t.Cleanup(func() { a.Cleanup(); b.Cleanup() }) //nolint:errcheck
	if a.remote != b.remote {
		t.Fatal("two configs of one provider got two key sets")
	}
	logger := zap.NewNop()
	c, err := loadKeys(a.keysName, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer jwksPool.Delete(a.keysName) //nolint:errcheck
	if c != a.remote || c.logger.Load() != logger {
		t.Fatal("the pooled key set does not log through the latest config's logger")
	}
	if a.remote.Fetches() != 0 {
		t.Fatal("provisioning fetched keys before the method was validated")
	}
}

// TestLockoutNames: a lockout's state is named by its configuration.
func TestLockoutNames(t *testing.T) {
	a := LockoutConfig{Failures: 10, Window: caddy.Duration(time.Minute), Duration: caddy.Duration(15 * time.Minute)}
	b := a
	if a.name() != b.name() || a.name() != "10/1m0s/15m0s" {
		t.Fatalf("names %q %q", a.name(), b.name())
	}
	b.Duration = caddy.Duration(time.Hour)
	if a.name() == b.name() {
		t.Fatal("two lockouts configured differently share a name")
	}
}

func signHS256(t testing.TB, secret string, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
