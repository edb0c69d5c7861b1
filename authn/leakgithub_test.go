package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// keyListServer stands in for GitHub's key list: its keys can change, it
// can be down, and it counts its fetches.
type keyListServer struct {
	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	down    bool
	fetches int
}

func (s *keyListServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	if s.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(githubKeyDoc(nil, s.keys)) //nolint:errcheck
}

func (s *keyListServer) set(f func(*keyListServer)) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f != nil {
		f(s)
	}
	return s.fetches
}

// TestGitHubKeysRefetch: the list is fetched when first needed and kept; an
// unknown key id makes one fetch at most per MinRefetch (a rotated key is
// found, a flood of made-up ids costs one fetch); a list that cannot be
// fetched leaves the keys known before in use and makes the others
// unavailable.
func TestGitHubKeysRefetch(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	list := &keyListServer{keys: map[string]*ecdsa.PublicKey{"k1": &k1.PublicKey}, down: true}
	srv := httptest.NewServer(list)
	defer srv.Close()
	g := &GitHubKeys{URL: srv.URL, Client: srv.Client(), TTL: time.Hour, MinRefetch: time.Minute}
	ctx, at := context.Background(), func(d time.Duration) time.Time { return replayNow.Add(d) }
	key := func(id string, d time.Duration) error {
		_, err := g.Key(ctx, id, at(d))
		return err
	}

	if err := key("k1", 0); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("list down, nothing known: %v", err)
	}
	if err := key("k1", 30*time.Second); !errors.Is(err, ErrKeysUnavailable) || list.set(nil) != 1 {
		t.Fatalf("list down again within the interval: %v, %d fetches", err, list.set(nil))
	}
	list.set(func(s *keyListServer) { s.down = false })
	if err := key("k1", time.Minute); err != nil {
		t.Fatalf("list back: %v", err)
	}
	for i := range 100 {
		if err := key("made-up", time.Minute+time.Duration(i)*time.Second); !errors.Is(err, ErrUnknownSigner) {
			t.Fatalf("made-up id: %v", err)
		}
	}
	if n := list.set(nil); n != 3 {
		t.Fatalf("%d fetches after a flood of 100 s, want 3 (one more, at 2m)", n)
	}
	list.set(func(s *keyListServer) { s.keys["k2"] = &k2.PublicKey })
	if err := key("k2", 3*time.Minute); err != nil {
		t.Fatalf("a rotated key: %v", err)
	}
	list.set(func(s *keyListServer) { s.down = true })
	if err := key("k1", 2*time.Hour); err != nil {
		t.Fatalf("list down, a known key: %v", err)
	}
	if err := key("k3", 3*time.Hour); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("list down, an unknown key: %v", err)
	}
	if err := key("", 4*time.Hour); !errors.Is(err, ErrUnknownSigner) {
		t.Fatalf("no id: %v", err)
	}
}
