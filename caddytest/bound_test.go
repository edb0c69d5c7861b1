package caddytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// boundSite accepts only bound tokens: DPoP over plain HTTP ({HTTPPORT}, no
// proxy trusted, and {PROXYPORT}, behind a trusted proxy on 127.0.0.1),
// certificate-bound over HTTPS ({PORT}).
const boundSite = `{
	{ADMIN_OPTIONS}
	servers :{PROXYPORT} {
		trusted_proxies static 127.0.0.1/32
	}
}
(api) {
	api_auth {
		jwt {
			key {CERTS}/issuer.pem
			issuer https://idp.test
			audience api
			bound_tokens required
		}
	}
	reverse_proxy {UPSTREAM}
}
http://127.0.0.1:{HTTPPORT} {
	import api
}
http://127.0.0.1:{PROXYPORT} {
	import api
}
https://localhost:{PORT} {
	tls {CERTS}/server.pem {CERTS}/server.key {
		client_auth {
			mode verify_if_given
			trust_pool file {CERTS}/ca.pem
		}
	}
	import api
}
`

type boundEnv struct {
	g        *Gateway
	httpURL  string
	proxyURL string // the site behind a trusted proxy
	issuer   *ecdsa.PrivateKey
	roots    *x509.CertPool
	client   tls.Certificate
	stranger tls.Certificate
}

func startBoundGateway(t *testing.T) *boundEnv {
	t.Helper()
	ca := newTestCA(t, "apigate bound test CA")
	_, srvCert, srvKey := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	env := &boundEnv{roots: x509.NewCertPool()}
	env.roots.AppendCertsFromPEM(ca.pem)
	env.client, _, _ = ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ci-bot"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	env.stranger, _, _ = ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ci-bot"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	env.issuer, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	for name, data := range map[string][]byte{"ca.pem": ca.pem, "server.pem": srvCert, "server.key": srvKey, "issuer.pem": []byte(publicPEM(t, &env.issuer.PublicKey))} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	httpPort, proxyPort := freePort(t), freePort(t)
	up := StartUpstream(t, nil)
	env.g = StartGateway(t, boundSite, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{CERTS}", dir,
		"{HTTPPORT}", fmt.Sprint(httpPort), "{PROXYPORT}", fmt.Sprint(proxyPort))
	env.httpURL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	env.proxyURL = fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
	return env
}

// token issues an access token bound by cnf (nil: a bearer token).
func (e *boundEnv) token(t *testing.T, cnf map[string]any) string {
	t.Helper()
	claims := jwt.MapClaims{"iss": "https://idp.test", "aud": "api", "sub": "ci-bot", "exp": time.Now().Add(time.Hour).Unix(), "scope": "orders:read"}
	if cnf != nil {
		claims["cnf"] = cnf
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// dpopKey is a client's DPoP key, its public JWK and thumbprint.
type dpopKey struct {
	priv *ecdsa.PrivateKey
	jwk  map[string]any
	jkt  string
}

func newDPoPKey(t *testing.T) dpopKey {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	x, y := make([]byte, 32), make([]byte, 32)
	priv.X.FillBytes(x)
	priv.Y.FillBytes(y)
	sum := sha256.Sum256([]byte(fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b64(x), b64(y))))
	return dpopKey{priv: priv, jwk: map[string]any{"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)}, jkt: b64(sum[:])}
}

func (k dpopKey) proof(t *testing.T, method, htu, token string, iat time.Time) string {
	t.Helper()
	ath := sha256.Sum256([]byte(token))
	j := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"jti": rand.Text(), "htm": method, "htu": htu, "iat": iat.Unix(), "ath": b64(ath[:])})
	j.Header["typ"] = "dpop+jwt"
	j.Header["jwk"] = k.jwk
	s, err := j.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDPoPBoundTokens(t *testing.T) {
	e := startBoundGateway(t)
	key, other := newDPoPKey(t), newDPoPKey(t)
	token := e.token(t, map[string]any{"jkt": key.jkt})
	otherToken := e.token(t, map[string]any{"jkt": key.jkt, "jti": "another"})
	u := e.httpURL + "/orders"
	send := func(method, scheme, tok, proof string) (int, http.Header) {
		h := map[string]string{"Authorization": scheme + " " + tok}
		if proof != "" {
			h["DPoP"] = proof
		}
		status, hdr, _ := do(t, method, u, h, "")
		return status, hdr
	}
	now := time.Now()
	good := key.proof(t, "GET", u+"?page=2", token, now)
	if status, _ := send("GET", "DPoP", token, good); status != 200 {
		t.Fatalf("a valid proof: %d", status)
	}
	cases := []struct{ name, method, scheme, token, proof string }{
		{"replayed proof", "GET", "DPoP", token, good},
		{"wrong method", "GET", "DPoP", token, key.proof(t, "POST", u, token, now)},
		{"wrong URL", "GET", "DPoP", token, key.proof(t, "GET", e.httpURL+"/other", token, now)},
		{"old iat", "GET", "DPoP", token, key.proof(t, "GET", u, token, now.Add(-5*time.Minute))},
		{"future iat", "GET", "DPoP", token, key.proof(t, "GET", u, token, now.Add(5*time.Minute))},
		{"proof for another token", "GET", "DPoP", token, key.proof(t, "GET", u, otherToken, now)},
		{"proof of another key", "GET", "DPoP", token, other.proof(t, "GET", u, token, now)},
		{"no proof", "GET", "DPoP", token, ""},
		{"bearer scheme", "GET", "Bearer", token, key.proof(t, "GET", u, token, now)},
		{"garbage proof", "GET", "DPoP", token, "a.b.c"},
	}
	for _, c := range cases {
		status, h := send(c.method, c.scheme, c.token, c.proof)
		if status != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "DPoP ") || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_dpop_proof"`) {
			t.Errorf("%s: %d %q", c.name, status, h.Get("WWW-Authenticate"))
		}
	}
	// bound_tokens required: a bearer token is refused.
	if status, _ := send("GET", "Bearer", e.token(t, nil), ""); status != 401 {
		t.Fatalf("an unbound token: %d", status)
	}
}

