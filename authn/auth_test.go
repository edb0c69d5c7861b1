package authn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/keystore"
)

func TestAuthHandler(t *testing.T) {
	s, keys := testStore(t, []string{"orders:read", "tier:gold"})
	a := testAuth(t, newFakeApp(s), apiKeyMethod(s))

	t.Run("accepted", func(t *testing.T) {
		r, repl := newRequest("GET", "/orders?x=1", "127.0.0.1")
		r.Header.Set("X-API-Key", keys[0])
		w := httptest.NewRecorder()
		next := &recordNext{}
		if err := a.ServeHTTP(w, r, next); err != nil {
			t.Fatal(err)
		}
		if !next.called {
			t.Fatal("next not called")
		}
		if next.req.Header.Get("X-API-Key") != "" {
			t.Error("key not stripped")
		}
		for k, want := range map[string]string{
			"http.auth.user.id": "c0", "http.auth.user.scopes": "orders:read tier:gold", "http.auth.user.method": "api_key",
		} {
			if got, _ := repl.GetString(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if id := gateway.IdentityFrom(next.req); id == nil || id.Consumer != "c0" {
			t.Errorf("identity %+v", id)
		}
	})

	for name, set := range map[string]func(*http.Request){
		"none":        func(*http.Request) {},
		"garbage":     func(r *http.Request) { r.Header.Set("X-API-Key", "garbage") },
		"empty":       func(r *http.Request) { r.Header.Set("X-API-Key", "") },
		"two headers": func(r *http.Request) { r.Header.Add("X-API-Key", keys[0]); r.Header.Add("X-API-Key", keys[0]) },
		"header+bearer": func(r *http.Request) {
			r.Header.Set("X-API-Key", keys[0])
			r.Header.Set("Authorization", "Bearer "+keys[0])
		},
		"two bearers": func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer "+keys[0])
			r.Header.Add("Authorization", "Bearer "+keys[0])
		},
		"bearer empty": func(r *http.Request) { r.Header.Set("Authorization", "Bearer agk_") },
		"control":      func(r *http.Request) { r.Header.Set("X-API-Key", "agk_\x00\x01") },
		"huge":         func(r *http.Request) { r.Header.Set("X-API-Key", strings.Repeat("A", 1<<16)) },
	} {
		t.Run(name, func(t *testing.T) {
			r, _ := newRequest("GET", "/", "127.0.0.1")
			set(r)
			w := httptest.NewRecorder()
			next := &recordNext{}
			if err := a.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			if next.called || w.Code != 401 {
				t.Fatalf("status %d, next called %v", w.Code, next.called)
			}
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="api"`) || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("headers %v", w.Header())
			}
			if strings.Contains(w.Body.String(), keys[0]) {
				t.Error("the answer echoes the key")
			}
			if d, ok := gateway.DecisionFrom(r); !ok || d.Handler != "api_auth" || d.Reason == "" {
				t.Errorf("decision %+v %v", d, ok)
			}
		})
	}

	// A bearer token no method accepts is a present but invalid credential.
	t.Run("non-key bearer is invalid", func(t *testing.T) {
		r, _ := newRequest("GET", "/", "127.0.0.1")
		r.Header.Set("Authorization", "Bearer eyJhbGciOi.x.y")
		w := httptest.NewRecorder()
		if err := a.ServeHTTP(w, r, &recordNext{}); err != nil {
			t.Fatal(err)
		}
		if w.Code != 401 || w.Header().Get("WWW-Authenticate") != gateway.ChallengeInvalid {
			t.Errorf("an unaccepted bearer token: %d %v", w.Code, w.Header())
		}
	})
}

// TestAuthRefusalsAreDecisions: every refusal of api_auth, the lockout's
// included, is recorded for the audit record as api_auth's with its reason
// and counted in rejections_total.
func TestAuthRefusalsAreDecisions(t *testing.T) {
	s, keys := testStore(t, []string{"a"})
	app := newFakeApp(s)
	a := testAuth(t, app, apiKeyMethod(s))
	a.Lockout = &LockoutConfig{Failures: 2, Window: caddy.Duration(time.Minute), Duration: caddy.Duration(90 * time.Second)}
	if err := a.Lockout.provision(testContext(t), app, a.logger); err != nil {
		t.Fatal(err)
	}
	serve := func(ip string, header ...string) (*httptest.ResponseRecorder, *http.Request) {
		r, _ := newRequest("GET", "/", ip)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		if err := a.ServeHTTP(w, r, &recordNext{}); err != nil {
			t.Fatal(err)
		}
		return w, r
	}
	check := func(r *http.Request, reason string) {
		t.Helper()
		if d, ok := gateway.DecisionFrom(r); !ok || d.Handler != "api_auth" || d.Reason != reason {
			t.Errorf("decision %+v %v, want api_auth/%s", d, ok, reason)
		}
	}
	_, r := serve("10.0.0.9")
	check(r, "no_credential")

	locked := gateway.Rejections.WithLabelValues("api_auth", "locked_out")
	before := testutil.ToFloat64(locked)
	wrong := keys[0][:len(keys[0])-1] + "!"
	for i := 0; i < 2; i++ {
		if w, r := serve("10.0.0.1", "X-API-Key", wrong); w.Code != 401 {
			t.Fatalf("failure %d: %d", i, w.Code)
		} else {
			check(r, "malformed")
		}
	}
	w, r := serve("10.0.0.1", "X-API-Key", keys[0])
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "90" || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("locked out: %d %v", w.Code, w.Header())
	}
	check(r, "locked_out")
	if got := testutil.ToFloat64(locked); got != before+1 {
		t.Errorf("rejections{locked_out} = %v, want %v", got, before+1)
	}
	if len(app.events) != 1 || app.events[0] != "auth.lockout" {
		t.Errorf("events %v", app.events)
	}
	// Another address is not locked out.
	if w, _ := serve("10.0.0.2", "X-API-Key", keys[0]); w.Code != 200 {
		t.Errorf("another address: %d", w.Code)
	}
}

// bearerMethod is a method reading Bearer tokens that records whether it was
// asked; takes says whether it declares so (BearerTaker).
type bearerMethod struct {
	takes  bool
	called bool
}

func (m *bearerMethod) Authenticate(*http.Request, netip.Addr, time.Time) (*Identity, error) {
	m.called = true
	return nil, ErrUnknown
}

func (m *bearerMethod) Carriers() Carriers { return bearerCarriers() }
func (m *bearerMethod) TakesBearer() bool  { return m.takes }

// TestBearerTakersNeverSeeAPIKeys: a method that says it takes Bearer tokens
// (as jwt and introspect do), written before api_key, never gets a Bearer API
// key, which goes to api_key; other Bearer tokens still reach it. A method
// that does not say so is asked like any other.
func TestBearerTakersNeverSeeAPIKeys(t *testing.T) {
	for _, m := range []AuthMethod{new(JWTMethod), new(IntrospectMethod)} {
		if bt, ok := m.(BearerTaker); !ok || !bt.TakesBearer() {
			t.Errorf("%T does not say it takes Bearer tokens", m)
		}
	}
	for _, m := range []AuthMethod{new(APIKeyMethod), new(ClientCertMethod)} {
		if _, ok := m.(BearerTaker); ok {
			t.Errorf("%T says it takes Bearer tokens", m)
		}
	}
	s, keys := testStore(t, []string{"a"})
	token := &bearerMethod{takes: true}
	a := testAuth(t, newFakeApp(s), token, apiKeyMethod(s))
	r, _ := newRequest("GET", "/", "127.0.0.1")
	r.Header.Set("Authorization", "Bearer "+keys[0])
	next := &recordNext{}
	if err := a.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
		t.Fatal(err)
	}
	if !next.called || token.called {
		t.Fatalf("key passed %v, token method called: %v", next.called, token.called)
	}
	r, _ = newRequest("GET", "/", "127.0.0.1")
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.x")
	if err := a.ServeHTTP(httptest.NewRecorder(), r, &recordNext{}); err != nil {
		t.Fatal(err)
	}
	if !token.called {
		t.Fatal("a JWT did not reach the token method")
	}

	plain := &bearerMethod{takes: false}
	a = testAuth(t, newFakeApp(s), plain, apiKeyMethod(s))
	r, _ = newRequest("GET", "/", "127.0.0.1")
	r.Header.Set("Authorization", "Bearer "+keys[0])
	w := httptest.NewRecorder()
	if err := a.ServeHTTP(w, r, &recordNext{}); err != nil {
		t.Fatal(err)
	}
	if !plain.called || w.Code != 401 {
		t.Fatalf("a method that does not say it takes Bearer tokens was skipped: %d, called %v", w.Code, plain.called)
	}
}

// wrappedKeys is a method that checks the gateway's keys without being an
// *APIKeyMethod: api_auth must find its keys through keyHolder.
type wrappedKeys struct{ *APIKeyMethod }

// TestRequireTLSFindsKeysThroughAnInterface: require_tls revoke_exposed
// revokes a valid key sent in clear text to any method that says it holds
// the gateway's keys (keyHolder), whatever its type: api_auth knows no
// concrete method type.
func TestRequireTLSFindsKeysThroughAnInterface(t *testing.T) {
	s, keys := testStore(t, []string{"a"})
	a := testAuth(t, newFakeApp(s), wrappedKeys{apiKeyMethod(s)})
	a.RequireTLS = &RequireTLSConfig{RevokeExposed: true}
	r, _ := newRequest("GET", "/", "127.0.0.1")
	r.Header.Set("X-API-Key", keys[0])
	w := httptest.NewRecorder()
	if err := a.ServeHTTP(w, r, &recordNext{}); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusForbidden {
		t.Fatalf("a key over plain HTTP: %d, want 403", w.Code)
	}
	if _, res := s.Authenticate(keys[0], testNow); res != keystore.Revoked {
		t.Fatalf("the exposed key is %v, want revoked", res)
	}
}

// tokenMethod is a token method accepting one Bearer token, as jwt would.
type tokenMethod struct{ token string }

func (m tokenMethod) Authenticate(r *http.Request, _ netip.Addr, _ time.Time) (*Identity, error) {
	v := r.Header.Get("Authorization")
	switch {
	case v == "":
		return nil, ErrNoCredential
	case v != "Bearer "+m.token:
		return nil, ErrInvalidToken
	}
	r.Header.Del("Authorization")
	return &Identity{Consumer: "idp-user", Method: "jwt"}, nil
}

func (tokenMethod) Carriers() Carriers { return bearerCarriers() }
func (tokenMethod) TakesBearer() bool  { return true }

// TestAuthOneCredentialOnly: whatever the order of the methods, a request
// holding two credentials is refused before any method decides, and a request
// holding one reaches the next handler with no carrier of any method left.
func TestAuthOneCredentialOnly(t *testing.T) {
	s, keys := testStore(t, []string{"a"}, []string{"a"})
	app := newFakeApp(s)
	const jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	const forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	orders := map[string]*Auth{
		"api_key then jwt": testAuth(t, app, apiKeyMethod(s, "api_key"), tokenMethod{jwt}),
		"jwt then api_key": testAuth(t, app, tokenMethod{jwt}, apiKeyMethod(s, "api_key")),
	}
	refused := map[string]struct {
		target  string
		headers [][2]string
	}{
		"key and forged token":        {"/", [][2]string{{"X-Api-Key", keys[0]}, {"Authorization", "Bearer " + forged}}},
		"token and other's key":       {"/", [][2]string{{"Authorization", "Bearer " + jwt}, {"X-Api-Key", keys[1]}}},
		"token and other's key query": {"/?api_key=" + keys[1], [][2]string{{"Authorization", "Bearer " + jwt}}},
		"key and basic":               {"/", [][2]string{{"X-Api-Key", keys[0]}, {"Authorization", "Basic dTpw"}}},
		"two keys":                    {"/", [][2]string{{"X-Api-Key", keys[0]}, {"Authorization", "Bearer " + keys[1]}}},
		"header and query differ":     {"/?api_key=" + keys[1], [][2]string{{"X-Api-Key", keys[0]}}},
		"same key twice":              {"/?api_key=" + keys[0], [][2]string{{"X-Api-Key", keys[0]}}},
		"repeated header":             {"/", [][2]string{{"X-Api-Key", keys[0]}, {"X-Api-Key", keys[1]}}},
		"token and empty key":         {"/", [][2]string{{"Authorization", "Bearer " + jwt}, {"X-Api-Key", ""}}},
	}
	passed := map[string]struct {
		target   string
		headers  [][2]string
		consumer string
	}{
		"key header": {"/?x=1", [][2]string{{"X-Api-Key", keys[0]}}, "c0"},
		"key bearer": {"/?x=1", [][2]string{{"Authorization", "Bearer " + keys[0]}}, "c0"},
		"key query":  {"/?x=1&api_key=" + keys[0], nil, "c0"},
		"token":      {"/?x=1", [][2]string{{"Authorization", "Bearer " + jwt}}, "idp-user"},
	}
	for order, a := range orders {
		for name, tt := range refused {
			t.Run(order+"/"+name, func(t *testing.T) {
				r, _ := newRequest("GET", tt.target, "127.0.0.1")
				for _, h := range tt.headers {
					r.Header.Add(h[0], h[1])
				}
				w := httptest.NewRecorder()
				next := &recordNext{}
				if err := a.ServeHTTP(w, r, next); err != nil {
					t.Fatal(err)
				}
				if next.called || w.Code != 401 || w.Header().Get("WWW-Authenticate") != gateway.ChallengeRequest || w.Header().Get("Content-Type") != "application/problem+json" {
					t.Fatalf("status %d, next called %v, headers %v", w.Code, next.called, w.Header())
				}
			})
		}
		for name, tt := range passed {
			t.Run(order+"/"+name, func(t *testing.T) {
				r, _ := newRequest("GET", tt.target, "127.0.0.1")
				for _, h := range tt.headers {
					r.Header.Add(h[0], h[1])
				}
				w := httptest.NewRecorder()
				next := &recordNext{}
				if err := a.ServeHTTP(w, r, next); err != nil {
					t.Fatal(err)
				}
				if !next.called {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
				if id := gateway.IdentityFrom(next.req); id == nil || id.Consumer != tt.consumer {
					t.Fatalf("identity %+v", id)
				}
				h := next.req.Header
				if len(h.Values("X-Api-Key"))+len(h.Values("Authorization")) != 0 || next.req.URL.RawQuery != "x=1" || next.req.RequestURI != "/?x=1" {
					t.Fatalf("a credential went on: %v %q %q", h, next.req.URL.RawQuery, next.req.RequestURI)
				}
			})
		}
	}
}

// certMethod stands for client_cert: a credential of the connection, read
// from no request carrier.
type certMethod struct{}

func (certMethod) Authenticate(*http.Request, netip.Addr, time.Time) (*Identity, error) {
	return &Identity{Consumer: "ci-bot", Method: "client_cert"}, nil
}

func (certMethod) Carriers() Carriers { return Carriers{} }

// TestAuthStripsCarriersOfMethodsThatDidNotDecide: a method that decides
// without reading a request carrier (client_cert) still leaves none of the
// other methods' carriers to the upstream.
func TestAuthStripsCarriersOfMethodsThatDidNotDecide(t *testing.T) {
	s, keys := testStore(t, []string{"a"})
	a := testAuth(t, newFakeApp(s), certMethod{}, apiKeyMethod(s, "api_key"))
	for name, set := range map[string]func(*http.Request){
		"header": func(r *http.Request) { r.Header.Set("X-Api-Key", keys[0]) },
		"bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+keys[0]) },
		"basic":  func(r *http.Request) { r.Header.Set("Authorization", "Basic dTpw") },
		"query":  func(r *http.Request) { r.URL.RawQuery += "&api_key=" + keys[0]; r.RequestURI = r.URL.RequestURI() },
	} {
		t.Run(name, func(t *testing.T) {
			r, _ := newRequest("GET", "/?x=1", "127.0.0.1")
			set(r)
			next := &recordNext{}
			if err := a.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
				t.Fatal(err)
			}
			if !next.called || gateway.IdentityFrom(next.req).Method != "client_cert" {
				t.Fatal("the certificate did not decide")
			}
			h := next.req.Header
			if len(h.Values("X-Api-Key"))+len(h.Values("Authorization")) != 0 || next.req.URL.RawQuery != "x=1" || next.req.RequestURI != "/?x=1" {
				t.Fatalf("a credential went on: %v %q %q", h, next.req.URL.RawQuery, next.req.RequestURI)
			}
		})
	}
}

var noop = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

// benchAuth sends a request to target carrying value in header through a,
// over and over.
func benchAuth(b *testing.B, a *Auth, target, header, value string) {
	r, _ := newRequest("GET", target, "127.0.0.1")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r.Header.Set(header, value)
		if err := a.ServeHTTP(w, r, noop); err != nil || w.Code != 200 {
			b.Fatal(w.Code, err)
		}
	}
}

// BenchmarkAuthAPIKey measures api_auth's whole request path for a valid key:
// find, parse, look up, verify, strip, set placeholders.
func BenchmarkAuthAPIKey(b *testing.B) {
	s, keys := testStore(b, []string{"orders:read"})
	benchAuth(b, testAuth(b, newFakeApp(s), apiKeyMethod(s)), "/orders", "X-Api-Key", keys[0])
}

// BenchmarkAuthAPIKeyQueryOn is the same path with `api_key { query api_key }`
// and a query string that holds other parameters: the gateway scans the query
// for the key parameter on every request.
func BenchmarkAuthAPIKeyQueryOn(b *testing.B) {
	s, keys := testStore(b, []string{"orders:read"})
	a := testAuth(b, newFakeApp(s), apiKeyMethod(s, "api_key"))
	benchAuth(b, a, "/orders?page=2&sort=desc&fields=id,total", "X-Api-Key", keys[0])
}

// BenchmarkAuthJWT is api_auth's path for a JWT it verified before (the
// token cache), behind an api_key method it skips.
func BenchmarkAuthJWT(b *testing.B) {
	s, _ := testStore(b)
	const secret = "0123456789abcdef0123456789abcdef"
	m := &JWTMethod{Secret: secret, Issuer: "https://idp", Audience: []string{"api"}}
	if err := m.Provision(testContext(b)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Cleanup() }) //nolint:errcheck
	a := testAuth(b, newFakeApp(s), apiKeyMethod(s), m)
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://idp", "aud": "api", "sub": "u", "scope": "orders:read", "exp": testNow.Add(time.Hour).Unix()}).SignedString([]byte(secret))
	benchAuth(b, a, "/orders", "Authorization", "Bearer "+tok)
}

// metaStore is a store holding one key with metadata.
func metaStore(t testing.TB) (*keystore.Store, string) {
	t.Helper()
	s, _ := testStore(t)
	_, key, err := s.Create(context.Background(), keystore.CreateRequest{Consumer: "shop",
		Metadata: map[string]string{"account": "acme-42", "tenant": "eu_1"}}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return s, key
}

func TestMetadataPlaceholders(t *testing.T) {
	s, key := metaStore(t)
	a := testAuth(t, newFakeApp(s), apiKeyMethod(s))
	r, repl := newRequest("GET", "/orders", "127.0.0.1")
	r.Header.Set("X-Api-Key", key)
	if err := a.ServeHTTP(httptest.NewRecorder(), r, &recordNext{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"account": "acme-42", "tenant": "eu_1", "missing": ""} {
		if got, _ := repl.GetString("http.auth.user.meta." + name); got != want {
			t.Errorf("{http.auth.user.meta.%s} = %q, want %q", name, got, want)
		}
	}
}

// BenchmarkAuthAPIKeyMetadata is BenchmarkAuthAPIKey for a key with two
// metadata pairs: their placeholders cost no allocation.
func BenchmarkAuthAPIKeyMetadata(b *testing.B) {
	s, key := metaStore(b)
	benchAuth(b, testAuth(b, newFakeApp(s), apiKeyMethod(s)), "/orders", "X-Api-Key", key)
}
