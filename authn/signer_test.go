package authn

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStorage is an in-memory Storage.
type memStorage struct {
	mu    sync.Mutex
	files map[string][]byte
	lock  sync.Mutex
}

func newMemStorage() *memStorage { return &memStorage{files: map[string][]byte{}} }

func (m *memStorage) Store(_ context.Context, key string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[key] = append([]byte(nil), v...)
	return nil
}

func (m *memStorage) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.files[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return v, nil
}

func (m *memStorage) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.files, key)
	return nil
}

func (m *memStorage) List(_ context.Context, p string, _ bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.files {
		if strings.HasPrefix(k, p+"/") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fs.ErrNotExist
	}
	return out, nil
}

func (m *memStorage) Lock(context.Context, string) error   { m.lock.Lock(); return nil }
func (m *memStorage) Unlock(context.Context, string) error { m.lock.Unlock(); return nil }

func upstreamVerifier(t *testing.T, s *Signer) *JWT {
	t.Helper()
	keys, err := ParseJWKS(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	v := &JWT{Keys: StaticKeys{NewKeySet(keys)}, Algorithms: []string{"EdDSA", "ES256"}, Issuer: "caddy-apigate", Audiences: []string{"orders"}, ScopesClaims: []string{"scope"}}
	if err := v.Init(); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignerRotation(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			store := newMemStorage()
			const rotate = 720 * time.Hour
			a := &Signer{Storage: store, Alg: alg, RotateEvery: rotate}
			b := &Signer{Storage: store, Alg: alg, RotateEvery: rotate}
			if err := a.Sync(ctx, t0); err != nil {
				t.Fatal(err)
			}
			if err := b.Sync(ctx, t0); err != nil {
				t.Fatal(err)
			}
			k1 := a.ActiveKid(t0)
			if k1 == "" || b.ActiveKid(t0) != k1 {
				t.Fatalf("instances disagree on the first key: %q %q", k1, b.ActiveKid(t0))
			}
			m := &UpstreamMinter{Signer: a, Issuer: "caddy-apigate", Audience: "orders", TTL: time.Minute}
			id := &Identity{Consumer: "shop", Scopes: []string{"orders:read"}, ScopeString: "orders:read", Method: "api_key", KeyID: "abc"}
			tok1, err := m.Mint(id, t0)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := m.Mint(id, t0.Add(10*time.Second))
			if again != tok1 {
				t.Fatal("the token was not reused within half its life")
			}

			// Just before the rotation: the successor is published but not used.
			pre := t0.Add(rotate - a.PublishAhead())
			if err := b.Sync(ctx, pre); err != nil {
				t.Fatal(err)
			}
			if err := a.Sync(ctx, pre); err != nil {
				t.Fatal(err)
			}
			if len(store.files) != 2 {
				t.Fatalf("%d keys in storage after the successor was due, want 2 (one per cluster)", len(store.files))
			}
			if a.ActiveKid(pre) != k1 {
				t.Fatal("the successor signs before it was published ahead")
			}
			verifierBefore := upstreamVerifier(t, a) // an upstream caching the JWKS now
			after := t0.Add(rotate)
			k2 := a.ActiveKid(after)
			if k2 == k1 || k2 == "" || b.ActiveKid(after) != k2 {
				t.Fatalf("after the rotation: %q %q %q", k1, k2, b.ActiveKid(after))
			}
			tokOld, _ := m.Mint(id, pre)
			tokNew, err := m.Mint(id, after)
			if err != nil || tokNew == tokOld {
				t.Fatalf("no new token after the rotation: %v", err)
			}
			// The upstream that fetched the JWKS before the rotation verifies both.
			at := []time.Time{pre.Add(30 * time.Second), after.Add(30 * time.Second)}
			for i, tok := range []string{tokOld, tokNew} {
				got, err := verifierBefore.Verify(ctx, tok, at[i])
				if err != nil || got.Consumer != "shop" || got.ScopeString != "orders:read" {
					t.Fatalf("token %d: %+v %v", i, got, err)
				}
			}
			// The old key stays published until every token it signed expired.
			if err := a.Sync(ctx, after.Add(MaxUpstreamTTL)); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(a.JWKS()), k1) {
				t.Fatal("the old key was withdrawn while tokens it signed may live")
			}
			late := after.Add(a.Retain() + time.Second)
			if err := a.Sync(ctx, late); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(a.JWKS()), k1) || !strings.Contains(string(a.JWKS()), k2) {
				t.Fatalf("retention: %s", a.JWKS())
			}
		})
	}
}

func TestSignerGatewayDownLongerThanRotation(t *testing.T) {
	ctx := context.Background()
	store := newMemStorage()
	s := &Signer{Storage: store, Alg: "EdDSA", RotateEvery: time.Hour}
	if err := s.Sync(ctx, t0); err != nil {
		t.Fatal(err)
	}
	k1 := s.ActiveKid(t0)
	// Back after three rotation periods: the old key keeps signing until the
	// new one has been published ahead.
	back := t0.Add(3 * time.Hour)
	if err := s.Sync(ctx, back); err != nil {
		t.Fatal(err)
	}
	if s.ActiveKid(back) != k1 {
		t.Fatal("a key was used without being published ahead")
	}
	if k := s.ActiveKid(back.Add(s.PublishAhead())); k == k1 {
		t.Fatal("no rotation after publish-ahead")
	}
	if n := strings.Count(string(s.JWKS()), `"kid"`); n != 2 {
		t.Fatalf("%d keys published, want 2", n)
	}
}

func TestSignerConcurrentInstances(t *testing.T) {
	ctx := context.Background()
	store := newMemStorage()
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &Signer{Storage: store, Alg: "ES256", RotateEvery: time.Hour}
			if err := s.Sync(ctx, t0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(store.files) != 1 {
		t.Fatalf("%d keys for five instances starting together, want 1: %v", len(store.files), fmt.Sprint(len(store.files)))
	}
}
