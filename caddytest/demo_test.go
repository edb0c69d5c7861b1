package caddytest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoExample runs examples/Caddyfile and examples/Caddyfile.json (on free
// ports instead of 2019, 8080 and 9080) and walks the README's quickstart, one
// step per paragraph: a key from the CLI, keys and scopes, the rate limit,
// inspection and the audit file, monitoring, the cache, self-rotation, the
// JWKS.
func TestDemoExample(t *testing.T) {
	for _, file := range []string{"../examples/Caddyfile", "../examples/Caddyfile.json"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			upstream := freePort(t)
			adapter := "caddyfile"
			if strings.HasSuffix(file, ".json") {
				adapter = "json"
			}
			config := strings.NewReplacer(
				"127.0.0.1:2019", "{ADMIN}",
				"127.0.0.1:8080", "127.0.0.1:{PORT}",
				"127.0.0.1:9080", fmt.Sprintf("127.0.0.1:%d", upstream),
				":8080", ":{PORT}",
				":9080", fmt.Sprintf(":%d", upstream),
				"./.apigate-demo", "{STORAGE}",
			).Replace(string(src))
			g := StartGateway(t, config, GatewayOptions{Adapter: adapter})
			walkQuickstart(t, g)
		})
	}
}

func walkQuickstart(t *testing.T, g *Gateway) {
	// The README's commands use localhost; the site answers 127.0.0.1 too.
	site := fmt.Sprintf("http://localhost:%d", g.Port)
	get := func(path string, headers map[string]string) (int, map[string][]string, string) {
		t.Helper()
		status, h, body := do(t, "GET", site+path, headers, "")
		return status, h, body
	}

	// A key from the CLI, printed once.
	out, err := exec.Command(binary(t), "api-key", "create", "--address", g.Admin, "--consumer", "shop", "--scope", "orders:read").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^key:\s+(\S+)$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("create output: %s", out)
	}
	key := m[1]
	bearer := map[string]string{"Authorization": "Bearer " + key}

	// Keys and scopes: the upstream sees the consumer and a signed token,
	// never the key; the card and the e-mail address come back masked.
	status, _, body := get("/orders/42", bearer)
	if status != 200 {
		t.Fatalf("orders: %d %s", status, body)
	}
	var seen map[string]string
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	if seen["consumer"] != "shop" || seen["key_seen"] != "" || seen["area"] != "orders" || seen["upstream_token"] != "yes" {
		t.Fatalf("upstream saw %v", seen)
	}
	if seen["card"] != "**** **** **** 1111" || seen["email"] != "***@example.com" {
		t.Fatalf("not masked: %s", body)
	}
	// X-API-Key works as well, on 127.0.0.1 as on localhost.
	if status, _, body := g.Do("GET", "/orders/42", map[string]string{"X-API-Key": key}, ""); status != 200 {
		t.Fatalf("orders with X-API-Key on 127.0.0.1: %d %s", status, body)
	}
	status, h, _ := get("/admin/users", bearer)
	if status != 403 || !strings.Contains(strings.Join(h["Www-Authenticate"], ""), `error="insufficient_scope", scope="admin"`) {
		t.Fatalf("admin with an orders key: %d %v", status, h)
	}
	if status, _, _ := get("/orders/42", nil); status != 401 {
		t.Fatalf("no key: %d", status)
	}
	if status, _, body := get("/", nil); status != 401 || body == "" {
		t.Fatalf("curl localhost: %d %q", status, body)
	}

	// The rate limit: 5 at once per consumer, then one every 2 seconds; the
	// loop of seven calls ends in 429s with Retry-After.
	var codes []int
	retryAfter := ""
	for i := 0; i < 7; i++ {
		status, h, _ := get("/orders/42", bearer)
		codes = append(codes, status)
		if status == 429 {
			retryAfter = strings.Join(h["Retry-After"], "")
		}
	}
	ok := 0
	for ok < len(codes) && codes[ok] == 200 {
		ok++
	}
	if ok > 5 || ok == len(codes) || retryAfter == "" {
		t.Fatalf("rate limit loop: %v (Retry-After %q)", codes, retryAfter)
	}
	for _, c := range codes[ok:] {
		if c != 429 {
			t.Fatalf("rate limit loop: %v", codes)
		}
	}

	// Inspection: injection refused before any key is checked; an audit
	// record per request in .apigate-demo/audit.log.
	if status, _, body := get("/orders?q=1'+OR+'1'='1", bearer); status != 403 || !strings.Contains(body, "SQL injection") {
		t.Fatalf("injection: %d %s", status, body)
	}
	audit := filepath.Join(g.Storage, "audit.log")
	Eventually(t, 10*time.Second, "audit records in "+audit, func() bool {
		data, _ := os.ReadFile(audit)
		return strings.Contains(string(data), `"consumer":"shop"`) && strings.Contains(string(data), `"reason":"sqli"`)
	})

	// Monitoring: the orders route with the calls above, healthy.
	Eventually(t, 20*time.Second, "the orders route in caddy api-gateway routes", func() bool {
		out, err := exec.Command(binary(t), "api-gateway", "routes", "--address", g.Admin).Output()
		return err == nil && regexp.MustCompile(`(?m)^orders\s+healthy\s+1m0s\s+[1-9]`).Match(out)
	})

	// The cache: the second call of /catalog is a hit.
	status, h, _ = get("/catalog", bearer)
	if status != 200 || !strings.Contains(strings.Join(h["Cache-Status"], ""), "stored") {
		t.Fatalf("first catalog: %d %v", status, h["Cache-Status"])
	}
	Eventually(t, 10*time.Second, "a cache hit", func() bool {
		_, h, _ := get("/catalog", bearer)
		return strings.HasPrefix(strings.Join(h["Cache-Status"], ""), "apigate; hit")
	})

	// Self-rotation: 201 with a new key; the old one keeps working in its
	// grace period, its answers marked with Deprecation and Sunset.
	status, _, body = do(t, "POST", site+"/v1/keys/rotate", bearer, "")
	if status != 201 {
		t.Fatalf("rotate: %d %s", status, body)
	}
	var rotated CreatedKey
	if err := json.Unmarshal([]byte(body), &rotated); err != nil || !strings.HasPrefix(rotated.Key, "agk_") || rotated.Key == key {
		t.Fatalf("rotate answer %s: %v", body, err)
	}
	status, h, _ = get("/catalog", bearer)
	if status != 200 || len(h["Deprecation"]) == 0 || len(h["Sunset"]) == 0 {
		t.Fatalf("old key after rotation: %d %v", status, h)
	}
	status, h, _ = get("/catalog", map[string]string{"Authorization": "Bearer " + rotated.Key})
	if status != 200 || len(h["Deprecation"]) != 0 {
		t.Fatalf("new key: %d %v", status, h)
	}

	// The JWKS, for the upstream to verify X-Apigate-Token: no key needed.
	status, _, body = get("/.well-known/jwks.json", nil)
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &jwks) != nil || len(jwks.Keys) == 0 || jwks.Keys[0]["alg"] != "EdDSA" {
		t.Fatalf("jwks: %d %s", status, body)
	}

	for _, k := range []string{key, rotated.Key} {
		if strings.Contains(g.Output(), secretOf(k)) {
			t.Fatal("a key appears in Caddy's output")
		}
		if data, _ := os.ReadFile(audit); strings.Contains(string(data), secretOf(k)) {
			t.Fatal("a key appears in the audit log")
		}
	}
}
