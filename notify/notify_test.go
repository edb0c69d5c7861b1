package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

type receiver struct {
	t       *testing.T
	key     []byte
	mu      sync.Mutex
	fail    int // answer 503 to this many requests first
	got     []http.Header
	bodies  []string
	invalid int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := Verify(rc.key, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		rc.invalid++
		w.WriteHeader(400)
		return
	}
	rc.got = append(rc.got, r.Header.Clone())
	rc.bodies = append(rc.bodies, string(body))
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(503)
		return
	}
	w.WriteHeader(204)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func setup(t *testing.T, fail int) (*receiver, *httptest.Server, Config, *certmagic.FileStorage) {
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, key: key, fail: fail}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv, Config{URL: srv.URL, Key: key, Timeout: 2 * time.Second}, &certmagic.FileStorage{Path: t.TempDir()}
}

func TestDeliverySigned(t *testing.T) {
	rc, _, cfg, st := setup(t, 0)
	n := New(st, "outbox/a", cfg, zap.NewNop())
	n.Start()
	defer n.Stop()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := n.Enqueue(context.Background(), "key.rotated", at, map[string]any{"id": "abc", "consumer": "shop"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "delivery", func() bool { return rc.count() == 1 })
	var msg struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(rc.bodies[0]), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Type != "key.rotated" || msg.Timestamp != "2026-01-02T03:04:05Z" || msg.Data["id"] != "abc" {
		t.Fatalf("body %s", rc.bodies[0])
	}
	h := rc.got[0]
	if !strings.HasPrefix(h.Get("webhook-id"), "msg_") || !strings.HasPrefix(h.Get("webhook-signature"), "v1,") {
		t.Fatalf("headers %v", h)
	}
	waitFor(t, 5*time.Second, "outbox emptied", func() bool {
		names, _ := st.List(context.Background(), "outbox/a", false)
		return len(names) == 0 && len(n.Pending()) == 0
	})
}

func TestRetrySameID(t *testing.T) {
	rc, _, cfg, st := setup(t, 2)
	n := New(st, "outbox/a", cfg, zap.NewNop())
	n.Start()
	defer n.Stop()
	if err := n.Enqueue(context.Background(), "key.revoked", time.Now(), map[string]any{"id": "x"}); err != nil {
		t.Fatal(err)
	}
	// Two failures: the first retry within 5s, the second within 5-15s.
	waitFor(t, 30*time.Second, "three attempts", func() bool { return rc.count() == 3 })
	id := rc.got[0].Get("webhook-id")
	for i, h := range rc.got {
		if h.Get("webhook-id") != id {
			t.Fatalf("attempt %d has webhook-id %q, want %q", i, h.Get("webhook-id"), id)
		}
	}
	if rc.invalid != 0 {
		t.Fatalf("%d attempts failed verification", rc.invalid)
	}
}

func TestPendingSurvivesRestart(t *testing.T) {
	rc, srv, cfg, st := setup(t, 0)
	down := cfg
	down.URL = "http://127.0.0.1:1/" // nothing listens there
	n := New(st, "outbox/a", down, zap.NewNop())
	n.Start()
	if err := n.Enqueue(context.Background(), "key.created", time.Now(), map[string]any{"id": "y"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a failed attempt", func() bool {
		p := n.Pending()
		return len(p) == 1 && p[0].Attempts >= 1
	})
	n.Stop()

	// A new notifier on the same storage (a restarted gateway) delivers it.
	cfg.URL = srv.URL
	n2 := New(st, "outbox/a", cfg, zap.NewNop())
	n2.Start()
	defer n2.Stop()
	// The failed attempt scheduled a retry within 5s.
	waitFor(t, 15*time.Second, "delivery after restart", func() bool { return rc.count() == 1 })
}

// TestConfigureTakesTheLogger: after Configure (a config reload that keeps
// the notifier), the delivery loop logs through the new config's logger.
func TestConfigureTakesTheLogger(t *testing.T) {
	_, _, cfg, st := setup(t, 0)
	n := New(st, "outbox/a", cfg, zap.NewNop())
	n.Start()
	defer n.Stop()
	core, logs := observer.New(zap.WarnLevel)
	down := cfg
	down.URL = "http://127.0.0.1:1/" // nothing listens there
	n.Configure(down, zap.New(core))
	if err := n.Enqueue(context.Background(), "key.created", time.Now(), map[string]any{"id": "y"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the failed delivery in the new logger", func() bool {
		return logs.FilterMessage("webhook delivery failed").Len() > 0
	})
}

func TestBackoff(t *testing.T) {
	for i := 0; i < 200; i++ {
		if d := Backoff(1); d < time.Second || d > 5*time.Second {
			t.Fatalf("first retry after %v", d)
		}
	}
	var total time.Duration
	for n := 1; n < 40; n++ {
		d := Backoff(n)
		if d <= 0 || d > 90*time.Minute {
			t.Fatalf("attempt %d: %v", n, d)
		}
		total += d
	}
	if total < 24*time.Hour/2 {
		t.Fatalf("39 retries span only %v", total)
	}
}

func TestVerify(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	body := []byte(`{"type":"x"}`)
	now := time.Unix(1700000000, 0)
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", "1700000000")
	h.Set("webhook-signature", "v1,bogus "+Sign(key, "msg_1", 1700000000, body))
	if err := Verify(key, h, body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := Verify(key, h, []byte(`{"type":"y"}`), now, time.Minute); err != ErrSignature {
		t.Fatalf("tampered body: %v", err)
	}
	if err := Verify(key, h, body, now.Add(time.Hour), time.Minute); err != ErrTimestamp {
		t.Fatalf("old message: %v", err)
	}
	h.Del("webhook-id")
	if err := Verify(key, h, body, now, time.Minute); err != ErrMissingHeaders {
		t.Fatalf("no id: %v", err)
	}
	// The test vector of the Standard Webhooks specification.
	spec, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(spec, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("spec vector: %s, want %s", got, want)
	}
}

func TestParseSecret(t *testing.T) {
	for _, s := range []string{"", "whsec_", "secret", "whsec_!!!", "whsec_YWJj"} {
		if _, err := ParseSecret(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestNewConfig(t *testing.T) {
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := NewConfig("https://hooks.example.com/x", secret, 5*time.Second)
	if err != nil || cfg.URL != "https://hooks.example.com/x" || len(cfg.Key) != 32 || cfg.Timeout != 5*time.Second {
		t.Fatalf("%+v, %v", cfg, err)
	}
	for _, tt := range []struct{ url, secret, want string }{
		{"ftp://h/x", secret, "absolute http or https URL"},
		{"/relative", secret, "absolute http or https URL"},
		{"http://", secret, "absolute http or https URL"},
		{"http://h/", "", "a secret is required"},
		{"http://h/", "whsec_YWJj", "must be 24 to 64 bytes"},
	} {
		_, err := NewConfig(tt.url, tt.secret, 0)
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.secret != "" && strings.Contains(err.Error(), tt.secret)) {
			t.Errorf("%q %q: %v, want %q", tt.url, tt.secret, err, tt.want)
		}
	}
}
