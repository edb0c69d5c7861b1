package upstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// fakeIdP is a token endpoint for the handler tests: it answers token
// exchanges and client credentials grants with tokens naming the subject and
// audience, refuses the subject "refused", and counts its calls. Integration
// tests use a real provider (caddytest/oidc).
type fakeIdP struct {
	*httptest.Server
	calls   atomic.Int64
	mu      sync.Mutex
	forms   []url.Values
	check   func(r *http.Request) bool // client authentication
	status  int                        // forced answer status, 0 for normal
	expires int
	release chan struct{} // when set, answers wait for it
}

func newFakeIdP(t testing.TB) *fakeIdP {
	f := &fakeIdP{expires: 300}
	f.check = func(r *http.Request) bool {
		id, secret, ok := r.BasicAuth()
		return ok && id == "apigate" && secret == "s3cret-client"
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeIdP) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if f.release != nil {
		<-f.release
	}
	_ = r.ParseForm()
	f.mu.Lock()
	f.forms = append(f.forms, r.PostForm)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	answer := func(status int, v any) { w.WriteHeader(status); _ = json.NewEncoder(w).Encode(v) }
	switch {
	case f.status != 0:
		answer(f.status, map[string]string{"error": "temporarily_unavailable", "error_description": "db down at 10.0.0.7"})
	case !f.check(r):
		answer(http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
	case r.PostForm.Get("subject_token") == "refused":
		answer(http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "token refused"})
	default:
		sub := r.PostForm.Get("subject_token")
		if sub == "" {
			sub = "gateway"
		}
		answer(http.StatusOK, map[string]any{
			"access_token":      "x." + sub + "." + r.PostForm.Get("audience"),
			"issued_token_type": tokenTypeAccessToken,
			"token_type":        "Bearer",
			"expires_in":        f.expires,
		})
	}
}

// provision builds a handler on a fixed clock.
func provision(t testing.TB, u *UpstreamAuth, now *time.Time) *UpstreamAuth {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	u.now = func() time.Time { return *now }
	if err := u.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Cleanup() })
	return u
}

// serve sends one request with subject as api_auth's verified token and
// returns the answer and the header the upstream got.
func serve(u *UpstreamAuth, subject, header string) (*httptest.ResponseRecorder, string) {
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
	gateway.SetSubjectToken(r, subject)
	w := httptest.NewRecorder()
	var got string
	_ = u.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		got = r.Header.Get(header)
		return nil
	}))
	return w, got
}

func exchangeConfig(url string) *UpstreamAuth {
	return &UpstreamAuth{TokenExchange: &TokenExchange{
		TokenURL: url, ClientID: "apigate", ClientSecret: "s3cret-client",
		Audience: []string{"orders"}, Scope: []string{"orders:read"}, Resource: []string{"https://orders.example"},
	}}
}