// TestDPoPBehindProxy: behind a proxy that trusted_proxies trusts, a proof
// names the URL the client addressed at the proxy (X-Forwarded-Proto and
// X-Forwarded-Host); a client that is not a trusted proxy cannot make the
// gateway believe those headers.
func TestDPoPBehindProxy(t *testing.T) {
	e := startBoundGateway(t)
	key := newDPoPKey(t)
	token := e.token(t, map[string]any{"jkt": key.jkt})
	const public = "https://api.example.com/orders"
	forwarded := func(proof string) map[string]string {
		return map[string]string{"Authorization": "DPoP " + token, "DPoP": proof,
			"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}
	}
	if status, _, body := do(t, "GET", e.proxyURL+"/orders", forwarded(key.proof(t, "GET", public, token, time.Now())), ""); status != 200 {
		t.Fatalf("through a trusted proxy: %d %s", status, body)
	}
	// Behind the trusted proxy, the gateway's own address is not the URL.
	if status, _, _ := do(t, "GET", e.proxyURL+"/orders", forwarded(key.proof(t, "GET", e.proxyURL+"/orders", token, time.Now())), ""); status != 401 {
		t.Fatalf("a proof for the gateway's own address behind the proxy: %d", status)
	}
	// An untrusted client spoofing the headers: the proof for the public URL
	// fails, the one for the URL it really addressed passes.
	if status, _, _ := do(t, "GET", e.httpURL+"/orders", forwarded(key.proof(t, "GET", public, token, time.Now())), ""); status != 401 {
		t.Fatalf("X-Forwarded-Host from an untrusted client: %d", status)
	}
	if status, _, body := do(t, "GET", e.httpURL+"/orders", forwarded(key.proof(t, "GET", e.httpURL+"/orders", token, time.Now())), ""); status != 200 {
		t.Fatalf("forwarded headers of an untrusted client are ignored: %d %s", status, body)
	}
}

func TestCertificateBoundTokens(t *testing.T) {
	e := startBoundGateway(t)
	sum := sha256.Sum256(e.client.Certificate[0])
	token := e.token(t, map[string]any{"x5t#S256": b64(sum[:])})
	h := func() http.Header { return http.Header{"Authorization": {"Bearer " + token}} }
	if status, body, err := getTLSWith(t, e.g, e.roots, h(), e.client); err != nil || status != 200 {
		t.Fatalf("with its certificate: %d %v %s", status, err, body)
	}
	if status, _, err := getTLSWith(t, e.g, e.roots, h()); err != nil || status != 401 {
		t.Fatalf("without a certificate: %d %v", status, err)
	}
	if status, _, err := getTLSWith(t, e.g, e.roots, h(), e.stranger); err != nil || status != 401 {
		t.Fatalf("with another certificate: %d %v", status, err)
	}
	if status, _, _ := do(t, "GET", e.httpURL+"/orders", map[string]string{"Authorization": "Bearer " + token}, ""); status != 401 {
		t.Fatalf("over plain HTTP: %d", status)
	}
}
