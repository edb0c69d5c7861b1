package caddytest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const jwtSite = `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	api_auth {
		jwt {
			jwks_url {IDP}/jwks
			issuer {IDP}/
			audience orders-api
			algorithms ES256 RS256 EdDSA
			leeway 30s
			consumer_claim sub
			scopes_claim scope permissions
			claims email org_id
			unknown_kid_interval 1s
			timeout 10s
		}
	}
	api_authorize orders:read
	reverse_proxy {UPSTREAM} {
		header_up X-Consumer {http.auth.user.id}
		header_up X-Scopes {http.auth.user.scopes}
		header_up X-Method {http.auth.user.method}
		header_up X-Email {http.auth.user.email}
		header_up X-Org {http.auth.user.org_id}
	}
}
`

// auth0Claims is the shape of an Auth0 access token for an API: namespaced
// custom claims, "scope" as a string and RBAC "permissions" as an array.
func auth0Claims(p *IdP, kv ...any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss":         p.Issuer,
		"sub":         "auth0|64b7f1c2a9",
		"aud":         []string{"orders-api", p.URL + "/userinfo"},
		"iat":         now.Add(-time.Minute).Unix(),
		"exp":         now.Add(time.Hour).Unix(),
		"azp":         "Xk2mVq9",
		"scope":       "openid profile orders:read",
		"permissions": []string{"orders:read", "orders:write"},
		"email":       "shop@example.com",
		"org_id":      "org_42",
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func startJWTGateway(t *testing.T, keys ...*IdPKey) (*Gateway, *Upstream, *IdP) {
	p := StartIdP(t, keys...)
	up := StartUpstream(t, nil)
	g := StartGateway(t, jwtSite, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{IDP}", p.URL)
	return g, up, p
}

func bearerH(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

func TestJWTEndToEnd(t *testing.T) {
	k := NewES256Key(t, "k1")
	g, up, p := startJWTGateway(t, k)
	tok := k.Sign(t, auth0Claims(p), nil)
	for i := 0; i < 3; i++ {
		status, _, body := g.Do("GET", "/orders", bearerH(tok), "")
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		r := received(t, body)
		if got := r.Header.Get("X-Consumer"); got != "auth0|64b7f1c2a9" {
			t.Fatalf("consumer %q", got)
		}
		if got := r.Header.Get("X-Scopes"); got != "openid profile orders:read orders:write" {
			t.Fatalf("scopes %q", got)
		}
		if r.Header.Get("X-Method") != "jwt" || r.Header.Get("X-Email") != "shop@example.com" || r.Header.Get("X-Org") != "org_42" {
			t.Fatalf("placeholders: %v", r.Header)
		}
		if r.Header.Get("Authorization") != "" {
			t.Fatal("the token reached the upstream")
		}
	}
	if n := len(up.Requests()); n != 3 {
		t.Fatalf("upstream saw %d requests", n)
	}
	// Without the scope api_authorize refuses.
	tok2 := k.Sign(t, auth0Claims(p, "scope", "openid", "permissions", []string{}), nil)
	if status, _, _ := g.Do("GET", "/orders", bearerH(tok2), ""); status != 403 {
		t.Fatalf("without scope: %d", status)
	}
	if status, h, _ := g.Do("GET", "/orders", nil, ""); status != 401 || h.Get("WWW-Authenticate") != `Bearer realm="api"` {
		t.Fatalf("no token: %d %q", status, h.Get("WWW-Authenticate"))
	}
}

func TestJWTAttackMatrixEndToEnd(t *testing.T) {
	k := NewES256Key(t, "k1")
	ed := NewEdDSAKey(t, "ed")
	g, up, p := startJWTGateway(t, k, ed)
	good := k.Sign(t, auth0Claims(p), nil)
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString

	der, _ := x509.MarshalPKIXPublicKey(&k.Priv.(*ecdsa.PrivateKey).PublicKey)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, auth0Claims(p))
	hs.Header["kid"] = "k1"
	hsTok, _ := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	hsRaw, _ := hs.SignedString(der)
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[3] ^= 0x40
	attacker := NewES256Key(t, "k1")

	cases := map[string]http.Header{
		"alg none":               {"Authorization": {"Bearer " + enc([]byte(`{"alg":"none","kid":"k1"}`)) + "." + parts[1] + "."}},
		"HS256 with EC key PEM":  {"Authorization": {"Bearer " + hsTok}},
		"HS256 with EC key DER":  {"Authorization": {"Bearer " + hsRaw}},
		"alg outside allow-list": {"Authorization": {"Bearer " + signWith(t, jwt.SigningMethodHS512, []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), auth0Claims(p))}},
		"expired":                {"Authorization": {"Bearer " + k.Sign(t, auth0Claims(p, "exp", time.Now().Add(-time.Hour).Unix()), nil)}},
		"not yet valid":          {"Authorization": {"Bearer " + k.Sign(t, auth0Claims(p, "nbf", time.Now().Add(time.Hour).Unix()), nil)}},
		"wrong issuer":           {"Authorization": {"Bearer " + k.Sign(t, auth0Claims(p, "iss", "https://evil.example/"), nil)}},
		"wrong audience":         {"Authorization": {"Bearer " + k.Sign(t, auth0Claims(p, "aud", "billing-api"), nil)}},
		"tampered payload":       {"Authorization": {"Bearer " + parts[0] + "." + enc([]byte(`{"iss":"`+p.Issuer+`","aud":"orders-api","sub":"admin","scope":"orders:read admin","exp":9999999999}`)) + "." + parts[2]}},
		"tampered signature":     {"Authorization": {"Bearer " + parts[0] + "." + parts[1] + "." + enc(sig)}},
		"unknown crit":           {"Authorization": {"Bearer " + k.Sign(t, auth0Claims(p), map[string]any{"crit": []string{"x-custom"}, "x-custom": true})}},
		"kid with path":          {"Authorization": {"Bearer " + k.Sign(t, auth0Claims(p), map[string]any{"kid": "../../../etc/passwd"})}},
		"kid with sql":           {"Authorization": {"Bearer " + k.Sign(t, auth0Claims(p), map[string]any{"kid": "1' OR '1'='1"})}},
		"jku and x5u ignored":    {"Authorization": {"Bearer " + attacker.Sign(t, auth0Claims(p), map[string]any{"jku": p.URL + "/evil-jwks", "x5u": p.URL + "/evil.pem"})}},
		"malformed":              {"Authorization": {"Bearer not.a.jwt"}},
		"garbage":                {"Authorization": {"Bearer ey!!"}},
		"empty bearer":           {"Authorization": {"Bearer"}},
		"empty bearer space":     {"Authorization": {"Bearer "}},
		"basic scheme":           {"Authorization": {"Basic YWRtaW46YWRtaW4="}},
	}
	var wantBody, wantChallenge string
	for name, h := range cases {
		status, hdr, body := doHeaders(t, "GET", g.URL("/orders"), h)
		if status != 401 {
			t.Errorf("%s: status %d, want 401: %s", name, status, body)
			continue
		}
		if wantBody == "" {
			wantBody, wantChallenge = body, hdr.Get("WWW-Authenticate")
		}
		if body != wantBody || hdr.Get("WWW-Authenticate") != wantChallenge {
			t.Errorf("%s: answer differs: %q %q, want %q %q", name, hdr.Get("WWW-Authenticate"), body, wantChallenge, wantBody)
		}
	}
	if wantChallenge != `Bearer realm="api", error="invalid_token"` {
		t.Errorf("challenge %q", wantChallenge)
	}
	// Two tokens are not an invalid token but an invalid request (RFC 6750).
	status, hdr, _ := doHeaders(t, "GET", g.URL("/orders"), http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}})
	if status != 401 || hdr.Get("WWW-Authenticate") != `Bearer realm="api", error="invalid_request"` {
		t.Errorf("two authorization: %d %q", status, hdr.Get("WWW-Authenticate"))
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("the upstream saw %d rejected requests", n)
	}
	if status, _, _ := g.Do("GET", "/orders", bearerH(good), ""); status != 200 {
		t.Fatalf("the good token after the matrix: %d", status)
	}
}

