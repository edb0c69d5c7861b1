package caddytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRotationGraceAndRevocation(t *testing.T) {
	g, _ := startKeysGateway(t)
	old := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}, "description": "ci"})

	status, data := g.AdminDo("POST", "/api_gateway/keys/"+old.ID+"/rotate", map[string]any{"grace": "3s"})
	if status != 201 {
		t.Fatalf("rotate: %d %s", status, data)
	}
	var fresh CreatedKey
	if err := json.Unmarshal(data, &fresh); err != nil {
		t.Fatal(err)
	}
	if fresh.RotatedFrom != old.ID || fresh.Consumer != "shop" || strings.Join(fresh.Scopes, " ") != "orders:read" || fresh.Key == "" {
		t.Fatalf("rotated key: %+v", fresh)
	}

	// The old key works during grace, with Deprecation and Sunset.
	status, h, body := g.Do("GET", "/orders/1", map[string]string{"X-API-Key": old.Key}, "")
	if status != 200 {
		t.Fatalf("old key in grace: %d %s", status, body)
	}
	if !regexp.MustCompile(`^@\d{10}$`).MatchString(h.Get("Deprecation")) {
		t.Errorf("Deprecation = %q, want @<unix seconds>", h.Get("Deprecation"))
	}
	sunset, err := http.ParseTime(h.Get("Sunset"))
	if err != nil || sunset.Before(time.Now().Add(-time.Minute)) || sunset.After(time.Now().Add(time.Minute)) {
		t.Errorf("Sunset = %q (%v), want about now+3s", h.Get("Sunset"), err)
	}
	status, h, _ = g.Do("GET", "/orders/1", map[string]string{"X-API-Key": fresh.Key}, "")
	if status != 200 || h.Get("Deprecation") != "" {
		t.Errorf("new key: %d, Deprecation %q", status, h.Get("Deprecation"))
	}

	// Rotating it again is a conflict; the show reflects the state.
	if status, body := g.AdminDo("POST", "/api_gateway/keys/"+old.ID+"/rotate", nil); status != 409 {
		t.Errorf("second rotation: %d %s", status, body)
	}
	_, shown := g.AdminDo("GET", "/api_gateway/keys/"+old.ID, nil)
	var st CreatedKey
	json.Unmarshal(shown, &st) //nolint:errcheck
	if st.Status != "grace" || st.RotatedTo != fresh.ID {
		t.Errorf("old key shown as %+v", st)
	}

	// After grace, the old key is refused.
	Eventually(t, 10*time.Second, "old key refused after grace", func() bool {
		status, _, _ := g.Do("GET", "/orders/1", map[string]string{"X-API-Key": old.Key}, "")
		return status == 401
	})

	// Revocation is immediate.
	if status, body := g.AdminDo("DELETE", "/api_gateway/keys/"+fresh.ID, nil); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if status, _, _ := g.Do("GET", "/orders/1", map[string]string{"X-API-Key": fresh.Key}, ""); status != 401 {
		t.Errorf("revoked key: %d", status)
	}
}

