package apigate

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
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/authn"
	"github.com/apigate/caddy-apigate/authz"
	"github.com/apigate/caddy-apigate/keystore"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testStore returns a store on a temporary folder with one key per scope set.
func testStore(t testing.TB, scopes ...[]string) (*keystore.Store, []string) {
	t.Helper()
	s := keystore.New(&certmagic.FileStorage{Path: t.TempDir()}, keystore.Policy{})
	var keys []string
	for i, sc := range scopes {
		_, key, err := s.Create(context.Background(), keystore.CreateRequest{Consumer: "c" + string(rune('0'+i)), Scopes: sc}, testNow)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return s, keys
}

// testAuth returns api_auth with one api_key method on s, reading the query
// parameter query when it is given.
func testAuth(s *keystore.Store, query ...string) *Auth {
	metricsOnce.Do(buildMetrics)
	a := &Auth{logger: zap.NewNop(), now: func() time.Time { return testNow }}
	m := &APIKeyMethod{keys: authn.APIKey{Header: "X-Api-Key", Prefix: "agk", Keys: s}}
	if len(query) > 0 {
		m.keys.Query = query[0]
	}
	a.addMethod(m)
	a.mAllowed = decisions.WithLabelValues("api_auth", "allowed")
	a.mNoCredential = decisions.WithLabelValues("api_auth", "no_credential")
	return a
}

// newRequest builds a request as Caddy's server prepares it: a replacer and the
// vars map (with the client IP) in its context.
func newRequest(method, target, clientIP string) (*http.Request, *caddy.Replacer) {
	r := httptest.NewRequest(method, target, nil)
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: clientIP})
	return r.WithContext(ctx), repl
}

// recordNext is the next handler: it records the request it got.
type recordNext struct {
	called bool
	req    *http.Request
}

func (n *recordNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.called, n.req = true, r
	w.WriteHeader(http.StatusOK)
	return nil
}

func TestAuthHandler(t *testing.T) {
	s, keys := testStore(t, []string{"orders:read", "tier:gold"})
	a := testAuth(s)

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
		if id := identityFrom(next.req); id == nil || id.Consumer != "c0" {
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
		if w.Code != 401 || w.Header().Get("WWW-Authenticate") != `Bearer realm="api", error="invalid_token"` {
			t.Errorf("an unaccepted bearer token: %d %v", w.Code, w.Header())
		}
	})
}

// BenchmarkAuthAPIKey measures api_auth's whole request path for a valid key:
// find, parse, look up, verify, strip, set placeholders.
func BenchmarkAuthAPIKey(b *testing.B) {
	s, keys := testStore(b, []string{"orders:read"})
	a := testAuth(s)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	az := &authz.Authorize{All: []string{"orders:read"}}
	if err := az.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })
	chain := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return az.ServeHTTP(w, r, next) })
	r, _ := newRequest("GET", "/orders", "127.0.0.1")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r.Header.Set("X-Api-Key", keys[0])
		if err := a.ServeHTTP(w, r, chain); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthAPIKeyQueryOn is the same path with `api_key { query api_key }`
// and a query string that holds other parameters: the gateway scans the query
// for the key parameter on every request.
func BenchmarkAuthAPIKeyQueryOn(b *testing.B) {
	s, keys := testStore(b, []string{"orders:read"})
	a := testAuth(s, "api_key")
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })
	r, _ := newRequest("GET", "/orders?page=2&sort=desc&fields=id,total", "127.0.0.1")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r.Header.Set("X-Api-Key", keys[0])
		if err := a.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}

