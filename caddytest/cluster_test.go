package caddytest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apigate/caddy-apigate/notify"
)

// Hook is a real webhook receiver that verifies every message's signature.
type Hook struct {
	URL    string
	Secret string
	key    []byte

	mu       sync.Mutex
	fail     int
	messages []HookMessage
	invalid  int
}

// HookMessage is one verified delivery.
type HookMessage struct {
	ID   string
	Type string         `json:"type"`
	Time string         `json:"timestamp"`
	Data map[string]any `json:"data"`
}

func StartHook(t *testing.T) *Hook {
	secret, err := notify.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := notify.ParseSecret(secret)
	h := &Hook{Secret: secret, key: key}
	up := StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := notify.Verify(h.key, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			h.invalid++
			w.WriteHeader(400)
			return
		}
		if h.fail > 0 {
			h.fail--
			h.messages = append(h.messages, HookMessage{ID: r.Header.Get("webhook-id"), Type: "(refused)"})
			w.WriteHeader(503)
			return
		}
		var m HookMessage
		if err := json.Unmarshal(body, &m); err != nil {
			h.invalid++
			w.WriteHeader(400)
			return
		}
		m.ID = r.Header.Get("webhook-id")
		h.messages = append(h.messages, m)
		w.WriteHeader(204)
	})
	h.URL = "http://" + up.Addr + "/hook"
	return h
}

// Of returns the delivered messages of type typ.
func (h *Hook) Of(typ string) []HookMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []HookMessage
	for _, m := range h.messages {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

func (h *Hook) all() []HookMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]HookMessage(nil), h.messages...)
}

const lifecycleSite = `{
	{ADMIN_OPTIONS}
	api_gateway {
		{REDIS}
		keys {
			grace 1h
			warn_before 1h
			refresh 300ms
		}
		notify {HOOK} {
			secret {env.APIGATE_WEBHOOK_SECRET}
		}
	}
}
http://127.0.0.1:{PORT} {
	api_auth
	handle /me/rotate {
		api_key_rotate {
			min_age 0s
		}
	}
	handle {
		reverse_proxy {UPSTREAM}
	}
}
`

func startLifecycleGateway(t *testing.T, hook *Hook, up *Upstream, storage, redisURL string) *Gateway {
	redisLine := ""
	if redisURL != "" {
		redisLine = "redis " + redisURL
	}
	return StartGateway(t, lifecycleSite, GatewayOptions{Storage: storage, Env: []string{"APIGATE_WEBHOOK_SECRET=" + hook.Secret}},
		"{UPSTREAM}", up.Addr, "{HOOK}", hook.URL, "{REDIS}", redisLine)
}

