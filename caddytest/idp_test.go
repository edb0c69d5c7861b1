package caddytest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// IdP is a real identity provider on 127.0.0.1 for the tests: it serves an
// OpenID Connect discovery document, a JWKS, and RFC 7662 introspection.
type IdP struct {
	URL    string // http://127.0.0.1:port
	Issuer string // URL + "/"
	srv    *http.Server

	mu      sync.Mutex
	keys    []*IdPKey
	active  map[string]map[string]any // introspection: token -> answer
	block   chan struct{}
	started chan struct{}

	JWKSFetches  atomic.Int64
	Introspects  atomic.Int64
	Down         atomic.Bool
	ClientID     string
	ClientSecret string
}

// IdPKey is a signing key of the IdP.
type IdPKey struct {
	Kid  string
	Alg  jwt.SigningMethod
	Priv any
	JWK  map[string]any
}

// NewES256Key makes an ES256 key with kid.
func NewES256Key(t testing.TB, kid string) *IdPKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.PublicKey.Bytes()
	return &IdPKey{Kid: kid, Alg: jwt.SigningMethodES256, Priv: k, JWK: map[string]any{
		"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
		"x": base64.RawURLEncoding.EncodeToString(b[1:33]), "y": base64.RawURLEncoding.EncodeToString(b[33:]),
	}}
}

// NewEdDSAKey makes an EdDSA key with kid.
func NewEdDSAKey(t testing.TB, kid string) *IdPKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &IdPKey{Kid: kid, Alg: jwt.SigningMethodEdDSA, Priv: priv, JWK: map[string]any{
		"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "x": base64.RawURLEncoding.EncodeToString(pub),
	}}
}

// Sign signs claims; header entries are added to (or, when nil, removed from)
// the JWS header.
func (k *IdPKey) Sign(t testing.TB, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.Alg, claims)
	tok.Header["kid"] = k.Kid
	for n, v := range header {
		if v == nil {
			delete(tok.Header, n)
		} else {
			tok.Header[n] = v
		}
	}
	s, err := tok.SignedString(k.Priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// StartIdP starts an IdP with keys.
func StartIdP(t testing.TB, keys ...*IdPKey) *IdP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &IdP{URL: "http://" + l.Addr().String(), keys: keys, active: map[string]map[string]any{}, ClientID: "apigate", ClientSecret: "introspect-secret"}
	p.Issuer = p.URL + "/"
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(l) //nolint:errcheck
	t.Cleanup(func() {
		p.Unblock()
		p.srv.Close()
	})
	return p
}

// SetKeys replaces the published keys (a rotation at the IdP).
func (p *IdP) SetKeys(keys ...*IdPKey) {
	p.mu.Lock()
	p.keys = keys
	p.mu.Unlock()
}

// Block makes JWKS and introspection requests hang until Unblock; it returns a
// channel that receives once per request that started hanging.
func (p *IdP) Block() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.block = make(chan struct{})
	p.started = make(chan struct{}, 100)
	return p.started
}

// Unblock releases the hanging requests.
func (p *IdP) Unblock() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.block != nil {
		close(p.block)
		p.block = nil
	}
}

// SetIntrospection sets the introspection answer for token (nil: inactive).
func (p *IdP) SetIntrospection(token string, answer map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if answer == nil {
		delete(p.active, token)
	} else {
		p.active[token] = answer
	}
}

func (p *IdP) wait() {
	p.mu.Lock()
	block, started := p.block, p.started
	p.mu.Unlock()
	if block != nil {
		started <- struct{}{}
		<-block
	}
}

func (p *IdP) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		json.NewEncoder(w).Encode(map[string]any{"issuer": p.Issuer, "jwks_uri": p.URL + "/jwks", "introspection_endpoint": p.URL + "/introspect"}) //nolint:errcheck
	case "/jwks":
		p.JWKSFetches.Add(1)
		p.wait()
		if p.Down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		var jwks []any
		for _, k := range p.keys {
			jwks = append(jwks, k.JWK)
		}
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=600")
		json.NewEncoder(w).Encode(map[string]any{"keys": jwks}) //nolint:errcheck
	case "/introspect":
		p.Introspects.Add(1)
		p.wait()
		if p.Down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		id, secret, ok := r.BasicAuth()
		if r.Method != http.MethodPost || !ok || id != p.ClientID || secret != p.ClientSecret {
			w.Header().Set("WWW-Authenticate", `Basic realm="idp"`)
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		vals, _ := url.ParseQuery(string(body))
		p.mu.Lock()
		ans, found := p.active[vals.Get("token")]
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !found {
			w.Write([]byte(`{"active":false}`)) //nolint:errcheck
			return
		}
		json.NewEncoder(w).Encode(ans) //nolint:errcheck
	default:
		http.NotFound(w, r)
	}
}

// doHeaders sends a request with headers that may repeat.
func doHeaders(t testing.TB, method, url string, h http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