func TestKeyRotateHandler(t *testing.T) {
	s, keys := testStore(t, []string{"orders:read"})
	e, _ := s.Authenticate(keys[0], testNow)
	metricsOnce.Do(buildMetrics)
	h := &KeyRotate{app: &App{store: s}, logger: zap.NewNop(), minAge: time.Minute}
	id := &authn.Identity{Consumer: e.Record.Consumer, KeyID: e.Record.ID, Method: "api_key"}
	serve := func(method string, id *authn.Identity, now time.Time) *httptest.ResponseRecorder {
		h.now = func() time.Time { return now }
		r, _ := newRequest(method, "/rotate", "127.0.0.1")
		if id != nil {
			caddyhttp.SetVar(r.Context(), identityVar, id)
		}
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, nil); err != nil {
			t.Fatal(err)
		}
		return w
	}
	if w := serve("GET", id, testNow); w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Fatalf("GET: %d %v", w.Code, w.Header())
	}
	if w := serve("POST", nil, testNow); w.Code != 401 {
		t.Fatalf("no identity: %d", w.Code)
	}
	if w := serve("POST", &authn.Identity{Consumer: "x", Method: "jwt"}, testNow); w.Code != 401 {
		t.Fatalf("jwt identity: %d", w.Code)
	}
	w := serve("POST", id, testNow.Add(30*time.Second))
	if w.Code != 429 || w.Header().Get("Retry-After") != "31" {
		t.Fatalf("too young: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	w = serve("POST", id, testNow.Add(2*time.Minute))
	if w.Code != 201 || !strings.Contains(w.Body.String(), `"key": "agk_`) {
		t.Fatalf("rotate: %d %s", w.Code, w.Body)
	}
	if w := serve("POST", id, testNow.Add(3*time.Minute)); w.Code != 409 {
		t.Fatalf("second rotation: %d", w.Code)
	}
}

// calledMethod is a token method that records whether it was asked.
type calledMethod struct{ called bool }

func (m *calledMethod) Authenticate(*http.Request, netip.Addr, time.Time) (*authn.Identity, error) {
	m.called = true
	return nil, authn.ErrUnknown
}

func (m *calledMethod) Carriers() authn.Carriers {
	var c authn.Carriers
	c.AddHeader("Authorization")
	return c
}

// TestTokenMethodsNeverSeeAPIKeys: with a token method (jwt, introspect) written
// before api_key, a Bearer API key still goes to api_key and never to the
// token method (which would send it to an identity provider).
func TestTokenMethodsNeverSeeAPIKeys(t *testing.T) {
	s, keys := testStore(t, []string{"a"})
	a := testAuth(s)
	token := &calledMethod{}
	a.methods = append([]AuthMethod{skipAPIKeys{token, "agk"}}, a.methods...)
	r, _ := newRequest("GET", "/", "127.0.0.1")
	r.Header.Set("Authorization", "Bearer "+keys[0])
	w := httptest.NewRecorder()
	next := &recordNext{}
	if err := a.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	if !next.called || token.called {
		t.Fatalf("status %d, token method called: %v", w.Code, token.called)
	}
	r, _ = newRequest("GET", "/", "127.0.0.1")
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.x")
	if err := a.ServeHTTP(httptest.NewRecorder(), r, &recordNext{}); err != nil {
		t.Fatal(err)
	}
	if !token.called {
		t.Fatal("a JWT did not reach the token method")
	}
}

// tokenMethod is a token method accepting one Bearer token, as jwt would.
type tokenMethod struct{ token string }

func (m tokenMethod) Authenticate(r *http.Request, _ netip.Addr, _ time.Time) (*authn.Identity, error) {
	v := r.Header.Get("Authorization")
	switch {
	case v == "":
		return nil, authn.ErrNoCredential
	case v != "Bearer "+m.token:
		return nil, authn.ErrInvalidToken
	}
	r.Header.Del("Authorization")
	return &authn.Identity{Consumer: "idp-user", Method: "jwt"}, nil
}

func (tokenMethod) Carriers() authn.Carriers { return (&authn.JWT{}).Carriers() }

// TestAuthOneCredentialOnly: whatever the order of the methods, a request
// holding two credentials is refused before any method decides, and a request
// holding one reaches the next handler with no carrier of any method left.
func TestAuthOneCredentialOnly(t *testing.T) {
	s, keys := testStore(t, []string{"a"}, []string{"a"})
	const jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	const forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	orders := map[string]func() *Auth{
		"api_key then jwt": func() *Auth {
			a := testAuth(s, "api_key")
			a.addMethod(skipAPIKeys{tokenMethod{jwt}, "agk"})
			return a
		},
		"jwt then api_key": func() *Auth {
			a := testAuth(s, "api_key")
			key := a.methods[0]
			a.methods, a.carriers = nil, authn.Carriers{}
			a.addMethod(skipAPIKeys{tokenMethod{jwt}, "agk"})
			a.addMethod(key)
			return a
		},
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
	for order, build := range orders {
		a := build()
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
				if next.called || w.Code != 401 || w.Header().Get("WWW-Authenticate") != challengeRequest || w.Header().Get("Content-Type") != "application/problem+json" {
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
				if id := identityFrom(next.req); id == nil || id.Consumer != tt.consumer {
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

func (certMethod) Authenticate(*http.Request, netip.Addr, time.Time) (*authn.Identity, error) {
	return &authn.Identity{Consumer: "ci-bot", Method: "client_cert"}, nil
}

func (certMethod) Carriers() authn.Carriers { return authn.Carriers{} }

// TestAuthStripsCarriersOfMethodsThatDidNotDecide: a method that decides
// without reading a request carrier (client_cert) still leaves none of the
// other methods' carriers to the upstream.
func TestAuthStripsCarriersOfMethodsThatDidNotDecide(t *testing.T) {
	s, keys := testStore(t, []string{"a"})
	a := testAuth(s, "api_key")
	key := a.methods[0]
	a.methods, a.carriers = nil, authn.Carriers{}
	a.addMethod(certMethod{})
	a.addMethod(key)
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
			if !next.called || identityFrom(next.req).Method != "client_cert" {
				t.Fatal("the certificate did not decide")
			}
			h := next.req.Header
			if len(h.Values("X-Api-Key"))+len(h.Values("Authorization")) != 0 || next.req.URL.RawQuery != "x=1" || next.req.RequestURI != "/?x=1" {
				t.Fatalf("a credential went on: %v %q %q", h, next.req.URL.RawQuery, next.req.RequestURI)
			}
		})
	}
}

// identityVar is gateway's request variable of the identity, for the tests
// that set one without a request at hand.
const identityVar = "apigate.identity"
