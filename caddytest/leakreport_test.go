package caddytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// leakSite has api_key_leak with its default rate limit (/revoke), with a
// small one that does not refill during a test (/revoke-slow), in GitHub form
// with the list at {KEYSURL} (/github) and with a configured key
// (/github-static).
const leakSite = `{
	{ADMIN_OPTIONS}
}
http://127.0.0.1:{PORT} {
	handle /revoke {
		api_key_leak
	}
	handle /revoke-slow {
		api_key_leak {
			rate_limit 3/1h
		}
	}
	handle /github {
		api_key_leak github {
			keys_url {KEYSURL}
			unknown_kid_interval 1s
			rate_limit 1000/1m
		}
	}
	handle /github-static {
		api_key_leak github {
			key gh-static {file.{CERTS}/gh.pem}
		}
	}
}
`

// keyList stands in for GitHub's list of signing keys: its keys change as
// GitHub rotates them, it can be down, and it counts its fetches.
type keyList struct {
	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	down    bool
	fetches int
}

func (l *keyList) serve(t *testing.T) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.fetches++
		if l.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		type pk struct {
			ID  string `json:"key_identifier"`
			Key string `json:"key"`
		}
		var list []pk
		for id, k := range l.keys {
			list = append(list, pk{id, publicPEM(t, k)})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string][]pk{"public_keys": list}) //nolint:errcheck
	}
}

// with changes the list under its lock and returns its count of fetches.
func (l *keyList) with(f func(*keyList)) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f != nil {
		f(l)
	}
	return l.fetches
}

type leakEnv struct {
	*Gateway
	list   *keyList
	static *ecdsa.PrivateKey
}

func startLeakGateway(t *testing.T) *leakEnv {
	t.Helper()
	static, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gh.pem"), []byte(publicPEM(t, &static.PublicKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	list := &keyList{keys: map[string]*ecdsa.PublicKey{}}
	srv := StartUpstream(t, list.serve(t))
	g := StartGateway(t, leakSite, GatewayOptions{}, "{KEYSURL}", "http://"+srv.Addr+"/keys", "{CERTS}", dir)
	return &leakEnv{Gateway: g, list: list, static: static}
}

func (e *leakEnv) keyStatus(t *testing.T, id string) string {
	return (&replayGateway{Gateway: e.Gateway}).keyStatus(t, id)
}

// TestLeakReportRateLimit: api_key_leak answers 429 past its limit (30 a
// minute by default) and revokes nothing then; a reload of the unchanged
// config keeps every client's budget.
func TestLeakReportRateLimit(t *testing.T) {
	e := startLeakGateway(t)
	k := e.CreateKey(map[string]any{"consumer": "shop"})
	unknown := map[string]string{"X-Api-Key": wellFormedKey(k.Key)}

	// The default: 30 a minute, one more every 2 s. However slow this
	// machine, no more pass than 30 plus what refilled meanwhile.
	start, passed := time.Now(), 0
	for range 100 {
		status, h, _ := e.Do("POST", "/revoke", unknown, "")
		if status == 429 {
			if h.Get("Retry-After") == "" || h.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("429 without Retry-After or problem+json: %v", h)
			}
			break
		}
		if status != 200 {
			t.Fatalf("report %d: %d", passed+1, status)
		}
		passed++
	}
	if refilled := int(time.Since(start) / (2 * time.Second)); passed < 30 || passed > 30+refilled+1 {
		t.Fatalf("%d reports passed in %v, want 30 (plus %d refilled)", passed, time.Since(start), refilled)
	}

	// 3 an hour: past them, a report of a real key revokes nothing, before
	// and after a reload.
	for i := range 3 {
		if status, _, _ := e.Do("POST", "/revoke-slow", unknown, ""); status != 200 {
			t.Fatalf("report %d within the limit: %d", i+1, status)
		}
	}
	real := map[string]string{"X-Api-Key": k.Key}
	if status, _, _ := e.Do("POST", "/revoke-slow", real, ""); status != 429 || e.keyStatus(t, k.ID) != "active" {
		t.Fatalf("past the limit: %d, the key is %s", status, e.keyStatus(t, k.ID))
	}
	reloadConfig(t, e.Gateway)
	if status, _, _ := e.Do("POST", "/revoke-slow", real, ""); status != 429 || e.keyStatus(t, k.ID) != "active" {
		t.Fatalf("after a reload: %d, the key is %s (the budget was reset)", status, e.keyStatus(t, k.ID))
	}
	if status, _, _ := e.Do("POST", "/revoke", real, ""); status != 429 || e.keyStatus(t, k.ID) != "active" {
		t.Fatalf("the default limit after a reload: %d, the key is %s", status, e.keyStatus(t, k.ID))
	}
}