func TestWebhooksSignedRetriedAndDurable(t *testing.T) {
	hook := StartHook(t)
	hook.fail = 1
	up := StartUpstream(t, nil)
	g := startLifecycleGateway(t, hook, up, "", "")

	k := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})
	Eventually(t, 20*time.Second, "key.created delivered after one refusal", func() bool { return len(hook.Of("key.created")) == 1 })
	all := hook.all()
	if all[0].Type != "(refused)" || all[0].ID != hook.Of("key.created")[0].ID {
		t.Fatalf("the retry did not keep the webhook-id: %+v", all)
	}
	created := hook.Of("key.created")[0]
	if created.Data["id"] != k.ID || created.Data["consumer"] != "shop" {
		t.Fatalf("key.created data %v", created.Data)
	}

	// Rotate and revoke: both events arrive.
	if status, body := g.AdminDo("POST", "/api_gateway/keys/"+k.ID+"/rotate", nil); status != 201 {
		t.Fatalf("rotate: %d %s", status, body)
	}
	Eventually(t, 10*time.Second, "key.rotated", func() bool { return len(hook.Of("key.rotated")) == 1 })

	// The key events are counted in Caddy's metrics, by type only.
	if status, metrics := g.AdminDo("GET", "/metrics", nil); status != 200 ||
		!strings.Contains(string(metrics), `caddy_apigate_key_events_total{type="key.created"} 1`) ||
		!strings.Contains(string(metrics), `caddy_apigate_key_events_total{type="key.rotated"} 1`) {
		t.Fatalf("key events metric missing: %d", status)
	}

	// Pending deliveries survive a restart: stop the receiver's acceptance, make
	// an event, restart the gateway, then let the receiver accept.
	hook.mu.Lock()
	hook.fail = 1000
	hook.mu.Unlock()
	if status, body := g.AdminDo("DELETE", "/api_gateway/keys/"+k.ID, nil); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	Eventually(t, 10*time.Second, "a refused key.revoked", func() bool {
		for _, m := range hook.all() {
			if m.Type == "(refused)" && m.ID != all[0].ID {
				return true
			}
		}
		return false
	})
	g.Restart()
	hook.mu.Lock()
	hook.fail = 0
	hook.mu.Unlock()
	// The key and the key it was rotated into: one key.revoked each.
	Eventually(t, 20*time.Second, "key.revoked delivered after the restart", func() bool { return len(hook.Of("key.revoked")) == 2 })

	if hook.invalid != 0 {
		t.Fatalf("%d deliveries failed signature checks", hook.invalid)
	}
	if strings.Contains(g.Output(), hook.Secret) || strings.Contains(g.Output(), k.Key) {
		t.Fatal("a secret appears in Caddy's output")
	}
	for _, m := range hook.all() {
		b, _ := json.Marshal(m.Data)
		if strings.Contains(string(b), secretOf(k.Key)) {
			t.Fatalf("%s carries the secret", m.Type)
		}
	}
}

func TestSelfRotationAndGraceEvents(t *testing.T) {
	hook := StartHook(t)
	up := StartUpstream(t, nil)
	g := startLifecycleGateway(t, hook, up, "", "")
	k := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})

	if status, _, _ := g.Do("GET", "/me/rotate", map[string]string{"X-API-Key": k.Key}, ""); status != 405 {
		t.Fatalf("GET rotate: %d", status)
	}
	if status, _, _ := g.Do("POST", "/me/rotate", nil, ""); status != 401 {
		t.Fatalf("rotate without a key: %d", status)
	}
	status, _, body := g.Do("POST", "/me/rotate", map[string]string{"X-API-Key": k.Key}, "")
	if status != 201 {
		t.Fatalf("self rotation: %d %s", status, body)
	}
	var fresh CreatedKey
	if err := json.Unmarshal([]byte(body), &fresh); err != nil || fresh.Key == "" || fresh.RotatedFrom != k.ID {
		t.Fatalf("self rotation answer %s", body)
	}
	// The old key can rotate only once.
	if status, _, _ := g.Do("POST", "/me/rotate", map[string]string{"X-API-Key": k.Key}, ""); status != 409 {
		t.Fatalf("second self rotation: %d", status)
	}
	// The old key in grace: headers on every response, one key.used_in_grace.
	for i := 0; i < 20; i++ {
		status, h, _ := g.Do("GET", "/x", map[string]string{"X-API-Key": k.Key}, "")
		if status != 200 || h.Get("Deprecation") == "" || h.Get("Sunset") == "" {
			t.Fatalf("grace request %d: %d %v", i, status, h)
		}
	}
	Eventually(t, 10*time.Second, "key.used_in_grace", func() bool { return len(hook.Of("key.used_in_grace")) >= 1 })
	time.Sleep(500 * time.Millisecond) // let any duplicate arrive
	if n := len(hook.Of("key.used_in_grace")); n != 1 {
		t.Fatalf("key.used_in_grace sent %d times", n)
	}
	if status, _, _ := g.Do("GET", "/x", map[string]string{"X-API-Key": fresh.Key}, ""); status != 200 {
		t.Fatalf("new key: %d", status)
	}
}