func TestMaxAgeDeprecationHeader(t *testing.T) {
	up := StartUpstream(t, nil)
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
	api_gateway {
		keys {
			max_age 1s
		}
	}
}
http://127.0.0.1:{PORT} {
	api_auth
	reverse_proxy {UPSTREAM}
}`, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	k := g.CreateKey(map[string]any{"consumer": "c", "ttl": "1h"})
	Eventually(t, 10*time.Second, "Deprecation after max_age", func() bool {
		status, h, _ := g.Do("GET", "/", map[string]string{"X-API-Key": k.Key}, "")
		return status == 200 && strings.HasPrefix(h.Get("Deprecation"), "@") && h.Get("Sunset") != ""
	})
}

func TestAllowedIPsAndAuthorizeIP(t *testing.T) {
	up := StartUpstream(t, nil)
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
}
http://127.0.0.1:{PORT} {
	api_auth
	handle /internal/* {
		api_authorize {
			ip 10.0.0.0/8
		}
		reverse_proxy {UPSTREAM}
	}
	handle {
		api_authorize
		reverse_proxy {UPSTREAM}
	}
}`, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	local := g.CreateKey(map[string]any{"consumer": "local", "allowed_ips": []string{"127.0.0.0/8"}})
	remote := g.CreateKey(map[string]any{"consumer": "remote", "allowed_ips": []string{"192.0.2.1"}})
	if status, _, body := g.Do("GET", "/x", map[string]string{"X-API-Key": local.Key}, ""); status != 200 {
		t.Errorf("key allowed from 127/8: %d %s", status, body)
	}
	status, h, body := g.Do("GET", "/x", map[string]string{"X-API-Key": remote.Key}, "")
	if status != 403 || h.Get("Content-Type") != "application/problem+json" {
		t.Errorf("key used from a disallowed address: %d %s", status, body)
	}
	// X-Forwarded-For from an untrusted client is ignored.
	if status, _, _ := g.Do("GET", "/x", map[string]string{"X-API-Key": remote.Key, "X-Forwarded-For": "192.0.2.1"}, ""); status != 403 {
		t.Errorf("spoofed X-Forwarded-For accepted: %d", status)
	}
	if status, _, _ := g.Do("GET", "/internal/x", map[string]string{"X-API-Key": local.Key}, ""); status != 403 {
		t.Errorf("api_authorize ip: %d", status)
	}
}

