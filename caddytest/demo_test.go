package caddytest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestDemoExample runs examples/Caddyfile and examples/Caddyfile.json (on free
// ports instead of 2019, 8080 and 9080) and follows the README's quickstart:
// create a key with the CLI, call the API, get refused on the admin area.
func TestDemoExample(t *testing.T) {
	for _, file := range []string{"../examples/Caddyfile", "../examples/Caddyfile.json"} {
		t.Run(file, func(t *testing.T) {
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

			out, err := exec.Command(binary(t), "api-key", "create", "--address", g.Admin, "--consumer", "shop", "--scope", "orders:read").Output()
			if err != nil {
				t.Fatal(err)
			}
			key := regexp.MustCompile(`(?m)^key:\s+(\S+)$`).FindStringSubmatch(string(out))
			if key == nil {
				t.Fatalf("create output: %s", out)
			}
			status, _, body := g.Do("GET", "/orders/42", map[string]string{"X-API-Key": key[1]}, "")
			if status != 200 {
				t.Fatalf("orders: %d %s", status, body)
			}
			var seen map[string]string
			if err := json.Unmarshal([]byte(body), &seen); err != nil {
				t.Fatalf("upstream answer %q: %v", body, err)
			}
			if seen["consumer"] != "shop" || seen["key_seen"] != "" || seen["area"] != "orders" {
				t.Fatalf("upstream saw %v", seen)
			}
			if status, _, _ := g.Do("GET", "/admin/users", map[string]string{"X-API-Key": key[1]}, ""); status != 403 {
				t.Fatalf("admin with an orders key: %d", status)
			}
			if status, _, _ := g.Do("GET", "/orders/42", nil, ""); status != 401 {
				t.Fatalf("no key: %d", status)
			}
			if strings.Contains(g.Output(), key[1]) {
				t.Fatal("the key appears in Caddy's output")
			}
		})
	}
}