// TestClusterWithRedis runs two gateways on one storage and one Redis.
func TestClusterWithRedis(t *testing.T) {
	rd := StartRedis(t)
	hook := StartHook(t)
	up := StartUpstream(t, nil)
	storage := t.TempDir()
	a := startLifecycleGateway(t, hook, up, storage, rd.URL())
	b := startLifecycleGateway(t, hook, up, storage, rd.URL())
	// Slow the storage refresh down so that only pub/sub can be this fast.
	checkPropagation(t, a, b, time.Second)

	// Redis killed and restarted empty: no key is lost, propagation heals.
	k := a.CreateKey(map[string]any{"consumer": "before"})
	Eventually(t, time.Second, "b has the key", func() bool { return usable(b, k.Key) })
	rd.Restart()
	if !usable(a, k.Key) || !usable(b, k.Key) {
		t.Fatal("a key was lost with Redis")
	}
	Eventually(t, 15*time.Second, "propagation after Redis restart", func() bool {
		k2 := a.CreateKey(map[string]any{"consumer": "after"})
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if usable(b, k2.Key) {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	})
}

// TestClusterWithoutRedis: the same two gateways, changes arrive with the
// storage refresh.
func TestClusterWithoutRedis(t *testing.T) {
	hook := StartHook(t)
	up := StartUpstream(t, nil)
	storage := t.TempDir()
	a := startLifecycleGateway(t, hook, up, storage, "")
	b := startLifecycleGateway(t, hook, up, storage, "")
	checkPropagation(t, a, b, 2*time.Second) // refresh 300ms, with slack for a busy machine
}

func usable(g *Gateway, key string) bool {
	status, _, _ := g.Do("GET", "/x", map[string]string{"X-API-Key": key}, "")
	return status == 200
}

// checkPropagation creates a key on a and expects it usable on b within bound,
// then revokes it on b and expects a to refuse it within bound.
func checkPropagation(t *testing.T, a, b *Gateway, bound time.Duration) {
	t.Helper()
	k := a.CreateKey(map[string]any{"consumer": "c"})
	start := time.Now()
	Eventually(t, bound, "a key created on a works on b", func() bool { return usable(b, k.Key) })
	t.Logf("create propagated in %v", time.Since(start))
	if status, body := b.AdminDo("DELETE", "/api_gateway/keys/"+k.ID, nil); status != 200 {
		t.Fatalf("revoke on b: %d %s", status, body)
	}
	start = time.Now()
	Eventually(t, bound, "a key revoked on b is refused by a", func() bool { return !usable(a, k.Key) })
	t.Logf("revoke propagated in %v", time.Since(start))
}

// TestScheduledEventsOncePerCluster: two gateways, one storage, a key that
// expires soon: key.expiring and key.expired each arrive once.
func TestScheduledEventsOncePerCluster(t *testing.T) {
	hook := StartHook(t)
	up := StartUpstream(t, nil)
	storage := t.TempDir()
	a := startLifecycleGateway(t, hook, up, storage, "")
	_ = startLifecycleGateway(t, hook, up, storage, "")
	k := a.CreateKey(map[string]any{"consumer": "short", "ttl": "3s"}) // warn_before 1h: expiring at once
	Eventually(t, 15*time.Second, "key.expiring and key.expired", func() bool {
		return len(hook.Of("key.expiring")) >= 1 && len(hook.Of("key.expired")) >= 1
	})
	time.Sleep(time.Second) // several refreshes of both instances
	if n, m := len(hook.Of("key.expiring")), len(hook.Of("key.expired")); n != 1 || m != 1 {
		t.Fatalf("key.expiring sent %d times, key.expired %d times", n, m)
	}
	if e := hook.Of("key.expired")[0]; e.Data["id"] != k.ID {
		t.Fatalf("key.expired for %v", e.Data["id"])
	}
}
