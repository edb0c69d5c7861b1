package caddytest

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestLegacyBackendsExample runs examples/legacy-backends.Caddyfile (on free
// ports) and follows docs/upstream-auth.md's recipes: a key created with
// --meta; each backend route gets its own credential (Basic from the
// environment, a static key, the account from the key's metadata, the
// gateway's JWT) and never the caller's key.
func TestLegacyBackendsExample(t *testing.T) {
	src, err := os.ReadFile("../examples/legacy-backends.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	up := StartUpstream(t, nil)
	config := strings.NewReplacer(
		"admin 127.0.0.1:2019", "admin {ADMIN}",
		"127.0.0.1:8080", "127.0.0.1:{PORT}",
		"127.0.0.1:9080", up.Addr,
		// The example's own stand-in backend: here, the test's upstream answers.
		"http://:9080", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		", http://localhost:8080", "",
		"./.apigate-demo", "{STORAGE}",
	).Replace(string(src))
	basic := base64.StdEncoding.EncodeToString([]byte("gateway:legacy-pass-93"))
	g := StartGateway(t, config, GatewayOptions{Env: []string{"LEGACY_BASIC=" + basic, "LEGACY_API_KEY=legacy-static-key-41"}})

	out, err := exec.Command(binary(t), "api-key", "create", "--address", g.Admin, "--consumer", "shop",
		"--scope", "orders:read", "--meta", "account=acme-42", "--meta", "tenant=eu_1").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m := regexp.MustCompile(`(?m)^key:\s+(\S+)$`).FindStringSubmatch(string(out))
	id := regexp.MustCompile(`(?m)^id:\s+(\S+)$`).FindStringSubmatch(string(out))
	if m == nil || id == nil || !strings.Contains(string(out), "meta.account:") {
		t.Fatalf("create output: %s", out)
	}
	key := m[1]
	show, err := exec.Command(binary(t), "api-key", "show", id[1], "--address", g.Admin).CombinedOutput()
	if err != nil || !regexp.MustCompile(`meta\.account:\s+acme-42`).Match(show) {
		t.Fatalf("show: %v %s", err, show)
	}
	list, err := exec.Command(binary(t), "api-key", "list", "--address", g.Admin).CombinedOutput()
	if err != nil || !strings.Contains(string(list), "account=acme-42,tenant=eu_1") {
		t.Fatalf("list: %v %s", err, list)
	}

	for path, want := range map[string][2]string{
		"/basic/orders":   {"Authorization", "Basic " + basic},
		"/static/orders":  {"X-Api-Key", "legacy-static-key-41"},
		"/account/orders": {"X-Account", "acme-42"},
		"/jwt/orders":     {"X-Apigate-Token", ""},
	} {
		n := len(up.Requests())
		if status, _, body := g.Do("GET", path, map[string]string{"X-API-Key": key}, ""); status != 200 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		got := up.Requests()[n]
		if v := got.Header.Get(want[0]); v == "" || (want[1] != "" && v != want[1]) {
			t.Errorf("%s: upstream %s = %q, want %q", path, want[0], v, want[1])
		}
		for name, vals := range got.Header {
			if strings.Contains(fmt.Sprint(vals), key) {
				t.Errorf("%s: the caller's key reached the upstream in %s", path, name)
			}
		}
		if path != "/jwt/orders" && got.Header.Get("X-Apigate-Token") != "" {
			t.Errorf("%s: the gateway's JWT went to a backend that does not use it", path)
		}
	}
	if status, _ := g.AdminDo("POST", "/api_gateway/keys", map[string]any{"consumer": "x", "metadata": map[string]string{"Bad-Name": "v"}}); status != 400 {
		t.Fatalf("invalid metadata name: %d", status)
	}
	bad, err := exec.Command(binary(t), "api-key", "create", "--address", g.Admin, "--consumer", "x", "--meta", "Bad-Name=v").CombinedOutput()
	if err == nil || !strings.Contains(string(bad), "--meta") || !strings.Contains(string(bad), "Bad-Name") {
		t.Fatalf("--meta with an invalid name: %v %s", err, bad)
	}
	if strings.Contains(g.Output(), key) {
		t.Fatal("the key appears in Caddy's output")
	}
}
