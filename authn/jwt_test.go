package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var t0 = time.Unix(1_800_000_000, 0)

const (
	testIss = "https://idp.example.com/"
	testAud = "orders-api"
)

// testKey is a private key with its JWK.
type testKey struct {
	kid    string
	alg    jwt.SigningMethod
	priv   any
	public map[string]any
}

func newES256(t testing.TB, kid string) *testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.PublicKey.Bytes()
	return &testKey{kid: kid, alg: jwt.SigningMethodES256, priv: k, public: map[string]any{
		"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
		"x": base64.RawURLEncoding.EncodeToString(b[1:33]), "y": base64.RawURLEncoding.EncodeToString(b[33:]),
	}}
}

func newEdDSA(t testing.TB, kid string) *testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: jwt.SigningMethodEdDSA, priv: priv, public: map[string]any{
		"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": base64.RawURLEncoding.EncodeToString(pub),
	}}
}

var rsaOnce sync.Once
var rsaKey *rsa.PrivateKey

func newRS256(t testing.TB, kid string) *testKey {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
	})
	return &testKey{kid: kid, alg: jwt.SigningMethodRS256, priv: rsaKey, public: map[string]any{
		"kty": "RSA", "kid": kid, "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(rsaKey.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString([]byte{1, 0, 1}),
	}}
}

func (k *testKey) sign(t testing.TB, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.alg, claims)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	for n, v := range header {
		if v == nil {
			delete(tok.Header, n)
		} else {
			tok.Header[n] = v
		}
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIss, "aud": []string{testAud, "other"}, "sub": "auth0|shop",
		"iat": t0.Add(-time.Minute).Unix(), "nbf": t0.Add(-time.Minute).Unix(), "exp": t0.Add(time.Hour).Unix(),
		"scope": "orders:read orders:write", "permissions": []string{"orders:read", "admin"},
		"email": "shop@example.com", "org_id": 42, "email_verified": true,
	}
}

func claimsWith(kv ...any) jwt.MapClaims {
	c := goodClaims()
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// idp is an identity provider on 127.0.0.1 serving a JWKS that tests change.
type idp struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []map[string]any
	fetches atomic.Int64
	down    atomic.Bool
	block   chan struct{} // when set, JWKS requests wait on it
	started chan struct{}
}

func newIDP(t testing.TB, keys ...*testKey) *idp {
	p := &idp{}
	p.setKeys(keys...)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]any{"issuer": p.srv.URL + "/", "jwks_uri": p.srv.URL + "/jwks"}) //nolint:errcheck
		case "/jwks":
			p.fetches.Add(1)
			p.mu.Lock()
			block, started := p.block, p.started
			p.mu.Unlock()
			if started != nil {
				started <- struct{}{}
			}
			if block != nil {
				<-block
			}
			if p.down.Load() {
				http.Error(w, "down", http.StatusBadGateway)
				return
			}
			p.mu.Lock()
			doc, _ := json.Marshal(map[string]any{"keys": p.keys})
			p.mu.Unlock()
			w.Header().Set("Cache-Control", "public, max-age=600")
			w.Write(doc) //nolint:errcheck
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) setKeys(keys ...*testKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = nil
	for _, k := range keys {
		p.keys = append(p.keys, k.public)
	}
}

func (p *idp) remote() *RemoteKeys {
	return &RemoteKeys{URL: p.srv.URL + "/jwks", Client: NewHTTPClient(5 * time.Second), MinTTL: time.Minute, MaxTTL: 24 * time.Hour, DefaultTTL: 10 * time.Minute, UnknownKidInterval: 10 * time.Second}
}