func TestScopeMatcher(t *testing.T) {
	up := StartUpstream(t, nil)
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
}
http://127.0.0.1:{PORT} {
	api_auth
	@staff api_scope staff reports
	handle @staff {
		respond "staff view"
	}
	handle {
		respond "public view"
	}
}`, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	staff := g.CreateKey(map[string]any{"consumer": "s", "scopes": []string{"staff", "reports"}})
	half := g.CreateKey(map[string]any{"consumer": "h", "scopes": []string{"staff"}})
	if _, _, body := g.Do("GET", "/", map[string]string{"X-API-Key": staff.Key}, ""); body != "staff view" {
		t.Errorf("staff: %q", body)
	}
	if _, _, body := g.Do("GET", "/", map[string]string{"X-API-Key": half.Key}, ""); body != "public view" {
		t.Errorf("half: %q", body)
	}
}

func TestInsufficientScope(t *testing.T) {
	g, up := startKeysGateway(t)
	k := g.CreateKey(map[string]any{"consumer": "c", "scopes": []string{"orders:write"}})
	status, h, body := g.Do("GET", "/orders", map[string]string{"X-API-Key": k.Key}, "")
	if status != 403 {
		t.Fatalf("status %d %s", status, body)
	}
	if want := `Bearer realm="api", error="insufficient_scope", scope="orders:read"`; h.Get("WWW-Authenticate") != want {
		t.Errorf("WWW-Authenticate = %q, want %q", h.Get("WWW-Authenticate"), want)
	}
	if len(up.Requests()) != 0 {
		t.Error("the upstream saw a forbidden request")
	}
}

func TestAdminAPIBadInput(t *testing.T) {
	g, _ := startKeysGateway(t)
	k := g.CreateKey(map[string]any{"consumer": "c"})
	cases := []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/api_gateway/keys", "", 400},
		{"POST", "/api_gateway/keys", "{", 400},
		{"POST", "/api_gateway/keys", "[]", 400},
		{"POST", "/api_gateway/keys", `{"consumer":"c"} {}`, 400},
		{"POST", "/api_gateway/keys", `{"consumer":"c","bogus":1}`, 400},
		{"POST", "/api_gateway/keys", `{"consumer":""}`, 400},
		{"POST", "/api_gateway/keys", `{"consumer":"c","ttl":"soon"}`, 400},
		{"POST", "/api_gateway/keys", `{"consumer":"c","ttl":"-1h"}`, 400},
		{"POST", "/api_gateway/keys", `{"consumer":"c","scopes":["a b"]}`, 400},
		{"POST", "/api_gateway/keys", `{"consumer":"c","scopes":"admin"}`, 400},
		{"POST", "/api_gateway/keys", `{"consumer":"c","allowed_ips":["nope"]}`, 400},
		{"POST", "/api_gateway/keys", `{"consumer":"` + strings.Repeat("x", 70000) + `"}`, 413},
		{"PUT", "/api_gateway/keys", `{}`, 405},
		{"GET", "/api_gateway/keys/nope", nil, 404},
		{"GET", "/api_gateway/keys/AAAAAAAAAAAA", nil, 404},
		{"GET", "/api_gateway/keys/..%2F..%2Fconfig", nil, 404},
		{"GET", "/api_gateway/keys/" + k.ID + "/bogus", nil, 404},
		{"DELETE", "/api_gateway/keys/AAAAAAAAAAAA", nil, 404},
		{"DELETE", "/api_gateway/keys/" + k.ID + "?keep_successors=maybe", nil, 400},
		{"POST", "/api_gateway/keys/AAAAAAAAAAAA/rotate", nil, 404},
		{"GET", "/api_gateway/keys/" + k.ID + "/rotate", nil, 405},
		{"POST", "/api_gateway/keys/" + k.ID + "/rotate", `{"grace":"-1h"}`, 400},
		{"POST", "/api_gateway/keys/" + k.ID + "/rotate", `{"grace":1,"x":2}`, 400},
		{"PATCH", "/api_gateway/keys/" + k.ID, `{}`, 405},
	}
	for _, c := range cases {
		status, body := g.AdminDo(c.method, c.path, c.body)
		if status != c.want {
			t.Errorf("%s %s %.40v: %d %s, want %d", c.method, c.path, c.body, status, body, c.want)
		}
	}
	// Nothing was created by the bad requests.
	_, list := g.AdminDo("GET", "/api_gateway/keys", nil)
	var keys []CreatedKey
	if err := json.Unmarshal(list, &keys); err != nil || len(keys) != 1 {
		t.Fatalf("keys after bad requests: %s", list)
	}
}

// TestKeysSurviveReloadAndRestart reloads the config through the admin API and
// restarts the process: keys keep working, from the index and from storage.
func TestKeysSurviveReloadAndRestart(t *testing.T) {
	g, _ := startKeysGateway(t)
	k := g.CreateKey(map[string]any{"consumer": "c", "scopes": []string{"orders:read"}})

	config, err := os.ReadFile(g.Dir + "/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+g.Admin+"/load", strings.NewReader(strings.Replace(string(config), "grace 1h", "grace 2h", 1)))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d", resp.StatusCode)
	}
	// The reload closes the old server's connections: retry on a fresh one
	// until the new server answers.
	Eventually(t, 10*time.Second, "key works after reload", func() bool {
		client.CloseIdleConnections()
		req, _ := http.NewRequest("GET", g.URL("/orders/1"), nil)
		req.Header.Set("X-API-Key", k.Key)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	g.Restart()
	if status, _, body := g.Do("GET", "/orders/1", map[string]string{"X-API-Key": k.Key}, ""); status != 200 {
		t.Fatalf("after restart: %d %s", status, body)
	}
}

// TestCLI drives the real `caddy api-key` command against a running gateway.
func TestCLI(t *testing.T) {
	g, _ := startKeysGateway(t)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(binary(t), append([]string{"api-key"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+g.Dir)
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), fmt.Errorf("%v: %s", err, ee.Stderr)
		}
		return string(out), err
	}
	out, err := run("create", "--address", g.Admin, "--consumer", "ci-bot", "--scope", "orders:read", "--scope", "orders:write", "--ttl", "720h")
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`(?m)^key:\s+(agk_\S+)$`).FindStringSubmatch(out)
	id := regexp.MustCompile(`(?m)^id:\s+(\S+)$`).FindStringSubmatch(out)
	if key == nil || id == nil || !strings.Contains(out, "orders:read orders:write") || !strings.Contains(out, "expires_at:") {
		t.Fatalf("create output:\n%s", out)
	}
	if status, _, _ := g.Do("GET", "/orders/1", map[string]string{"X-API-Key": key[1]}, ""); status != 200 {
		t.Fatalf("CLI key refused: %d", status)
	}

	out, err = run("list", "--address", g.Admin)
	if err != nil || !strings.Contains(out, id[1]) || !strings.Contains(out, "ci-bot") || strings.Contains(out, key[1]) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = run("show", id[1], "--address", g.Admin, "--json")
	if err != nil || !strings.Contains(out, `"consumer": "ci-bot"`) || strings.Contains(out, secretOf(key[1])) || strings.Contains(out, `"hash"`) {
		t.Fatalf("show: %v\n%s", err, out)
	}
	out, err = run("rotate", id[1], "--grace", "1h", "--address", g.Admin)
	newKey := regexp.MustCompile(`(?m)^key:\s+(agk_\S+)$`).FindStringSubmatch(out)
	if err != nil || newKey == nil || newKey[1] == key[1] {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	// --keep-successors revokes the key alone; without it, a revocation takes
	// the keys it was rotated into.
	if _, err = run("revoke", id[1], "--keep-successors", "--address", g.Admin); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := g.Do("GET", "/orders/1", map[string]string{"X-API-Key": key[1]}, ""); status != 401 {
		t.Fatalf("revoked CLI key: %d", status)
	}
	if status, _, _ := g.Do("GET", "/orders/1", map[string]string{"X-API-Key": newKey[1]}, ""); status != 200 {
		t.Fatalf("successor after revoke --keep-successors: %d", status)
	}
	out, err = run("revoke", id[1], "--address", g.Admin)
	if err != nil || !regexp.MustCompile(`(?m)^revoked_successors:\s+\S+$`).MatchString(out) {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if status, _, _ := g.Do("GET", "/orders/1", map[string]string{"X-API-Key": newKey[1]}, ""); status != 401 {
		t.Fatalf("successor after revoke: %d", status)
	}
	if _, err := run("show", "AAAAAAAAAAAA", "--address", g.Admin); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("show unknown: %v", err)
	}
	if _, err := run("create", "--address", g.Admin); err == nil {
		t.Fatal("create without --consumer succeeded")
	}
}

// selfRotate rotates key through /me/rotate of the lifecycle site.
func selfRotate(t *testing.T, g *Gateway, key string) (int, CreatedKey, string) {
	t.Helper()
	status, h, body := g.Do("POST", "/me/rotate", map[string]string{"X-API-Key": key}, "")
	var k CreatedKey
	if status == 201 {
		if err := json.Unmarshal([]byte(body), &k); err != nil {
			t.Fatal(err)
		}
	} else if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("rotation answer %d has Content-Type %q", status, ct)
	}
	return status, k, body
}

// TestSelfRotationKeepsOneEnd: a short-lived key that keeps rotating itself
// keeps its expiry; a key in grace cannot rotate (self or admin); each rotation
// ends the grace of the key before, so a stolen key never becomes more than two.
func TestSelfRotationKeepsOneEnd(t *testing.T) {
	hook := StartHook(t)
	up := StartUpstream(t, nil)
	g := startLifecycleGateway(t, hook, up, "", "")
	first := g.CreateKey(map[string]any{"consumer": "shop", "ttl": "1h"})
	if first.ExpiresAt == "" {
		t.Fatal("the key has no expiry")
	}
	chain := []CreatedKey{first}
	for i := 1; i <= 5; i++ {
		cur := chain[len(chain)-1]
		status, next, body := selfRotate(t, g, cur.Key)
		if status != 201 {
			t.Fatalf("rotation %d: %d %s", i, status, body)
		}
		if next.ExpiresAt != first.ExpiresAt {
			t.Fatalf("rotation %d moved expires_at from %s to %s", i, first.ExpiresAt, next.ExpiresAt)
		}
		chain = append(chain, next)
		// The key just rotated is in grace: it cannot rotate again, by itself
		// or through the admin API.
		if status, _, body := selfRotate(t, g, cur.Key); status != 409 || !strings.Contains(body, "grace period") {
			t.Fatalf("rotation %d, key in grace rotating itself: %d %s", i, status, body)
		}
		if status, body := g.AdminDo("POST", "/api_gateway/keys/"+cur.ID+"/rotate", nil); status != 409 || !strings.Contains(string(body), next.ID) {
			t.Fatalf("rotation %d, admin rotating a key in grace: %d %s", i, status, body)
		}
		// Only the newest key and the one in grace work.
		for j, k := range chain {
			want := j >= len(chain)-2
			if got := usable(g, k.Key); got != want {
				t.Fatalf("after rotation %d, key %d usable = %v, want %v", i, j, got, want)
			}
		}
	}
}

// TestRevocationFollowsRotations: revoking a key revokes what it was rotated
// into (self-rotated or not), each with its own key.revoked;
// ?keep_successors=true revokes the key alone.
func TestRevocationFollowsRotations(t *testing.T) {
	hook := StartHook(t)
	up := StartUpstream(t, nil)
	g := startLifecycleGateway(t, hook, up, "", "")

	// A stolen key rotated by the thief: revoking the original ends both.
	orig := g.CreateKey(map[string]any{"consumer": "shop"})
	_, succ, _ := selfRotate(t, g, orig.Key)
	if !usable(g, succ.Key) || !usable(g, orig.Key) {
		t.Fatal("keys not usable after rotation")
	}
	status, body := g.AdminDo("DELETE", "/api_gateway/keys/"+orig.ID, nil)
	var answer struct {
		ID                string   `json:"id"`
		Status            string   `json:"status"`
		RevokedSuccessors []string `json:"revoked_successors"`
	}
	if err := json.Unmarshal(body, &answer); status != 200 || err != nil {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if answer.Status != "revoked" || len(answer.RevokedSuccessors) != 1 || answer.RevokedSuccessors[0] != succ.ID {
		t.Fatalf("revoke answer %s", body)
	}
	for name, k := range map[string]string{"original": orig.Key, "successor": succ.Key} {
		if status, _, _ := g.Do("GET", "/x", map[string]string{"X-API-Key": k}, ""); status != 401 {
			t.Errorf("%s after revoking the original: %d", name, status)
		}
	}
	Eventually(t, 10*time.Second, "key.revoked for both keys", func() bool { return len(hook.Of("key.revoked")) == 2 })
	for _, m := range hook.Of("key.revoked") {
		if m.Data["id"] == succ.ID && m.Data["revoked_with"] != orig.ID {
			t.Errorf("successor's key.revoked %v", m.Data)
		}
	}

	// The opt-out: the successor keeps working. A misspelt opt-out is refused.
	orig = g.CreateKey(map[string]any{"consumer": "shop"})
	_, succ, _ = selfRotate(t, g, orig.Key)
	if status, body := g.AdminDo("DELETE", "/api_gateway/keys/"+orig.ID+"?keep-successors=true", nil); status != 400 {
		t.Fatalf("misspelt opt-out: %d %s", status, body)
	}
	if !usable(g, orig.Key) {
		t.Fatal("a refused revocation revoked the key")
	}
	status, body = g.AdminDo("DELETE", "/api_gateway/keys/"+orig.ID+"?keep_successors=true", nil)
	if status != 200 || strings.Contains(string(body), "revoked_successors") {
		t.Fatalf("revoke with keep_successors: %d %s", status, body)
	}
	if usable(g, orig.Key) || !usable(g, succ.Key) {
		t.Fatalf("keep_successors: original usable %v, successor usable %v", usable(g, orig.Key), usable(g, succ.Key))
	}
}

// TestRevocationCascadeAcrossCluster: the successors a revocation takes are
// refused by the other instance too.
func TestRevocationCascadeAcrossCluster(t *testing.T) {
	hook := StartHook(t)
	up := StartUpstream(t, nil)
	storage := t.TempDir()
	a := startLifecycleGateway(t, hook, up, storage, "")
	b := startLifecycleGateway(t, hook, up, storage, "")
	orig := a.CreateKey(map[string]any{"consumer": "shop"})
	_, succ, _ := selfRotate(t, a, orig.Key)
	Eventually(t, 5*time.Second, "b has the successor", func() bool { return usable(b, succ.Key) })
	if status, body := b.AdminDo("DELETE", "/api_gateway/keys/"+orig.ID, nil); status != 200 {
		t.Fatalf("revoke on b: %d %s", status, body)
	}
	Eventually(t, 5*time.Second, "a refuses the successor", func() bool { return !usable(a, succ.Key) && !usable(a, orig.Key) })
}
