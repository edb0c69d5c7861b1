package authn

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type introspectIDP struct {
	srv   *httptest.Server
	mu    sync.Mutex
	ans   map[string]map[string]any
	calls atomic.Int64
	down  atomic.Bool
	gate  chan struct{}
}

func newIntrospectIDP(t *testing.T) *introspectIDP {
	p := &introspectIDP{ans: map[string]map[string]any{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.calls.Add(1)
		if p.gate != nil {
			<-p.gate
		}
		if p.down.Load() {
			http.Error(w, "down", 502)
			return
		}
		id, secret, _ := r.BasicAuth()
		if id != "gate%3Away" || secret != "s%26cret" { // form-encoded per RFC 6749 2.3.1
			http.Error(w, "bad client", 401)
			return
		}
		if err := r.ParseForm(); err != nil || r.PostForm.Get("token_type_hint") != "access_token" {
			http.Error(w, "bad form", 400)
			return
		}
		p.mu.Lock()
		a, ok := p.ans[r.PostForm.Get("token")]
		p.mu.Unlock()
		if !ok {
			a = map[string]any{"active": false}
		}
		json.NewEncoder(w).Encode(a) //nolint:errcheck
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *introspectIDP) set(tok string, a map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a == nil {
		delete(p.ans, tok)
	} else {
		p.ans[tok] = a
	}
}

func (p *introspectIDP) introspector() *Introspector {
	return &Introspector{URL: p.srv.URL, ClientID: "gate:way", ClientSecret: "s&cret", Client: NewHTTPClient(5 * time.Second),
		Cache: NewTokenCache(100), CacheTTL: 30 * time.Second, NegativeTTL: 5 * time.Second,
		Audiences: []string{"orders-api"}, ScopesClaims: []string{"scope"}, Claims: []string{"client_id"}}
}

func TestIntrospection(t *testing.T) {
	p := newIntrospectIDP(t)
	in := p.introspector()
	ctx := context.Background()
	p.set("tok-active", map[string]any{"active": true, "sub": "shop", "scope": "orders:read orders:write", "aud": "orders-api", "client_id": "c1", "exp": t0.Add(time.Hour).Unix()})
	id, err := in.Verify(ctx, "tok-active", t0)
	if err != nil || id.Consumer != "shop" || id.ScopeString != "orders:read orders:write" || id.Method != "introspect" || id.Claims["client_id"] != "c1" {
		t.Fatalf("active: %+v %v", id, err)
	}

	// Inactive, and its negative entry is short.
	if _, err := in.Verify(ctx, "tok-unknown", t0); err != ErrInactive {
		t.Fatalf("inactive: %v", err)
	}
	p.set("tok-unknown", map[string]any{"active": true, "sub": "late", "aud": "orders-api"})
	if _, err := in.Verify(ctx, "tok-unknown", t0.Add(4*time.Second)); err != ErrInactive {
		t.Fatalf("negative cache: %v", err)
	}
	if _, err := in.Verify(ctx, "tok-unknown", t0.Add(6*time.Second)); err != nil {
		t.Fatalf("after the negative entry: %v", err)
	}

	// Revoked: the cached entry answers until it expires, then the provider's no.
	calls := p.calls.Load()
	p.set("tok-active", nil)
	if _, err := in.Verify(ctx, "tok-active", t0.Add(29*time.Second)); err != nil {
		t.Fatalf("cached entry: %v", err)
	}
	if p.calls.Load() != calls {
		t.Fatal("the cached entry called the provider")
	}
	if _, err := in.Verify(ctx, "tok-active", t0.Add(31*time.Second)); err != ErrInactive {
		t.Fatalf("revoked after the cache entry expired: %v", err)
	}

	// The cache never outlives exp.
	p.set("tok-short", map[string]any{"active": true, "sub": "shop", "aud": []any{"x", "orders-api"}, "exp": t0.Add(10 * time.Second).Unix()})
	if _, err := in.Verify(ctx, "tok-short", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Verify(ctx, "tok-short", t0.Add(10*time.Second)); err != ErrExpired {
		t.Fatalf("past exp: %v", err)
	}

	// Wrong audience, missing subject, exp in the past.
	p.set("tok-aud", map[string]any{"active": true, "sub": "shop", "aud": "billing"})
	p.set("tok-nosub", map[string]any{"active": true, "aud": "orders-api"})
	p.set("tok-old", map[string]any{"active": true, "sub": "shop", "aud": "orders-api", "exp": t0.Add(-time.Second).Unix()})
	p.set("tok-activestr", map[string]any{"active": "true", "sub": "shop", "aud": "orders-api"})
	for tok, want := range map[string]error{"tok-aud": ErrClaims, "tok-nosub": ErrClaims, "tok-old": ErrExpired, "tok-activestr": ErrIdPUnavailable} {
		if _, err := in.Verify(ctx, tok, t0); err != want {
			t.Errorf("%s: %v, want %v", tok, err, want)
		}
	}

	// Provider down: cached tokens keep working, others get 503 and are not cached.
	p.set("tok-cached", map[string]any{"active": true, "sub": "shop", "aud": "orders-api"})
	if _, err := in.Verify(ctx, "tok-cached", t0); err != nil {
		t.Fatal(err)
	}
	p.down.Store(true)
	if _, err := in.Verify(ctx, "tok-cached", t0.Add(time.Second)); err != nil {
		t.Fatalf("cached while down: %v", err)
	}
	p.set("tok-new", map[string]any{"active": true, "sub": "shop", "aud": "orders-api"})
	if _, err := in.Verify(ctx, "tok-new", t0); err != ErrIdPUnavailable {
		t.Fatalf("uncached while down: %v", err)
	}
	p.down.Store(false)
	if _, err := in.Verify(ctx, "tok-new", t0); err != nil {
		t.Fatalf("after the provider is back: %v", err)
	}

	for _, bad := range []string{"", "with space", "nul\x00", string(make([]byte, MaxTokenLen+1))} {
		if _, err := in.Verify(ctx, bad, t0); err != ErrMalformed {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestIntrospectionCoalesces(t *testing.T) {
	p := newIntrospectIDP(t)
	p.gate = make(chan struct{})
	in := p.introspector()
	p.set("tok", map[string]any{"active": true, "sub": "shop", "aud": "orders-api"})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := in.Verify(context.Background(), "tok", t0); err != nil {
				t.Error(err)
			}
		}()
	}
	for p.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(p.gate)
	wg.Wait()
	if n := p.calls.Load(); n > 2 {
		t.Fatalf("%d calls for one token, want 1 (2 at most if one request came late)", n)
	}
}