func newVerifier(t testing.TB, keys KeySource, algs ...string) *JWT {
	t.Helper()
	if len(algs) == 0 {
		algs = []string{"ES256", "RS256", "EdDSA"}
	}
	v := &JWT{Keys: keys, Algorithms: algs, Issuer: testIss, Audiences: []string{testAud}, Leeway: 30 * time.Second,
		ScopesClaims: []string{"scope", "permissions"}, Claims: []string{"email", "org_id", "email_verified", "missing"},
		Cache: NewTokenCache(1000)}
	if err := v.Init(); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJWTAccepts(t *testing.T) {
	es, ed, rs := newES256(t, "es"), newEdDSA(t, "ed"), newRS256(t, "rs")
	p := newIDP(t, es, ed, rs)
	v := newVerifier(t, p.remote())
	for _, k := range []*testKey{es, ed, rs} {
		id, err := v.Verify(context.Background(), k.sign(t, goodClaims(), nil), t0)
		if err != nil {
			t.Fatalf("%s: %v", k.kid, err)
		}
		if id.Consumer != "auth0|shop" || id.ScopeString != "orders:read orders:write admin" || id.Method != "jwt" {
			t.Fatalf("%s: identity %+v", k.kid, id)
		}
		want := map[string]string{"email": "shop@example.com", "org_id": "42", "email_verified": "true"}
		for n, w := range want {
			if id.Claims[n] != w {
				t.Fatalf("claim %s = %q, want %q", n, id.Claims[n], w)
			}
		}
		if _, ok := id.Claims["missing"]; ok {
			t.Fatal("a missing claim got a value")
		}
	}
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

// TestJWTAttackMatrix: every token here is refused with a rejection (the
// handler answers all of them with the same 401).
func TestJWTAttackMatrix(t *testing.T) {
	es, rs := newES256(t, "es"), newRS256(t, "rs")
	ed := newEdDSA(t, "ed")
	p := newIDP(t, es, rs, ed)
	remote := p.remote()
	v := newVerifier(t, remote, "ES256", "RS256")

	enc := base64.RawURLEncoding.EncodeToString
	good := es.sign(t, goodClaims(), nil)
	parts := strings.Split(good, ".")

	// HS256 with the RSA public key (PEM, as attackers use it) as the secret.
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsRSA := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims())
	hsRSA.Header["kid"] = "rs"
	hsRSAs, _ := hsRSA.SignedString(pubPEM)
	ecDER, _ := x509.MarshalPKIXPublicKey(&es.priv.(*ecdsa.PrivateKey).PublicKey)
	hsEC := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims())
	hsEC.Header["kid"] = "es"
	hsECs, _ := hsEC.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}))

	none := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	noneKid := enc([]byte(`{"alg":"none","kid":"es"}`)) + "." + parts[1] + "."
	noneUpper := enc([]byte(`{"alg":"None","kid":"es"}`)) + "." + parts[1] + "."

	tamperedPayload := parts[0] + "." + enc([]byte(`{"iss":"`+testIss+`","aud":"`+testAud+`","sub":"admin","exp":9999999999}`)) + "." + parts[2]
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[5] ^= 1
	tamperedSig := parts[0] + "." + parts[1] + "." + enc(sig)

	// jku and x5u point at an attacker's keys: they must be ignored, so the
	// token signed by the attacker's key fails.
	attacker := newES256(t, "es")
	jku := attacker.sign(t, goodClaims(), map[string]any{"jku": "https://evil.example/jwks", "x5u": "https://evil.example/cert"})
	embedded := attacker.sign(t, goodClaims(), map[string]any{"jwk": attacker.public})

	cases := map[string]string{
		"alg none":                     none,
		"alg none with kid":            noneKid,
		"alg None":                     noneUpper,
		"HS256 with RSA public key":    hsRSAs,
		"HS256 with EC public key":     hsECs,
		"alg outside allow-list":       ed.sign(t, goodClaims(), nil),
		"expired":                      es.sign(t, claimsWith("exp", t0.Add(-time.Minute).Unix()), nil),
		"no exp":                       es.sign(t, claimsWith("exp", nil), nil),
		"not yet valid":                es.sign(t, claimsWith("nbf", t0.Add(time.Minute).Unix()), nil),
		"issued in the future":         es.sign(t, claimsWith("iat", t0.Add(time.Hour).Unix()), nil),
		"wrong issuer":                 es.sign(t, claimsWith("iss", "https://evil.example/"), nil),
		"no issuer":                    es.sign(t, claimsWith("iss", nil), nil),
		"wrong audience":               es.sign(t, claimsWith("aud", "billing-api"), nil),
		"no audience":                  es.sign(t, claimsWith("aud", nil), nil),
		"tampered payload":             tamperedPayload,
		"tampered signature":           tamperedSig,
		"unknown crit":                 es.sign(t, goodClaims(), map[string]any{"crit": []string{"exp"}, "exp": 1}),
		"empty crit":                   es.sign(t, goodClaims(), map[string]any{"crit": []string{}}),
		"kid with path":                es.sign(t, goodClaims(), map[string]any{"kid": "../../../../etc/passwd"}),
		"kid with sql":                 es.sign(t, goodClaims(), map[string]any{"kid": "' OR '1'='1' --"}),
		"kid not a string":             es.sign(t, goodClaims(), map[string]any{"kid": 7}),
		"kid huge":                     es.sign(t, goodClaims(), map[string]any{"kid": strings.Repeat("k", 5000)}),
		"jku and x5u ignored":          jku,
		"embedded jwk ignored":         embedded,
		"no consumer":                  es.sign(t, claimsWith("sub", nil), nil),
		"consumer not a string":        es.sign(t, claimsWith("sub", 12), nil),
		"empty":                        "",
		"garbage":                      "not-a-token",
		"two dots":                     "..",
		"bad base64":                   "!!!.@@@.###",
		"header not json":              enc([]byte("nope")) + "." + parts[1] + "." + parts[2],
		"too long":                     parts[0] + "." + strings.Repeat("A", MaxTokenLen) + "." + parts[2],
		"signature of another token":   parts[0] + "." + strings.Split(es.sign(t, claimsWith("sub", "admin"), nil), ".")[1] + "." + parts[2],
		"exp as string":                es.sign(t, claimsWith("exp", "9999999999"), nil),
		"exp overflow":                 es.sign(t, claimsWith("exp", 1e300), nil),
		"nested array aud":             es.sign(t, claimsWith("aud", []any{[]any{testAud}}), nil),
		"token with four parts":        good + ".x",
		"sub padded with nul in claim": es.sign(t, claimsWith("iss", testIss+"\x00"), nil),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tok, t0)
			if err == nil {
				t.Fatalf("accepted: %+v", id)
			}
			if _, ok := err.(*Rejection); !ok {
				t.Fatalf("error %v is not a *Rejection", err)
			}
		})
	}
	// The good token still passes, and the bad kids caused at most one extra fetch.
	if _, err := v.Verify(context.Background(), good, t0); err != nil {
		t.Fatal(err)
	}
	if n := p.fetches.Load(); n > 2 {
		t.Fatalf("%d JWKS fetches for the matrix, want at most 2", n)
	}
}

