package caddytest

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const lockoutSite = `{
	{ADMIN_OPTIONS}
	log {
		level DEBUG
		output file {DIR}/caddy.log
	}
	metrics
	{GLOBAL}
}

http://127.0.0.1:{PORT} {
	api_auth {
		api_key
		lockout 3/1m 2s
	}
	respond "hello {http.auth.user.id}"
}
`

// wrongKey returns key with its secret changed: a real key id, a failed login.
func wrongKey(key string) string {
	last := key[len(key)-1]
	if last == 'A' {
		return key[:len(key)-1] + "B"
	}
	return key[:len(key)-1] + "A"
}

func TestLockoutWithFailedLogins(t *testing.T) {
	g := StartGateway(t, lockoutSite, GatewayOptions{}, "{GLOBAL}", "")
	k := g.CreateKey(map[string]any{"consumer": "shop"})
	good := map[string]string{"X-API-Key": k.Key}
	bad := map[string]string{"X-API-Key": wrongKey(k.Key)}

	// Requests without a credential do not count.
	for i := 0; i < 10; i++ {
		if status, _, _ := g.Do("GET", "/", nil, ""); status != 401 {
			t.Fatalf("anonymous request %d: %d", i, status)
		}
	}
	for i := 0; i < 3; i++ {
		if status, _, _ := g.Do("GET", "/", bad, ""); status != 401 {
			t.Fatalf("failed login %d: %d", i+1, status)
		}
	}
	// Locked out: even the right key is not checked.
	status, h, body := g.Do("GET", "/", good, "")
	if status != http.StatusTooManyRequests || h.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("after 3 failures: %d %s", status, body)
	}
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After %q", h.Get("Retry-After"))
	}
	Eventually(t, 5*time.Second, "auth.lockout event", func() bool {
		return strings.Contains(readFile(filepath.Join(g.Dir, "caddy.log")), "auth.lockout")
	})
	_, data := g.AdminDo("GET", "/metrics", nil)
	if !strings.Contains(string(data), "caddy_apigate_auth_lockouts_total 1") {
		t.Fatalf("lockout metric:\n%s", grepLines(string(data), "apigate"))
	}
	// The lockout ends after 2s.
	Eventually(t, 10*time.Second, "lockout expiry", func() bool {
		status, _, _ := g.Do("GET", "/", good, "")
		return status == 200
	})
	if status, _, body := g.Do("GET", "/", good, ""); status != 200 || body != "hello shop" {
		t.Fatalf("after the lockout: %d %s", status, body)
	}
}

func TestLockoutSharedThroughRedis(t *testing.T) {
	checkLockoutShared(t, StartRedis(t).URL())
}

// checkLockoutShared: failures on two gateways sharing the Redis at url add
// up to one lockout, which both apply.
func checkLockoutShared(t *testing.T, url string) {
	global := "api_gateway {\n\t\tredis " + url + "\n\t}"
	a := StartGateway(t, lockoutSite, GatewayOptions{}, "{GLOBAL}", global)
	b := StartGateway(t, lockoutSite, GatewayOptions{Storage: a.Storage}, "{GLOBAL}", global)
	checkLockoutBetween(t, "/", a, b)
}

// checkLockoutBetween: failures at path (api_auth with lockout 3/1m 2s) on
// gateways a and b add up to one lockout, which both apply, logged once; it
// waits for the lockout to end.
func checkLockoutBetween(t *testing.T, path string, a, b *Gateway) {
	t.Helper()
	bad := map[string]string{"X-API-Key": "agk_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
	// Failures on both gateways add up.
	for i, g := range []*Gateway{a, b, a} {
		if status, _, _ := g.Do("GET", path, bad, ""); status != 401 {
			t.Fatalf("failed login %d: %d", i+1, status)
		}
	}
	for _, g := range []*Gateway{a, b} {
		if status, _, _ := g.Do("GET", path, nil, ""); status != http.StatusTooManyRequests {
			t.Fatalf("not locked out on every gateway: %d", status)
		}
	}
	// One lockout, one auth.lockout: from the gateway whose failure locked.
	lockouts := func() int {
		n := 0
		for _, g := range []*Gateway{a, b} {
			n += strings.Count(readFile(filepath.Join(g.Dir, "caddy.log")), "client locked out after failed authentications")
		}
		return n
	}
	Eventually(t, 10*time.Second, "the lockout logged", func() bool { return lockouts() >= 1 })
	if n := lockouts(); n != 1 {
		t.Fatalf("the lockout logged %d times across two gateways", n)
	}
	Eventually(t, 10*time.Second, "lockout expiry", func() bool {
		status, _, _ := b.Do("GET", path, nil, "")
		return status == 401
	})
}
