package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
)

var replayNow = time.Unix(1_800_000_000, 0)

type proofKeyPair struct {
	priv *ecdsa.PrivateKey
	jwk  map[string]any
	jkt  string
}

func newProofKey(t testing.TB) proofKeyPair {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	x, y := make([]byte, 32), make([]byte, 32)
	priv.X.FillBytes(x)
	priv.Y.FillBytes(y)
	enc := base64.RawURLEncoding.EncodeToString
	sum := sha256.Sum256(fmt.Appendf(nil, `{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, enc(x), enc(y)))
	return proofKeyPair{priv, map[string]any{"kty": "EC", "crv": "P-256", "x": enc(x), "y": enc(y)}, enc(sum[:])}
}

func (k proofKeyPair) sign(t testing.TB, header map[string]any, claims jwt.MapClaims) string {
	j := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	j.Header["typ"] = "dpop+jwt"
	j.Header["jwk"] = k.jwk
	for n, v := range header {
		if v == nil {
			delete(j.Header, n)
		} else {
			j.Header[n] = v
		}
	}
	s, err := j.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func proofClaims(jti, htm, htu, token string, iat time.Time) jwt.MapClaims {
	return jwt.MapClaims{"jti": jti, "htm": htm, "htu": htu, "iat": iat.Unix(), "ath": TokenHash(token)}
}

func TestDPoPCheck(t *testing.T) {
	key, other := newProofKey(t), newProofKey(t)
	const url = "https://api.example.com/orders"
	req := ProofRequest{Method: "GET", URL: url, Token: "tok", JKT: key.jkt}
	private := map[string]any{"kty": "EC", "crv": "P-256", "x": key.jwk["x"], "y": key.jwk["y"], "d": "AAAA"}
	for _, tc := range []struct {
		name   string
		proof  string
		want   error
		replay bool
	}{
		{name: "valid", proof: key.sign(t, nil, proofClaims("a", "GET", url, "tok", replayNow))},
		{name: "htu normalised", proof: key.sign(t, nil, proofClaims("b", "GET", "HTTPS://API.example.com:443/orders?x=1#f", "tok", replayNow))},
		{name: "replayed", proof: key.sign(t, nil, proofClaims("c", "GET", url, "tok", replayNow)), replay: true, want: ErrProofReplayed},
		{name: "method", proof: key.sign(t, nil, proofClaims("d", "POST", url, "tok", replayNow)), want: ErrProof},
		{name: "url", proof: key.sign(t, nil, proofClaims("e", "GET", url+"/1", "tok", replayNow)), want: ErrProof},
		{name: "old", proof: key.sign(t, nil, proofClaims("f", "GET", url, "tok", replayNow.Add(-2*time.Minute))), want: ErrProof},
		{name: "future", proof: key.sign(t, nil, proofClaims("g", "GET", url, "tok", replayNow.Add(time.Minute))), want: ErrProof},
		{name: "other token", proof: key.sign(t, nil, proofClaims("h", "GET", url, "tok2", replayNow)), want: ErrProof},
		{name: "other key", proof: other.sign(t, nil, proofClaims("i", "GET", url, "tok", replayNow)), want: ErrProof},
		{name: "typ", proof: key.sign(t, map[string]any{"typ": "JWT"}, proofClaims("j", "GET", url, "tok", replayNow)), want: ErrProof},
		{name: "no jwk", proof: key.sign(t, map[string]any{"jwk": nil}, proofClaims("k", "GET", url, "tok", replayNow)), want: ErrProof},
		{name: "private jwk", proof: key.sign(t, map[string]any{"jwk": private}, proofClaims("l", "GET", url, "tok", replayNow)), want: ErrProof},
		{name: "no ath", proof: key.sign(t, nil, jwt.MapClaims{"jti": "m", "htm": "GET", "htu": url, "iat": replayNow.Unix()}), want: ErrProof},
		{name: "no jti", proof: key.sign(t, nil, jwt.MapClaims{"htm": "GET", "htu": url, "iat": replayNow.Unix(), "ath": TokenHash("tok")}), want: ErrProof},
		{name: "hmac", proof: "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", want: ErrProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &DPoP{Algorithms: DefaultProofAlgorithms, Window: time.Minute, Leeway: 5 * time.Second, Seen: &MemoryJTI{Max: 10}}
			err := d.Check(context.Background(), tc.proof, req, replayNow)
			if tc.replay {
				if err != nil {
					t.Fatalf("first use: %v", err)
				}
				err = d.Check(context.Background(), tc.proof, req, replayNow.Add(time.Second))
			}
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBindingOf(t *testing.T) {
	for _, tc := range []struct {
		cnf  string
		want Binding
	}{
		{`{}`, Binding{}},
		{`{"cnf":{"jkt":"a"}}`, Binding{JKT: "a"}},
		{`{"cnf":{"x5t#S256":"b"}}`, Binding{X5T: "b"}},
		{`{"cnf":{"jkt":"a","x5t#S256":"b"}}`, Binding{JKT: "a", X5T: "b", Other: true}},
		{`{"cnf":{"jwk":{}}}`, Binding{Other: true}},
		{`{"cnf":{"jkt":1}}`, Binding{Other: true}},
		{`{"cnf":"x"}`, Binding{Other: true}},
	} {
		var claims map[string]any
		json.Unmarshal([]byte(tc.cnf), &claims) //nolint:errcheck
		if got := bindingOf(claims); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.cnf, got, tc.want)
		}
	}
}

func TestMemoryJTI(t *testing.T) {
	c := &MemoryJTI{Max: 2}
	ctx := context.Background()
	for i, step := range []struct {
		key  string
		at   time.Duration
		want bool
		err  bool
	}{
		{"a", 0, true, false}, {"a", time.Second, false, false}, {"b", 0, true, false},
		{"c", 0, false, true}, {"c", 2 * time.Minute, true, false}, {"a", 2 * time.Minute, true, false},
	} {
		now := replayNow.Add(step.at)
		got, err := c.FirstUse(ctx, step.key, now.Add(time.Minute), now)
		if got != step.want || (err != nil) != step.err {
			t.Fatalf("step %d: %v %v", i, got, err)
		}
	}
}

func TestClientBuckets(t *testing.T) {
	b := newClientBuckets(2, time.Minute, 2)
	for i, step := range []struct {
		client string
		at     time.Duration
		want   bool
	}{
		{"a", 0, true}, {"a", 0, true}, {"a", 0, false}, {"a", 30 * time.Second, true}, {"a", 30 * time.Second, false},
		{"b", 0, true}, {"c", 0, true}, // c pushes out a client
	} {
		if ok, wait := b.Allow(step.client, replayNow.Add(step.at)); ok != step.want || (!ok && wait <= 0) {
			t.Fatalf("step %d: %v %v", i, ok, wait)
		}
	}
	if len(b.m) > 2 {
		t.Fatalf("%d clients remembered", len(b.m))
	}
}

func TestParseLeakReport(t *testing.T) {
	for body, n := range map[string]int{
		`[{"token":"a"}]`: 1, `[{"token":"a","type":"t","url":"u","source":"s","extra":1}, {"token":"b"}]`: 2,
		`[]`: -1, `null`: -1, `{"token":"a"}`: -1, `[{"token":""}]`: -1, `[{"token":1}]`: -1, `[null]`: -1,
		`[{"token":"a"}] [`: -1, `[{"token":"a"}]x`: -1, ``: -1, `[{"token":"` + strings.Repeat("a", 2000) + `"}]`: -1,
	} {
		got, err := ParseLeakReport([]byte(body))
		if (n < 0) != (err != nil) || (n >= 0 && len(got) != n) {
			t.Errorf("%.40s: %d %v", body, len(got), err)
		}
	}
}

func githubKeyDoc(t testing.TB, keys map[string]*ecdsa.PublicKey) []byte {
	type pk struct {
		ID  string `json:"key_identifier"`
		Key string `json:"key"`
	}
	var list []pk
	for id, k := range keys {
		der, _ := x509.MarshalPKIXPublicKey(k)
		list = append(list, pk{id, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	}
	b, _ := json.Marshal(map[string]any{"public_keys": list})
	return b
}

func TestGitHubSignature(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys, err := ParseGitHubKeys(githubKeyDoc(t, map[string]*ecdsa.PublicKey{"k1": &priv.PublicKey}))
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`[{"token":"x"}]`)
	sum := sha256.Sum256(body)
	sig, _ := ecdsa.SignASN1(rand.Reader, priv, sum[:])
	good := base64.StdEncoding.EncodeToString(sig)
	if err := VerifyGitHubSignature(keys["k1"], body, good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		body []byte
		sig  string
	}{{append(body, ' '), good}, {body, ""}, {body, "!!"}, {body, base64.StdEncoding.EncodeToString([]byte("x"))}} {
		if VerifyGitHubSignature(keys["k1"], bad.body, bad.sig) == nil {
			t.Errorf("accepted %q", bad.sig)
		}
	}
	if _, err := ParseGitHubKeys([]byte(`{"public_keys":[{"key_identifier":"a","key":"x"}]}`)); err == nil {
		t.Error("a list with no usable key")
	}
}

func TestReplayCaddyfile(t *testing.T) {
	h := new(KeyLeak)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("api_key_leak github {\n\tkeys_url http://127.0.0.1:1/k\n\tunknown_kid_interval 5s\n\tkey a {file./a.pem}\n\tkey b {file./b.pem}\n\tmax_body 4KiB\n\trate_limit 5/1m\n}"))
	if err != nil || h.GitHub == nil || len(h.GitHub.PublicKeys) != 2 || h.MaxBody != 4096 || h.RateLimit != 5 || h.GitHub.UnknownKidInterval != caddy.Duration(5*time.Second) {
		t.Fatalf("%v %+v", err, h)
	}
	a, err := parseAuth(t, "api_auth {\n\trequire_tls {\n\t\trevoke_exposed\n\t}\n\tjwt {\n\t\tbound_tokens required {\n\t\t\tproof_window 30s\n\t\t}\n\t}\n}")
	if err != nil || a.RequireTLS == nil || !a.RequireTLS.RevokeExposed || !strings.Contains(string(a.MethodsRaw[0]), `"bound_tokens":{"proof_window":30000000000,"required":true}`) {
		t.Fatalf("%v %+v %s", err, a.RequireTLS, a.MethodsRaw)
	}
	for input, msg := range map[string]string{
		"api_key_leak gitlab":                                 "unknown form",
		"api_key_leak github x":                               "wrong argument count",
		"api_key_leak {\n\tkeys_url https://x\n}":             "belongs to the github form",
		"api_key_leak github {\n\tkey a\n}":                   "wrong argument count",
		"api_key_leak {\n\trate_limit 5\n}":                   "invalid rate",
		"api_key_leak {\n\tmax_body lots\n}":                  "invalid size",
		"api_key_leak {\n\tmax_body 1\n\tmax_body 1\n}":       ":3",
		"api_key_leak {\n\tsecret x\n}":                       "unrecognized",
		"api_auth {\n\trequire_tls {\n\t\tstrict\n\t}\n}":     ":3",
		"api_auth {\n\trequire_tls yes\n}":                    "wrong argument count",
		"api_auth {\n\tjwt {\n\t\tbound_tokens maybe\n\t}\n}": "unknown argument",
	} {
		var err error
		if strings.HasPrefix(input, "api_auth") {
			_, err = parseAuth(t, input)
		} else {
			err = new(KeyLeak).UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		}
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: error %v, want %q", input, err, msg)
		}
	}
}

// FuzzParseProof: arbitrary proofs, and proofs signed with a real key whose
// header and claims are fuzzed, never panic, and what parses has a key
// thumbprint and a jti.
func FuzzParseProof(f *testing.F) {
	key := newProofKey(f)
	enc := base64.RawURLEncoding.EncodeToString
	good := key.sign(f, nil, proofClaims("a", "GET", "https://a/b", "tok", replayNow))
	hdr, _ := json.Marshal(map[string]any{"alg": "ES256", "typ": "dpop+jwt", "jwk": key.jwk})
	f.Add(string(hdr), `{"jti":"a","htm":"GET","htu":"https://a/b","iat":1800000000,"ath":"x"}`, good)
	f.Add(`{"alg":"ES256","typ":"dpop+jwt","jwk":{"kty":"RSA","n":"","e":""}}`, `{"iat":1e400}`, "a.b.c")
	f.Add(`{"alg":"none","typ":"dpop+jwt","jwk":{"kty":"oct","k":"AA"}}`, `{"iat":-1,"jti":{}}`, "..")
	f.Add(`{"alg":"ES256","typ":"dpop+jwt","jwk":{"kty":"EC","crv":"P-384","x":"AA","y":"AA"},"crit":[]}`, `[]`, "")
	f.Fuzz(func(t *testing.T, header, claims, raw string) {
		signing := enc([]byte(header)) + "." + enc([]byte(claims))
		if sig, err := jwt.SigningMethodES256.Sign(signing, key.priv); err == nil {
			if p, err := ParseProof(signing+"."+enc(sig), DefaultProofAlgorithms); err == nil && (p.JTI == "" || p.JKT == "") {
				t.Fatalf("accepted without jti or key: %s %s", header, claims)
			}
		}
		// A proof is signed by the key it carries: what parses names a key
		// and a jti.
		if p, err := ParseProof(raw, DefaultProofAlgorithms); err == nil && (p.JTI == "" || len(p.JKT) != 43) {
			t.Fatalf("accepted %q: %+v", raw, p)
		}
		NormalizeHTU(raw)
	})
}

// FuzzParseLeakReport: any body parses or fails cleanly, and what parses
// holds only bounded, non-empty tokens.
func FuzzParseLeakReport(f *testing.F) {
	for _, s := range []string{`[{"token":"agk_x"}]`, `[]`, `[{"token":1}]`, `{"a":[`, `[{"token":"a","type":"t"}] x`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tokens, err := ParseLeakReport(body)
		if err != nil {
			return
		}
		if len(tokens) == 0 || len(tokens) > MaxLeakTokens {
			t.Fatalf("%d tokens", len(tokens))
		}
		for _, tok := range tokens {
			if tok.Token == "" || len(tok.Token) > maxLeakToken {
				t.Fatalf("token of %d bytes", len(tok.Token))
			}
		}
		ParseGitHubKeys(body) //nolint:errcheck
	})
}

type alwaysFirst struct{}

func (alwaysFirst) FirstUse(context.Context, string, time.Time, time.Time) (bool, error) {
	return true, nil
}

// BenchmarkDPoPCheck is the cost of one proof (the jti cache stubbed out).
func BenchmarkDPoPCheck(b *testing.B) {
	key := newProofKey(b)
	const url = "https://api.example.com/orders"
	proof := key.sign(b, nil, proofClaims("a", "GET", url, "tok", replayNow))
	d := &DPoP{Algorithms: DefaultProofAlgorithms, Window: time.Minute, Leeway: 5 * time.Second, Seen: alwaysFirst{}}
	req := ProofRequest{Method: "GET", URL: url, Token: "tok", JKT: key.jkt}
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Check(context.Background(), proof, req, replayNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDPoPVsRaw interleaves a DPoP check (its header cached), the same
// with the header parsed again (what the cache saves), and the bare check of
// the proof's ES256 signature, so machine noise hits all alike, and reports
// each against the signature alone.
func BenchmarkDPoPVsRaw(b *testing.B) {
	key := newProofKey(b)
	const url = "https://api.example.com/orders"
	proof := key.sign(b, nil, proofClaims("a", "GET", url, "tok", replayNow))
	d := &DPoP{Algorithms: DefaultProofAlgorithms, Window: time.Minute, Leeway: 5 * time.Second, Seen: alwaysFirst{}}
	req := ProofRequest{Method: "GET", URL: url, Token: "tok", JKT: key.jkt}
	i := strings.LastIndexByte(proof, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(proof[i+1:])
	segment := proof[:strings.IndexByte(proof, '.')]
	ctx := context.Background()
	var cached, parsed, bare time.Duration
	for b.Loop() {
		t1 := time.Now()
		if err := d.Check(ctx, proof, req, replayNow); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := parseProofHeader(segment); err != nil {
			b.Fatal(err)
		}
		if err := d.Check(ctx, proof, req, replayNow); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		h := sha256.Sum256([]byte(proof[:i]))
		if !ecdsaVerifyRS(&key.priv.PublicKey, h[:], sig) {
			b.Fatal("bad signature")
		}
		cached, parsed, bare = cached+t2.Sub(t1), parsed+t3.Sub(t2), bare+time.Since(t3)
	}
	n := float64(b.N)
	b.ReportMetric(float64(cached.Nanoseconds())/n, "check-ns/op")
	b.ReportMetric(float64(parsed.Nanoseconds())/n, "uncached-ns/op")
	b.ReportMetric(float64(bare.Nanoseconds())/n, "raw-ns/op")
	b.ReportMetric(float64(cached)/float64(bare), "ratio")
	b.ReportMetric(float64(parsed)/float64(bare), "uncached-ratio")
}

// BenchmarkOverTLS is what require_tls adds to a request over TLS.
func BenchmarkOverTLS(b *testing.B) {
	r := httptest.NewRequest("GET", "https://api.example.com/orders", nil)
	b.ReportAllocs()
	for b.Loop() {
		if !OverTLS(r) {
			b.Fatal("not TLS")
		}
	}
}

// TestRedisJTIClusterWide: a proof's jti is accepted once by the whole
// cluster (two gateways, each with its own local cache, on one real Redis),
// and while Redis is down each gateway still refuses a replay to itself.
func TestRedisJTIClusterWide(t *testing.T) {
	client, kill := gatewaytest.StartRedis(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	a := &RedisJTI{Client: client, Local: &MemoryJTI{Max: 10}}
	b := &RedisJTI{Client: client, Local: &MemoryJTI{Max: 10}}
	if ok, err := a.FirstUse(ctx, "jti-1", now.Add(time.Minute), now); !ok || err != nil {
		t.Fatalf("first use on a: %v %v", ok, err)
	}
	if ok, err := b.FirstUse(ctx, "jti-1", now.Add(time.Minute), now); ok || err != nil {
		t.Fatalf("replay on b: accepted=%v err=%v, want refused", ok, err)
	}
	if ttl := client.TTL(ctx, "apigate:dpop:jti:jti-1").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("the jti is kept %v, want at most the proof's window", ttl)
	}
	kill()
	if ok, _ := a.FirstUse(ctx, "jti-2", now.Add(time.Minute), now); !ok {
		t.Fatal("Redis down: a fresh proof refused")
	}
	if ok, _ := a.FirstUse(ctx, "jti-2", now.Add(time.Minute), now); ok {
		t.Fatal("Redis down: a replay to the same gateway accepted")
	}
}

// TestProofHeaderCache: a client's header is parsed once, then found by its
// bytes; what depends on the configuration (the accepted algorithms) and on
// the proof (signature, claims) is checked on every proof.
func TestProofHeaderCache(t *testing.T) {
	key := newProofKey(t)
	const url = "https://api.example.com/orders"
	first := key.sign(t, nil, proofClaims("a", "GET", url, "tok", replayNow))
	p, err := ParseProof(first, DefaultProofAlgorithms)
	if err != nil || p.JKT != key.jkt {
		t.Fatalf("%v %+v", err, p)
	}
	proofHeaders.cache.Wait()
	segment := first[:strings.IndexByte(first, '.')]
	cached, ok := proofHeaders.cache.Get(segment)
	if !ok || cached.segment != segment || cached.jkt != key.jkt {
		t.Fatalf("header not cached: %v %+v", ok, cached)
	}
	second := key.sign(t, nil, proofClaims("b", "GET", url, "tok", replayNow))
	if !strings.HasPrefix(second, segment+".") {
		t.Fatal("the same key made another header")
	}
	if _, err := ParseProof(second, []string{"RS256"}); err == nil {
		t.Fatal("a cached header's algorithm outside the accepted ones")
	}
	if _, err := ParseProof(second[:len(second)-4]+"AAAA", DefaultProofAlgorithms); err == nil {
		t.Fatal("a cached header with a bad signature")
	}
	enc := base64.RawURLEncoding.EncodeToString
	for name, claims := range map[string]string{
		"iat as a string":  `{"jti":"c","htm":"GET","htu":"` + url + `","iat":"1800000000"}`,
		"no iat":           `{"jti":"c","htm":"GET","htu":"` + url + `"}`,
		"ath not a string": `{"jti":"c","htm":"GET","htu":"` + url + `","iat":1800000000,"ath":1}`,
		"no htm":           `{"jti":"c","htu":"` + url + `","iat":1800000000}`,
	} {
		signing := segment + "." + enc([]byte(claims))
		sig, _ := jwt.SigningMethodES256.Sign(signing, key.priv)
		if _, err := ParseProof(signing+"."+enc(sig), DefaultProofAlgorithms); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRequestHTU: X-Forwarded-Proto and X-Forwarded-Host name the URL the
// client addressed only when a trusted proxy sends them.
func TestRequestHTU(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted bool
		headers map[string]string
		want    string
	}{
		{"direct", false, nil, "http://gw.internal:8080/orders"},
		{"untrusted client spoofing", false, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}, "http://gw.internal:8080/orders"},
		{"trusted proxy", true, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "API.example.com:443"}, "https://api.example.com/orders"},
		{"trusted proxy, chain", true, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com, lb.internal"}, "https://api.example.com/orders"},
		{"trusted proxy, no forwarded host", true, map[string]string{"X-Forwarded-Proto": "https"}, "https://gw.internal:8080/orders"},
		{"trusted proxy, not a host", true, map[string]string{"X-Forwarded-Host": "api.example.com/orders?"}, ""},
	} {
		r := httptest.NewRequest("GET", "http://gw.internal:8080/orders?page=2", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.TrustedProxyVarKey: tc.trusted}))
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if got := requestHTU(r); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// dpopReader stands for a jwt method with bound_tokens: it reads DPoP proofs.
type dpopReader struct{ certMethod }

func (dpopReader) rejections() []*Rejection { return []*Rejection{ErrDPoP} }

// TestAuthStripsDPoP: when a method reads DPoP proofs, none goes on to the
// upstream, whichever method accepted the request; otherwise the header is
// not api_auth's and is left alone.
func TestAuthStripsDPoP(t *testing.T) {
	s, _ := testStore(t, []string{"a"})
	for _, tc := range []struct {
		method AuthMethod
		kept   int
	}{{dpopReader{}, 0}, {certMethod{}, 1}} {
		a := testAuth(t, newFakeApp(s), tc.method)
		r, _ := newRequest("GET", "/", "127.0.0.1")
		r.Header.Set("DPoP", "a.b.c")
		next := &recordNext{}
		if err := a.ServeHTTP(httptest.NewRecorder(), r, next); err != nil || !next.called {
			t.Fatalf("%T: %v %v", tc.method, err, next.called)
		}
		if n := len(next.req.Header.Values("Dpop")); n != tc.kept {
			t.Errorf("%T: %d DPoP headers went on, want %d", tc.method, n, tc.kept)
		}
	}
}

// FuzzRequestHTU: whatever a trusted proxy forwards, the htu is empty or an
// absolute http(s) URL in NormalizeHTU form whose path is the request's.
func FuzzRequestHTU(f *testing.F) {
	for _, s := range []string{"api.example.com", "API.example.com:443, lb", "a/b", "[::1]:8443", "", "a@b", "%zz"} {
		f.Add(s, "https")
	}
	f.Fuzz(func(t *testing.T, host, proto string) {
		r := httptest.NewRequest("GET", "http://gw.internal/orders", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.TrustedProxyVarKey: true}))
		r.Header["X-Forwarded-Host"] = []string{host}
		r.Header["X-Forwarded-Proto"] = []string{proto}
		u := requestHTU(r)
		if u == "" {
			return
		}
		if n, ok := NormalizeHTU(u); !ok || n != u || !strings.HasSuffix(u, "/orders") {
			t.Fatalf("%q %q: htu %q", host, proto, u)
		}
	})
}