func TestJWTRequestHeaders(t *testing.T) {
	es := newES256(t, "es")
	p := newIDP(t, es)
	v := newVerifier(t, p.remote())
	good := es.sign(t, goodClaims(), nil)
	req := func(vals ...string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		for _, v := range vals {
			r.Header.Add("Authorization", v)
		}
		return r
	}
	r := req("Bearer " + good)
	if id, err := v.Authenticate(r, netipZero, t0); err != nil || id.Consumer != "auth0|shop" {
		t.Fatalf("%v %v", id, err)
	}
	if r.Header.Get("Authorization") != "" {
		t.Fatal("authorization header not stripped")
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		want error
	}{
		{"none", req(), ErrNoCredential},
		{"basic", req("Basic Zm9vOmJhcg=="), ErrNoCredential},
		{"opaque bearer", req("Bearer opaque-token"), ErrNoCredential},
		{"two authorization headers", req("Bearer "+good, "Bearer "+good), ErrMalformed},
		{"second header is a jwt", req("Basic x", "Bearer "+good), ErrMalformed},
	} {
		_, err := v.Authenticate(tc.r, netipZero, t0)
		if err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestJWTCacheNeverPastExp(t *testing.T) {
	es := newES256(t, "es")
	v := newVerifier(t, StaticKeys{NewKeySet([]*VerifyKey{mustPub(t, es)})})
	tok := es.sign(t, claimsWith("exp", t0.Add(10*time.Second).Unix()), nil)
	if _, err := v.Verify(context.Background(), tok, t0); err != nil {
		t.Fatal(err)
	}
	if v.Cache.Len() != 1 {
		t.Fatal("not cached")
	}
	if _, err := v.Verify(context.Background(), tok, t0.Add(9*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Past exp the cache entry is dead, and with leeway it would still pass
	// verification; the leeway applies, the cache entry does not extend it.
	if _, err := v.Verify(context.Background(), tok, t0.Add(41*time.Second)); err != ErrExpired {
		t.Fatalf("after exp and leeway: %v", err)
	}
}

func mustPub(t testing.TB, k *testKey) *VerifyKey {
	t.Helper()
	var pub any
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		pub = &p.PublicKey
	case ed25519.PrivateKey:
		pub = p.Public()
	case *rsa.PrivateKey:
		pub = &p.PublicKey
	}
	vk, err := PublicVerifyKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	vk.ID = k.kid
	return vk
}

func TestJWTStaticKeys(t *testing.T) {
	es := newES256(t, "")
	der, _ := x509.MarshalPKIXPublicKey(&es.priv.(*ecdsa.PrivateKey).PublicKey)
	vk, err := ParsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, StaticKeys{NewKeySet([]*VerifyKey{vk})}, "ES256")
	if _, err := v.Verify(context.Background(), es.sign(t, goodClaims(), map[string]any{"kid": "whatever"}), t0); err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	hv := newVerifier(t, StaticKeys{NewKeySet([]*VerifyKey{HMACVerifyKey(secret)})}, "HS256")
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims()).SignedString(secret)
	if _, err := hv.Verify(context.Background(), tok, t0); err != nil {
		t.Fatal(err)
	}
	bad, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims()).SignedString([]byte("another secret of 32 bytes......"))
	if _, err := hv.Verify(context.Background(), bad, t0); err == nil {
		t.Fatal("wrong secret accepted")
	}
	// ES256 token against a secret-only verifier.
	if _, err := hv.Verify(context.Background(), es.sign(t, goodClaims(), nil), t0); err == nil {
		t.Fatal("ES256 accepted by an HS256 verifier")
	}
}