func signWith(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWKSLifeEndToEnd(t *testing.T) {
	k1, k2 := NewES256Key(t, "k1"), NewES256Key(t, "k2")
	g, _, p := startJWTGateway(t, k1)
	tok1 := k1.Sign(t, auth0Claims(p), nil)
	if status, _, body := g.Do("GET", "/orders", bearerH(tok1), ""); status != 200 {
		t.Fatalf("k1: %d %s", status, body)
	}

	// Rotation at the IdP: the new kid is picked up through the unknown-kid refresh.
	p.SetKeys(k2)
	tok2 := k2.Sign(t, auth0Claims(p), nil)
	Eventually(t, 15*time.Second, "the rotated key is picked up", func() bool {
		status, _, _ := g.Do("GET", "/orders", bearerH(tok2), "")
		return status == 200
	})

	// A flood of random kids causes at most a handful of fetches (one per
	// unknown_kid_interval of 1s).
	before := p.JWKSFetches.Load()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				tok := k2.Sign(t, auth0Claims(p), map[string]any{"kid": fmt.Sprintf("rnd-%d-%d", w, i)})
				if status, _, _ := g.Do("GET", "/orders", bearerH(tok), ""); status != 401 {
					t.Errorf("random kid: %d", status)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fetches := p.JWKSFetches.Load() - before
	if limit := int64(elapsed/time.Second) + 2; fetches > limit {
		t.Fatalf("200 random kids in %s caused %d fetches, want at most %d", elapsed, fetches, limit)
	}
	t.Logf("200 random kids in %s: %d JWKS fetches", elapsed, fetches)

	// A slow IdP never blocks requests with cached keys: hang the IdP, start a
	// refresh with an unknown kid, and check that known-kid requests pass
	// while it hangs.
	time.Sleep(1100 * time.Millisecond) // let the unknown-kid interval pass
	started := p.Block()
	hung := make(chan int, 1)
	go func() {
		tok := k2.Sign(t, auth0Claims(p), map[string]any{"kid": "will-hang"})
		status, _, _ := g.Do("GET", "/orders", bearerH(tok), "")
		hung <- status
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the unknown kid did not cause a fetch")
	}
	for i := 0; i < 5; i++ {
		fresh := k2.Sign(t, auth0Claims(p, "jti", fmt.Sprint(i)), nil)
		if status, _, _ := g.Do("GET", "/orders", bearerH(fresh), ""); status != 200 {
			t.Fatalf("a known kid while the IdP hangs: %d", status)
		}
	}
	select {
	case <-hung:
		t.Fatal("the request with the unknown kid finished while the IdP still hangs")
	default:
	}
	p.Unblock()
	if status := <-hung; status != 401 {
		t.Fatalf("unknown kid after the hang: %d", status)
	}

	// The IdP down keeps cached keys working, for new tokens too.
	p.Down.Store(true)
	time.Sleep(1100 * time.Millisecond)
	tok := k2.Sign(t, auth0Claims(p, "jti", "down"), map[string]any{"kid": "unknown-while-down"})
	if status, _, _ := g.Do("GET", "/orders", bearerH(tok), ""); status != 401 {
		t.Fatalf("unknown kid while down: %d", status)
	}
	fresh := k2.Sign(t, auth0Claims(p, "jti", "down-2"), nil)
	if status, _, body := g.Do("GET", "/orders", bearerH(fresh), ""); status != 200 {
		t.Fatalf("known kid while the IdP is down: %d %s", status, body)
	}
}

func TestJWTDiscoveryAndSecretEndToEnd(t *testing.T) {
	k := NewEdDSAKey(t, "ed1")
	p := StartIdP(t, k)
	up := StartUpstream(t, nil)
	site := `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	route /oidc/* {
		api_auth {
			jwt {
				discovery
				issuer {IDP}/
				audience orders-api
				algorithms EdDSA
			}
		}
		reverse_proxy {UPSTREAM} {
			header_up X-Consumer {http.auth.user.id}
		}
	}
	route /pem/* {
		api_auth {
			jwt {
				key {KEYDIR}/idp-public.pem
				issuer {IDP}/
				audience orders-api
				algorithms EdDSA
			}
		}
		reverse_proxy {UPSTREAM} {
			header_up X-Consumer {http.auth.user.id}
		}
	}
	route /hmac/* {
		api_auth {
			jwt {
				secret {env.APIGATE_TEST_JWT_SECRET}
				issuer https://legacy.example/
				audience orders-api
			}
		}
		reverse_proxy {UPSTREAM} {
			header_up X-Consumer {http.auth.user.id}
		}
	}
}
`
	secret := "a-test-secret-that-is-32-bytes-long!"
	keyDir := t.TempDir()
	der, err := x509.MarshalPKIXPublicKey(k.Priv.(ed25519.PrivateKey).Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keyDir, "idp-public.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	g := StartGateway(t, site, GatewayOptions{Env: []string{"APIGATE_TEST_JWT_SECRET=" + secret}}, "{UPSTREAM}", up.Addr, "{IDP}", p.URL, "{KEYDIR}", keyDir)
	if status, _, body := g.Do("GET", "/pem/x", bearerH(k.Sign(t, auth0Claims(p), nil)), ""); status != 200 {
		t.Fatalf("pem key: %d %s", status, body)
	}
	if status, _, body := g.Do("GET", "/oidc/x", bearerH(k.Sign(t, auth0Claims(p), nil)), ""); status != 200 {
		t.Fatalf("discovery: %d %s", status, body)
	}
	hs := signWith(t, jwt.SigningMethodHS256, []byte(secret), auth0Claims(p, "iss", "https://legacy.example/", "sub", "legacy"))
	status, _, body := g.Do("GET", "/hmac/x", bearerH(hs), "")
	if status != 200 || received(t, body).Header.Get("X-Consumer") != "legacy" {
		t.Fatalf("hmac: %d %s", status, body)
	}
	// The EdDSA token on the HMAC route, and the HMAC token on the JWKS route.
	if status, _, _ := g.Do("GET", "/hmac/x", bearerH(k.Sign(t, auth0Claims(p, "iss", "https://legacy.example/"), nil)), ""); status != 401 {
		t.Fatalf("EdDSA on the hmac route: %d", status)
	}
	if status, _, _ := g.Do("GET", "/oidc/x", bearerH(hs), ""); status != 401 {
		t.Fatalf("HS256 on the oidc route: %d", status)
	}
}
