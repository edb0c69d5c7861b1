package authn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/keystore"
)

// testNow is the fixed clock of the handler tests.
var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// fakeApp is the api_gateway app as the handlers see it (gateway.App and the
// signer): a real key store on a temporary folder, lockers in memory, and a
// record of the events and grace uses.
type fakeApp struct {
	store  *keystore.Store
	signer *Signer

	mu        sync.Mutex
	events    []string
	graceUses int
	lockers   map[string]*countLocker
}

func newFakeApp(s *keystore.Store) *fakeApp {
	return &fakeApp{store: s, lockers: map[string]*countLocker{}}
}

func (a *fakeApp) Store() *keystore.Store             { return a.store }
func (a *fakeApp) RedisClient() redis.UniversalClient { return nil }
func (a *fakeApp) RetainRedis() (redis.UniversalClient, func() error) {
	return nil, func() error { return nil }
}

func (a *fakeApp) Emit(name string, _ map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, name)
}

func (a *fakeApp) NoteGraceUse(string, string, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.graceUses++
}

func (a *fakeApp) Locker(name string) (gateway.Locker, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l, ok := a.lockers[name]; ok {
		return l, nil
	}
	l := &countLocker{fails: map[string][]time.Time{}, until: map[string]time.Time{}}
	a.lockers[name] = l
	return l, nil
}

func (a *fakeApp) Signer() (*Signer, error) { return a.signer, nil }

// countLocker is a plain gateway.Locker: the failures within the window.
type countLocker struct {
	mu    sync.Mutex
	fails map[string][]time.Time
	until map[string]time.Time
}

func (l *countLocker) Locked(_ context.Context, now time.Time, key string) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(0, l.until[key].Sub(now)), nil
}

func (l *countLocker) Fail(_ context.Context, now time.Time, key string, failures int, window, lock time.Duration) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var recent []time.Time
	for _, t := range append(l.fails[key], now) {
		if now.Sub(t) < window {
			recent = append(recent, t)
		}
	}
	l.fails[key] = recent
	if len(recent) < failures {
		return 0, nil
	}
	delete(l.fails, key)
	l.until[key] = now.Add(lock)
	return lock, nil
}

// testContext is a Caddy context for provisioning parts that need no config.
func testContext(t testing.TB) caddy.Context {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}

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

// testAuth returns api_auth on app with methods, as Provision wires them (a
// method that takes Bearer tokens never sees an API key).
func testAuth(t testing.TB, app *fakeApp, methods ...AuthMethod) *Auth {
	t.Helper()
	g, err := gateway.NewGate(testContext(t), "api_auth", gateway.Enforce)
	if err != nil {
		t.Fatal(err)
	}
	a := &Auth{app: app, logger: zap.NewNop(), now: func() time.Time { return testNow }, gate: g, answers: newAnswers(g)}
	a.use(methods, "agk")
	return a
}

// apiKeyMethod returns the api_key method on s, reading the query parameter
// query when it is given.
func apiKeyMethod(s *keystore.Store, query ...string) *APIKeyMethod {
	m := &APIKeyMethod{keys: APIKey{Header: "X-Api-Key", Prefix: "agk", Keys: s}}
	if len(query) > 0 {
		m.keys.Query = query[0]
	}
	return m
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

var _ gateway.App = (*fakeApp)(nil)