func TestJWTTyp(t *testing.T) {
	es := newES256(t, "es")
	v := newVerifier(t, StaticKeys{NewKeySet([]*VerifyKey{mustPub(t, es)})})
	v.Typ = "at+jwt"
	if _, err := v.Verify(context.Background(), es.sign(t, goodClaims(), map[string]any{"typ": "application/at+JWT"}), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), es.sign(t, goodClaims(), map[string]any{"typ": "JWT"}), t0); err == nil {
		t.Fatal("typ JWT accepted where at+jwt is required")
	}
}

func TestJWKSRotationThroughUnknownKid(t *testing.T) {
	old, next := newES256(t, "k1"), newES256(t, "k2")
	p := newIDP(t, old)
	remote := p.remote()
	v := newVerifier(t, remote)
	if _, err := v.Verify(context.Background(), old.sign(t, goodClaims(), nil), t0); err != nil {
		t.Fatal(err)
	}
	p.setKeys(next)
	// Within the interval, the new kid is not fetched yet.
	if _, err := v.Verify(context.Background(), next.sign(t, goodClaims(), nil), t0.Add(time.Second)); err != ErrUnknownKey {
		t.Fatalf("within the refresh interval: %v", err)
	}
	if _, err := v.Verify(context.Background(), next.sign(t, goodClaims(), nil), t0.Add(11*time.Second)); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
	if n := p.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

// TestJWKSKeyPublishedAfterRefresh: a scheduled (or start, or reload)
// fetch does not start unknown_kid_interval, so a token signed with a key the
// provider publishes right after it is accepted on its first use; fetches
// caused by unknown kids are still at most one per interval.
func TestJWKSKeyPublishedAfterRefresh(t *testing.T) {
	old, next := newES256(t, "k1"), newES256(t, "k2")
	p := newIDP(t, old)
	remote := p.remote()
	v := newVerifier(t, remote)
	if err := remote.Refresh(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	p.setKeys(old, next)
	if _, err := v.Verify(context.Background(), next.sign(t, goodClaims(), nil), t0.Add(time.Second)); err != nil {
		t.Fatalf("a key published right after the refresh: %v", err)
	}
	if _, err := v.Verify(context.Background(), next.sign(t, goodClaims(), map[string]any{"kid": "rnd-1"}), t0.Add(2*time.Second)); err != ErrUnknownKey {
		t.Fatalf("a random kid within the interval: %v", err)
	}
	if n := p.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (the refresh and the first unknown kid)", n)
	}
}

func TestJWKSRandomKidFlood(t *testing.T) {
	es := newES256(t, "es")
	p := newIDP(t, es)
	v := newVerifier(t, p.remote())
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				kid := fmt.Sprintf("random-%d-%d", w, i)
				// 800 tokens spread over 20 simulated seconds.
				now := t0.Add(time.Duration(w*100+i) * 25 * time.Millisecond)
				if _, err := v.Verify(context.Background(), es.sign(t, goodClaims(), map[string]any{"kid": kid}), now); err == nil {
					t.Error("random kid accepted")
				}
			}
		}()
	}
	wg.Wait()
	if n := p.fetches.Load(); n > 4 {
		t.Fatalf("%d fetches for a flood of random kids, want at most 4", n)
	}
}