func TestExchangeSendsRFC8693AndCaches(t *testing.T) {
	idp := newFakeIdP(t)
	now := time.Unix(1_700_000_000, 0)
	u := provision(t, exchangeConfig(idp.URL), &now)
	for i := range 3 {
		w, got := serve(u, "subject-a", "Authorization")
		if w.Code != 200 || got != "Bearer x.subject-a.orders" {
			t.Fatalf("request %d: %d, upstream got %q", i, w.Code, got)
		}
	}
	if n := idp.calls.Load(); n != 1 {
		t.Fatalf("%d exchanges for one subject, want 1", n)
	}
	f := idp.forms[0]
	want := map[string]string{
		"grant_type": grantTokenExchange, "subject_token": "subject-a", "subject_token_type": tokenTypeAccessToken,
		"requested_token_type": tokenTypeAccessToken, "audience": "orders", "scope": "orders:read", "resource": "https://orders.example",
	}
	for k, v := range want {
		if got := strings.Join(f[k], ","); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, ok := f["client_secret"]; ok {
		t.Error("client_secret_basic sent the secret in the body")
	}
	// Another subject: another exchange.
	if _, got := serve(u, "subject-b", "Authorization"); got != "Bearer x.subject-b.orders" {
		t.Fatalf("subject b got %q", got)
	}
	// expires_in 300: used for 270 s (300 - max(30, 30)).
	now = now.Add(269 * time.Second)
	serve(u, "subject-a", "Authorization")
	if n := idp.calls.Load(); n != 2 {
		t.Fatalf("%d exchanges before expiry, want 2", n)
	}
	now = now.Add(2 * time.Second)
	serve(u, "subject-a", "Authorization")
	if n := idp.calls.Load(); n != 3 {
		t.Fatalf("%d exchanges after the margin, want 3", n)
	}
}

func TestConcurrentMissesMakeOneExchange(t *testing.T) {
	idp := newFakeIdP(t)
	idp.release = make(chan struct{})
	now := time.Unix(1_700_000_000, 0)
	u := provision(t, exchangeConfig(idp.URL), &now)
	var wg sync.WaitGroup
	var bad atomic.Int64
	misses := testutil.ToFloat64(tokenMisses)
	for range 50 {
		wg.Go(func() {
			if w, got := serve(u, "subject-c", "Authorization"); w.Code != 200 || got != "Bearer x.subject-c.orders" {
				bad.Add(1)
			}
		})
	}
	// Hold the exchange until all 50 requests have missed the cache and
	// gone for a token (polled, not slept: a slow machine only waits longer).
	deadline := time.Now().Add(30 * time.Second)
	for idp.calls.Load() == 0 || testutil.ToFloat64(tokenMisses)-misses < 50 {
		if time.Now().After(deadline) {
			close(idp.release)
			t.Fatalf("after 30 s: %d exchanges, %v misses", idp.calls.Load(), testutil.ToFloat64(tokenMisses)-misses)
		}
		time.Sleep(time.Millisecond)
	}
	close(idp.release)
	wg.Wait()
	if bad.Load() != 0 || idp.calls.Load() != 1 {
		t.Fatalf("%d bad answers, %d exchanges; want 0 and 1", bad.Load(), idp.calls.Load())
	}
}

// TestCacheSurvivesReload provisions the same configuration again, as a
// reload does (the new handler first, then the old one's Cleanup): the new
// handler serves the tokens the old one obtained. A changed audience is
// another configuration, with a cache of its own.
func TestCacheSurvivesReload(t *testing.T) {
	idp := newFakeIdP(t)
	now := time.Unix(1_700_000_000, 0)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	load := func(cfg *UpstreamAuth) *UpstreamAuth {
		cfg.now = func() time.Time { return now }
		if err := cfg.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	old := load(exchangeConfig(idp.URL))
	if w, got := serve(old, "subject-r", "Authorization"); w.Code != 200 || got != "Bearer x.subject-r.orders" {
		t.Fatalf("before the reload: %d %q", w.Code, got)
	}
	fresh := load(exchangeConfig(idp.URL))
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	defer fresh.Cleanup() //nolint:errcheck
	if w, got := serve(fresh, "subject-r", "Authorization"); w.Code != 200 || got != "Bearer x.subject-r.orders" {
		t.Fatalf("after the reload: %d %q", w.Code, got)
	}
	if n := idp.calls.Load(); n != 1 {
		t.Fatalf("%d exchanges across a reload, want 1", n)
	}
	other := exchangeConfig(idp.URL)
	other.TokenExchange.Audience = []string{"billing"}
	billing := load(other)
	defer billing.Cleanup() //nolint:errcheck
	if _, got := serve(billing, "subject-r", "Authorization"); got != "Bearer x.subject-r.billing" {
		t.Fatalf("another audience got %q", got)
	}
	if n := idp.calls.Load(); n != 2 {
		t.Fatalf("%d exchanges with a changed audience, want 2", n)
	}
	// The last handler's Cleanup frees the cache: a new one starts empty.
	if err := fresh.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := caches.References(fresh.cacheKey); ok {
		t.Fatal("the cache outlived the last handler using it")
	}
	fresh.cacheKey = "" // cleaned up above
}

func TestProviderFailureAndRefusal(t *testing.T) {
	idp := newFakeIdP(t)
	now := time.Unix(1_700_000_000, 0)
	u := provision(t, exchangeConfig(idp.URL), &now)
	w, got := serve(u, "refused", "Authorization")
	if w.Code != http.StatusUnauthorized || got != "" || strings.Contains(w.Body.String(), "invalid_grant") {
		t.Fatalf("refused: %d %q %s", w.Code, got, w.Body)
	}
	idp.status = http.StatusServiceUnavailable
	w, _ = serve(u, "subject-d", "Authorization")
	if w.Code != http.StatusBadGateway || strings.Contains(w.Body.String(), "10.0.0.7") || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("failing provider: %d %s", w.Code, w.Body)
	}
	idp.Close()
	w, _ = serve(u, "subject-e", "Authorization")
	if w.Code != http.StatusBadGateway {
		t.Fatalf("provider down: %d", w.Code)
	}
}

func TestNoSubjectToken(t *testing.T) {
	idp := newFakeIdP(t)
	now := time.Unix(1_700_000_000, 0)
	u := provision(t, exchangeConfig(idp.URL), &now)
	if w, _ := serve(u, "", "Authorization"); w.Code != http.StatusUnauthorized || idp.calls.Load() != 0 {
		t.Fatalf("no subject: %d, %d calls", w.Code, idp.calls.Load())
	}
	cfg := exchangeConfig(idp.URL)
	cfg.TokenExchange.Fallback = "client_credentials"
	cfg.Header = "X-Upstream-Token"
	u = provision(t, cfg, &now)
	for range 2 {
		if w, got := serve(u, "", "X-Upstream-Token"); w.Code != 200 || got != "x.gateway.orders" {
			t.Fatalf("fallback: %d %q", w.Code, got)
		}
	}
	if idp.calls.Load() != 1 || idp.forms[0].Get("grant_type") != "client_credentials" {
		t.Fatalf("fallback: %d calls, %v", idp.calls.Load(), idp.forms)
	}
}

func TestClientSecretPost(t *testing.T) {
	idp := newFakeIdP(t)
	idp.check = func(r *http.Request) bool {
		_, _, basic := r.BasicAuth()
		return !basic && r.PostForm.Get("client_id") == "apigate" && r.PostForm.Get("client_secret") == "s3cret-client"
	}
	now := time.Unix(1_700_000_000, 0)
	cfg := exchangeConfig(idp.URL)
	cfg.TokenExchange.AuthMethod = authPost
	u := provision(t, cfg, &now)
	if w, got := serve(u, "subject-f", "Authorization"); w.Code != 200 || got == "" {
		t.Fatalf("client_secret_post: %d %q", w.Code, got)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	file := filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	idp := newFakeIdP(t)
	now := time.Now()
	idp.check = func(r *http.Request) bool {
		if r.PostForm.Get("client_assertion_type") != assertionTypeJWTBearer {
			return false
		}
		var claims jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(r.PostForm.Get("client_assertion"), &claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(idp.URL), jwt.WithIssuer("apigate"), jwt.WithSubject("apigate"))
		return err == nil && claims.ID != ""
	}
	cfg := exchangeConfig(idp.URL)
	cfg.TokenExchange.ClientSecret = ""
	cfg.TokenExchange.AuthMethod = authPrivateKey
	cfg.TokenExchange.KeyFile = file
	u := provision(t, cfg, &now)
	if w, got := serve(u, "subject-g", "Authorization"); w.Code != 200 || got == "" {
		t.Fatalf("private_key_jwt: %d %q", w.Code, got)
	}

	// A provider that wants its issuer as the assertion's audience.
	wantAud := "https://idp.example.com"
	idp.check = func(r *http.Request) bool {
		var claims jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(r.PostForm.Get("client_assertion"), &claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(wantAud), jwt.WithIssuer("apigate"))
		return err == nil && len(claims.Audience) == 1
	}
	cfg = exchangeConfig(idp.URL)
	cfg.TokenExchange.ClientSecret = ""
	cfg.TokenExchange.AuthMethod = authPrivateKey
	cfg.TokenExchange.KeyFile = file
	cfg.TokenExchange.AssertionAudience = wantAud
	u = provision(t, cfg, &now)
	if w, got := serve(u, "subject-h", "Authorization"); w.Code != 200 || got == "" {
		t.Fatalf("private_key_jwt with assertion_audience: %d %q", w.Code, got)
	}
}

func TestClientCredentials(t *testing.T) {
	idp := newFakeIdP(t)
	now := time.Unix(1_700_000_000, 0)
	u := provision(t, &UpstreamAuth{ClientCredentials: &ClientCredentials{
		TokenURL: idp.URL, ClientID: "apigate", ClientSecret: "s3cret-client", Audience: []string{"billing"}, Scope: []string{"billing:read"},
	}}, &now)
	for _, sub := range []string{"", "subject-h", ""} {
		if w, got := serve(u, sub, "Authorization"); w.Code != 200 || got != "Bearer x.gateway.billing" {
			t.Fatalf("client_credentials: %d %q", w.Code, got)
		}
	}
	if n := idp.calls.Load(); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	if f := idp.forms[0]; f.Get("grant_type") != "client_credentials" || f.Get("scope") != "billing:read" {
		t.Fatalf("form %v", f)
	}
}

func TestLifetime(t *testing.T) {
	for exp, want := range map[time.Duration]time.Duration{
		0:                 0,
		20 * time.Second:  10 * time.Second,
		60 * time.Second:  30 * time.Second,
		300 * time.Second: 270 * time.Second,
		time.Hour:         54 * time.Minute,
	} {
		if got := lifetime(exp); got != want {
			t.Errorf("lifetime(%s) = %s, want %s", exp, got, want)
		}
	}
}

func TestParseTokenResponse(t *testing.T) {
	const js = "application/json"
	for name, c := range map[string]struct {
		status  int
		ctype   string
		body    string
		token   string
		code    string
		refused bool
	}{
		"ok":             {200, js, `{"access_token":"abc","token_type":"Bearer","expires_in":60}`, "abc", "", false},
		"string expiry":  {200, js + "; charset=utf-8", `{"access_token":"abc","token_type":"bearer","expires_in":"60"}`, "abc", "", false},
		"N_A":            {200, js, `{"access_token":"abc","token_type":"N_A"}`, "abc", "", false},
		"dpop":           {200, js, `{"access_token":"abc","token_type":"DPoP"}`, "", "unsupported_token_type", false},
		"no token":       {200, js, `{"token_type":"Bearer"}`, "", "bad_response", false},
		"newline token":  {200, js, `{"access_token":"a\nb"}`, "", "bad_response", false},
		"html":           {200, "text/html", `<html>`, "", "bad_response", false},
		"negative":       {200, js, `{"access_token":"abc","expires_in":-1}`, "", "bad_response", false},
		"invalid_grant":  {400, js, `{"error":"invalid_grant"}`, "", "invalid_grant", true},
		"invalid_client": {401, js, `{"error":"invalid_client"}`, "", "invalid_client", false},
		"500":            {500, js, `{"error":"invalid_grant"}`, "", "invalid_grant", false},
		"odd code":       {400, js, `{"error":"has space"}`, "", "unrecognized", false},
		"not json":       {400, "text/plain", `nope`, "", "none", false},
	} {
		tok, err := parseTokenResponse(c.status, c.ctype, []byte(c.body))
		if c.token != "" {
			if err != nil || tok.AccessToken != c.token {
				t.Errorf("%s: %v %q", name, err, tok.AccessToken)
			}
			continue
		}
		pe := asProviderError(err)
		if err == nil || pe.Code != c.code || pe.Refused != c.refused {
			t.Errorf("%s: %+v, want code %s refused %v", name, pe, c.code, c.refused)
		}
	}
}

func FuzzParseTokenResponse(f *testing.F) {
	f.Add(200, `{"access_token":"abc","token_type":"Bearer","expires_in":60}`)
	f.Add(400, `{"error":"invalid_grant","error_description":"x"}`)
	f.Add(200, `{"access_token":"a","expires_in":"1e99"}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		tok, err := parseTokenResponse(status, "application/json", []byte(body))
		if err == nil {
			if status != 200 || tok.AccessToken == "" || !headerSafe(tok.AccessToken) || tok.ExpiresIn < 0 {
				t.Fatalf("accepted %d %q: %+v", status, body, tok)
			}
			return
		}
		if pe := asProviderError(err); strings.Contains(fmt.Sprint(pe), body) && len(body) > 8 {
			t.Fatalf("error %v echoes the body", pe)
		}
	})
}
