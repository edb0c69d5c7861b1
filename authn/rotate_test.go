package authn

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/keystore"
)

// testRotate returns api_key_rotate on s, as Provision wires it.
func testRotate(t *testing.T, s *keystore.Store) *KeyRotate {
	t.Helper()
	g, err := gateway.NewGate(testContext(t), "api_key_rotate", gateway.Enforce)
	if err != nil {
		t.Fatal(err)
	}
	return &KeyRotate{app: newFakeApp(s), logger: zap.NewNop(), minAge: time.Minute, gate: g, answers: newRotateAnswers(g)}
}

// serveRotate sends one request to h at now, as id (none when nil).
func serveRotate(t *testing.T, h *KeyRotate, method string, id *Identity, now time.Time) *httptest.ResponseRecorder {
	t.Helper()
	h.now = func() time.Time { return now }
	r, _ := newRequest(method, "/rotate", "127.0.0.1")
	if id != nil {
		gateway.SetIdentity(r, id)
	}
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, nil); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestKeyRotateHandler(t *testing.T) {
	s, keys := testStore(t, []string{"orders:read"})
	e, _ := s.Authenticate(keys[0], testNow)
	h := testRotate(t, s)
	id := &Identity{Consumer: e.Record.Consumer, KeyID: e.Record.ID, Method: "api_key"}
	if w := serveRotate(t, h, "GET", id, testNow); w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Fatalf("GET: %d %v", w.Code, w.Header())
	}
	if w := serveRotate(t, h, "POST", nil, testNow); w.Code != 401 {
		t.Fatalf("no identity: %d", w.Code)
	}
	if w := serveRotate(t, h, "POST", &Identity{Consumer: "x", Method: "jwt"}, testNow); w.Code != 401 {
		t.Fatalf("jwt identity: %d", w.Code)
	}
	w := serveRotate(t, h, "POST", id, testNow.Add(30*time.Second))
	if w.Code != 429 || w.Header().Get("Retry-After") != "31" {
		t.Fatalf("too young: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	w = serveRotate(t, h, "POST", id, testNow.Add(2*time.Minute))
	if w.Code != 201 || !strings.Contains(w.Body.String(), `"key": "agk_`) {
		t.Fatalf("rotate: %d %s", w.Code, w.Body)
	}
	if w := serveRotate(t, h, "POST", id, testNow.Add(3*time.Minute)); w.Code != 409 {
		t.Fatalf("second rotation: %d", w.Code)
	}
}

// TestKeyRotateChainKeepsOneEnd: a consumer rotating its own short-lived key
// over and over never moves its expiry, and a key in grace gets 409 with a
// message that says why.
func TestKeyRotateChainKeepsOneEnd(t *testing.T) {
	s := keystore.New(&certmagic.FileStorage{Path: t.TempDir()}, keystore.Policy{Grace: 168 * time.Hour})
	rec, _, err := s.Create(context.Background(), keystore.CreateRequest{Consumer: "c", TTL: time.Hour}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	h := testRotate(t, s)
	serve := func(keyID string, now time.Time) *httptest.ResponseRecorder {
		return serveRotate(t, h, "POST", &Identity{Consumer: "c", KeyID: keyID, Method: "api_key"}, now)
	}
	ids := []string{rec.ID}
	for i := 1; i <= 10; i++ {
		now := testNow.Add(time.Duration(i) * 2 * time.Minute)
		w := serve(ids[len(ids)-1], now)
		var got keystore.View
		if w.Code != 201 || json.Unmarshal(w.Body.Bytes(), &got) != nil {
			t.Fatalf("rotation %d: %d %s", i, w.Code, w.Body)
		}
		if !got.ExpiresAt.Equal(rec.ExpiresAt) {
			t.Fatalf("rotation %d: expires_at %v, want %v", i, got.ExpiresAt, rec.ExpiresAt)
		}
		// The key just rotated is in grace: 409, even though it is older
		// than min_age allows (the grace check comes first).
		w = serve(ids[len(ids)-1], now)
		if w.Code != 409 || !strings.Contains(w.Body.String(), "grace period") {
			t.Fatalf("rotation %d, key in grace: %d %s", i, w.Code, w.Body)
		}
		ids = append(ids, got.ID)
	}
	// A key whose grace a later rotation ended: 409 too, not a new key.
	if w := serve(ids[0], testNow.Add(30*time.Minute)); w.Code != 409 || !strings.Contains(w.Body.String(), "expired or was revoked") {
		t.Fatalf("expired key: %d %s", w.Code, w.Body)
	}
}