func TestJWKSProviderDownKeepsKeys(t *testing.T) {
	es := newES256(t, "es")
	p := newIDP(t, es)
	remote := p.remote()
	v := newVerifier(t, remote)
	v.Cache = nil
	tok := es.sign(t, goodClaims(), nil)
	if _, err := v.Verify(context.Background(), tok, t0); err != nil {
		t.Fatal(err)
	}
	p.down.Store(true)
	if err := remote.Refresh(context.Background(), t0.Add(time.Hour)); err == nil {
		t.Fatal("refresh from a down provider did not fail")
	}
	if _, err := v.Verify(context.Background(), tok, t0.Add(time.Minute)); err != nil {
		t.Fatalf("cached key lost while the provider is down: %v", err)
	}
}

func TestJWKSSlowProviderDoesNotBlock(t *testing.T) {
	es := newES256(t, "es")
	p := newIDP(t, es)
	remote := p.remote()
	v := newVerifier(t, remote)
	v.Cache = nil
	tok := es.sign(t, goodClaims(), nil)
	if _, err := v.Verify(context.Background(), tok, t0); err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	started := make(chan struct{}, 1)
	p.mu.Lock()
	p.block, p.started = block, started
	p.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- remote.Refresh(context.Background(), t0.Add(time.Hour)) }()
	<-started // the refresh is now stuck at the provider
	for i := 0; i < 10; i++ {
		if _, err := v.Verify(context.Background(), tok, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	close(block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestJWKSDiscovery(t *testing.T) {
	es := newES256(t, "es")
	p := newIDP(t, es)
	remote := &RemoteKeys{Issuer: p.srv.URL + "/", Client: NewHTTPClient(5 * time.Second), MinTTL: time.Minute, UnknownKidInterval: time.Second}
	v := newVerifier(t, remote)
	v.Issuer = p.srv.URL + "/"
	if err := v.Init(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), es.sign(t, claimsWith("iss", p.srv.URL+"/"), nil), t0); err != nil {
		t.Fatal(err)
	}
	wrong := &RemoteKeys{Issuer: p.srv.URL + "/other", Client: NewHTTPClient(5 * time.Second)}
	if err := wrong.Refresh(context.Background(), t0); err == nil {
		t.Fatal("discovery document of another issuer accepted")
	}
}

func TestParseJWKS(t *testing.T) {
	es := newES256(t, "es")
	oct := map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}
	enc := map[string]any{"kty": "EC", "crv": "P-256", "use": "enc", "kid": "enc", "x": es.public["x"], "y": es.public["y"]}
	wrongAlg := map[string]any{"kty": "EC", "crv": "P-256", "alg": "RS256", "kid": "wa", "x": es.public["x"], "y": es.public["y"]}
	offCurve := map[string]any{"kty": "EC", "crv": "P-256", "kid": "off", "x": es.public["x"], "y": es.public["x"]}
	dup1 := newEdDSA(t, "dup").public
	dup2 := newEdDSA(t, "dup").public
	doc, _ := json.Marshal(map[string]any{"keys": []any{es.public, oct, enc, wrongAlg, offCurve, dup1, dup2, "junk", 7}})
	keys, err := ParseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != "es" {
		t.Fatalf("keys %+v", keys)
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"keys":7}`, `null`} {
		if _, err := ParseJWKS([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCacheTTL(t *testing.T) {
	h := func(kv ...string) http.Header {
		r := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			r.Set(kv[i], kv[i+1])
		}
		return r
	}
	for _, tc := range []struct {
		h    http.Header
		want time.Duration
	}{
		{h(), 7 * time.Minute},
		{h("Cache-Control", "public, max-age=600"), 10 * time.Minute},
		{h("Cache-Control", "no-store"), 0},
		{h("Cache-Control", "max-age=abc"), 7 * time.Minute},
		{h("Expires", t0.Add(time.Hour).UTC().Format(http.TimeFormat)), time.Hour},
		{h("Expires", "garbage"), 0},
	} {
		if got := CacheTTL(tc.h, t0, 7*time.Minute); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.h, got, tc.want)
		}
	}
}

func TestCheckFetchURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://idp.example.com/jwks": true, "http://127.0.0.1:8080/jwks": true, "http://localhost/x": true,
		"http://idp.example.com/jwks": false, "ftp://x/y": false, "/relative": false, "https://user:pw@idp/x": false,
	} {
		if err := CheckFetchURL(u); (err == nil) != ok {
			t.Errorf("%s: %v", u, err)
		}
	}
}

var netipZero = netip.Addr{}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestJWTKidlessTokenTriesFewKeys(t *testing.T) {
	var keys []*VerifyKey
	var signer *testKey
	for i := 0; i < 5; i++ {
		k := newES256(t, fmt.Sprintf("k%d", i))
		keys = append(keys, mustPub(t, k))
		signer = k
	}
	v := newVerifier(t, StaticKeys{NewKeySet(keys)})
	if _, err := v.Verify(context.Background(), signer.sign(t, goodClaims(), map[string]any{"kid": nil}), t0); err != ErrUnknownKey {
		t.Fatalf("kid-less token against 5 keys: %v", err)
	}
	if _, err := v.Verify(context.Background(), signer.sign(t, goodClaims(), nil), t0); err != nil {
		t.Fatalf("the same key named: %v", err)
	}
	few := newVerifier(t, StaticKeys{NewKeySet(keys[3:])})
	if _, err := few.Verify(context.Background(), signer.sign(t, goodClaims(), map[string]any{"kid": nil}), t0); err != nil {
		t.Fatalf("kid-less token against 2 keys: %v", err)
	}
}

func TestNestedClaims(t *testing.T) {
	es := newES256(t, "es")
	v := newVerifier(t, StaticKeys{NewKeySet([]*VerifyKey{mustPub(t, es)})})
	v.ScopesClaims = []string{"scope", "realm_access.roles", "resource_access.orders-api.roles"}
	v.Claims = []string{"https://example.com/org", "realm_access.roles", "missing.path", "email.x"}
	c := claimsWith(
		"realm_access", map[string]any{"roles": []string{"offline_access", "orders:admin"}},
		"resource_access", map[string]any{"orders-api": map[string]any{"roles": []string{"orders:refund"}}},
		"https://example.com/org", "org_42",
		"permissions", nil,
	)
	id, err := v.Verify(context.Background(), es.sign(t, c, nil), t0)
	if err != nil {
		t.Fatal(err)
	}
	if id.ScopeString != "orders:read orders:write offline_access orders:admin orders:refund" {
		t.Fatalf("scopes %q", id.ScopeString)
	}
	if id.Claims["https://example.com/org"] != "org_42" || id.Claims["realm_access.roles"] != "offline_access orders:admin" {
		t.Fatalf("claims %v", id.Claims)
	}
	if _, ok := id.Claims["missing.path"]; ok {
		t.Fatal("missing path got a value")
	}
	if _, ok := id.Claims["email.x"]; ok {
		t.Fatal("a path through a string got a value")
	}
}