// TestLeakReportGitHubKeyList: GitHub's list of signing keys, served by a
// stand-in on 127.0.0.1. A list that is down gets the report a 503 and
// revokes nothing; the list is fetched once and kept; a key GitHub rotates
// in is found; a flood of made-up key ids fetches the list at most once per
// unknown_kid_interval (1s); configured keys need no list.
func TestLeakReportGitHubKeyList(t *testing.T) {
	e := startLeakGateway(t)
	gh1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	gh2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e.list.with(func(l *keyList) { l.keys["gh-1"], l.down = &gh1.PublicKey, true })
	keys := make([]CreatedKey, 5)
	for i := range keys {
		keys[i] = e.CreateKey(map[string]any{"consumer": "shop"})
	}
	report := func(k CreatedKey) string { return fmt.Sprintf(`[{"token":%q,"type":"apigate_key"}]`, k.Key) }
	send := func(path, kid string, signer *ecdsa.PrivateKey, k CreatedKey) (int, string) {
		status, _, body := e.Do("POST", path, signed(kid, signer, report(k)), report(k))
		return status, body
	}

	if status, _ := send("/github", "gh-1", gh1, keys[0]); status != 503 || e.keyStatus(t, keys[0].ID) != "active" {
		t.Fatalf("list down: %d, the key is %s", status, e.keyStatus(t, keys[0].ID))
	}
	e.list.with(func(l *keyList) { l.down = false })
	Eventually(t, 20*time.Second, "the list fetched once it is back", func() bool {
		status, body := send("/github", "gh-1", gh1, keys[0])
		return status == 200 && strings.Contains(body, "true_positive")
	})
	if e.keyStatus(t, keys[0].ID) != "revoked" {
		t.Fatal("the reported key is active")
	}
	fetched := e.list.with(nil)
	if status, _ := send("/github", "gh-1", gh1, keys[1]); status != 200 || e.list.with(nil) != fetched {
		t.Fatalf("a known key: %d, %d fetches (want the list kept)", status, e.list.with(nil)-fetched)
	}

	e.floodMadeUpIDs(t, gh1, keys[2], send)

	// GitHub rotates its key: the new id is found within the interval.
	e.list.with(func(l *keyList) { l.keys["gh-2"] = &gh2.PublicKey })
	Eventually(t, 20*time.Second, "the rotated key found", func() bool {
		status, _ := send("/github", "gh-2", gh2, keys[2])
		return status == 200
	})
	if e.keyStatus(t, keys[2].ID) != "revoked" {
		t.Fatal("a report signed with the rotated key revoked nothing")
	}

	// The list goes down: the keys known still verify; an unknown id is
	// refused and revokes nothing.
	e.list.with(func(l *keyList) { l.down = true })
	if status, _ := send("/github", "gh-3", gh2, keys[3]); (status != 401 && status != 503) || e.keyStatus(t, keys[3].ID) != "active" {
		t.Fatalf("list down, unknown id: %d, the key is %s", status, e.keyStatus(t, keys[3].ID))
	}
	if status, body := send("/github", "gh-1", gh1, keys[1]); status != 200 || !strings.Contains(body, "true_positive") {
		t.Fatalf("list down, a known key: %d %s", status, body)
	}

	// Configured keys: no list is fetched.
	fetched = e.list.with(nil)
	if status, body := send("/github-static", "gh-static", e.static, keys[4]); status != 200 || !strings.Contains(body, "true_positive") {
		t.Fatalf("a configured key: %d %s", status, body)
	}
	if status, _ := send("/github-static", "gh-1", gh1, keys[3]); status != 401 || e.keyStatus(t, keys[3].ID) != "active" {
		t.Fatalf("a key of the list at the configured-keys endpoint: %d", status)
	}
	if n := e.list.with(nil); n != fetched {
		t.Fatalf("the configured-keys endpoint fetched the list %d times", n-fetched)
	}
}

// floodMadeUpIDs sends reports of k signed by signer under made-up key ids,
// timed by this test: however slow it runs, the list is fetched at most once
// per second of it (unknown_kid_interval), plus one; each report gets 401
// and k stays active.
func (e *leakEnv) floodMadeUpIDs(t *testing.T, signer *ecdsa.PrivateKey, k CreatedKey, send func(string, string, *ecdsa.PrivateKey, CreatedKey) (int, string)) {
	t.Helper()
	fetched, start := e.list.with(nil), time.Now()
	for i := range 60 {
		if status, _ := send("/github", fmt.Sprint("bogus-", i), signer, k); status != 401 {
			t.Fatalf("made-up id: %d", status)
		}
	}
	if n, most := e.list.with(nil)-fetched, int(time.Since(start)/time.Second)+1; n > most {
		t.Fatalf("%d fetches during a flood of %v, want at most %d", n, time.Since(start), most)
	}
	if e.keyStatus(t, k.ID) != "active" {
		t.Fatal("a report with a made-up id revoked the key")
	}
}
