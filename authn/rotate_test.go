package authn

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/authn"
	"github.com/apigate/caddy-apigate/keystore"
)

// TestKeyRotateChainKeepsOneEnd: a consumer rotating its own short-lived key
// over and over never moves its expiry, and a key in grace gets 409 with a
// message that says why.
func TestKeyRotateChainKeepsOneEnd(t *testing.T) {
	s := keystore.New(&certmagic.FileStorage{Path: t.TempDir()}, keystore.Policy{Grace: 168 * time.Hour})
	rec, _, err := s.Create(context.Background(), keystore.CreateRequest{Consumer: "c", TTL: time.Hour}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	metricsOnce.Do(buildMetrics)
	h := &KeyRotate{app: &App{store: s}, logger: zap.NewNop(), minAge: time.Minute}
	serve := func(keyID string, now time.Time) *httptest.ResponseRecorder {
		h.now = func() time.Time { return now }
		r, _ := newRequest("POST", "/rotate", "127.0.0.1")
		caddyhttp.SetVar(r.Context(), identityVar, &authn.Identity{Consumer: "c", KeyID: keyID, Method: "api_key"})
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, nil); err != nil {
			t.Fatal(err)
		}
		return w
	}
	ids := []string{rec.ID}
	for i := 1; i <= 10; i++ {
		now := testNow.Add(time.Duration(i) * 2 * time.Minute)
		w := serve(ids[len(ids)-1], now)
		var got keyView
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
