package caddytest

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The log set-up the README recommends: the access log and Caddy's default log
// (which holds error records with the request headers) both drop X-Api-Key and
// the api_key query parameter.
const loggedSite = `{
	{ADMIN_OPTIONS}
	log default {
		level DEBUG
		output file {DIR}/caddy.log
		format filter {
			request>headers>X-Api-Key delete
			request>uri query {
				delete api_key
			}
			wrap json
		}
	}
}
http://127.0.0.1:{PORT} {
	log {
		output file {DIR}/access.log
		format filter {
			request>headers>X-Api-Key delete
			request>uri query {
				delete api_key
			}
			wrap json
		}
	}
	api_auth {
		api_key {
			query api_key
		}
	}
	handle /down/* {
		reverse_proxy 127.0.0.1:1
	}
	handle {
		api_authorize orders:read
		reverse_proxy {UPSTREAM}
	}
}
`

// TestSecretNeverLoggedOrStored sends keys (good, rotated, revoked, mistyped) in
// every place a key may travel, with debug logging and an access log on, then
// greps every log, the storage folder, the metrics, the admin API's answers
// and every request the upstream received for the key and its secret.
func TestSecretNeverLoggedOrStored(t *testing.T) {
	up := StartUpstream(t, nil)
	g := StartGateway(t, loggedSite, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	k := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})
	old := g.CreateKey(map[string]any{"consumer": "old", "scopes": []string{"orders:read"}})
	status, data := g.AdminDo("POST", "/api_gateway/keys/"+old.ID+"/rotate", map[string]any{"grace": "1h"})
	if status != 201 {
		t.Fatalf("rotate: %d %s", status, data)
	}
	rotated := string(data)
	typo := k.Key[:len(k.Key)-1] + "x"
	if typo == k.Key {
		typo = k.Key[:len(k.Key)-1] + "y"
	}

	keys := []string{k.Key, old.Key, typo}
	for _, key := range keys {
		for _, path := range []string{"/orders/1", "/down/x"} {
			g.Do("GET", path, map[string]string{"X-API-Key": key}, "")
			g.Do("GET", path, map[string]string{"Authorization": "Bearer " + key}, "")
			g.Do("GET", path+"?api_key="+key, nil, "")
			g.Do("GET", path+"?x=1&api_key="+key, map[string]string{"X-API-Key": key}, "")
			// A second credential in a scheme no method takes beside a good key.
			g.Do("GET", path, map[string]string{"X-API-Key": k.Key, "Authorization": "Token " + key}, "")
		}
	}
	// Listing and showing keys must not reveal them either.
	_, list := g.AdminDo("GET", "/api_gateway/keys", nil)
	_, show := g.AdminDo("GET", "/api_gateway/keys/"+k.ID, nil)
	resp, err := http.Get("http://" + g.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	secrets := map[string]string{"key": k.Key, "secret": secretOf(k.Key), "old key": old.Key,
		"old secret": secretOf(old.Key), "typo": typo, "typo secret": secretOf(typo)}
	for _, line := range strings.Split(rotated, "\n") {
		if strings.Contains(line, `"key"`) {
			nk := strings.Trim(strings.TrimSpace(strings.SplitN(line, ":", 2)[1]), `",`)
			secrets["rotated key"] = nk
			secrets["rotated secret"] = secretOf(nk)
		}
	}
	if secrets["rotated key"] == "" {
		t.Fatalf("rotation answer without a key: %s", rotated)
	}

	if len(up.Requests()) == 0 {
		t.Fatal("no request reached the upstream: the test would prove nothing")
	}
	upstream, err := json.Marshal(up.Requests())
	if err != nil {
		t.Fatal(err)
	}
	haystacks := map[string]string{
		"admin list": string(list), "admin show": string(show), "metrics": string(metrics),
		"the upstream's requests": string(upstream),
	}
	files := 0
	for _, dir := range []string{g.Dir, g.Storage} {
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error { //nolint:errcheck
			if err != nil || info.IsDir() || filepath.Base(p) == "Caddyfile" {
				return nil
			}
			b, err := os.ReadFile(p)
			if err == nil {
				haystacks[p] = string(b)
				files++
			}
			return nil
		})
	}
	for _, must := range []string{"caddy.log", "access.log"} {
		if !strings.Contains(strings.Join(keysOf(haystacks), " "), must) {
			t.Fatalf("no %s written: the test would prove nothing", must)
		}
	}
	if !strings.Contains(haystacks[filepath.Join(g.Dir, "caddy.log")], `"level":"debug"`) {
		t.Fatal("debug logging is not on")
	}
	if !strings.Contains(haystacks[filepath.Join(g.Dir, "caddy.log")], "502") && !strings.Contains(haystacks[filepath.Join(g.Dir, "caddy.log")], "error") {
		t.Fatal("no error record for the failing upstream: the error log path is not covered")
	}
	for where, text := range haystacks {
		for what, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("%s found in %s", what, where)
			}
		}
	}
	t.Logf("searched %d files, the admin answers and /metrics", files)
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// secretOf returns the secret part of a key (agk_<id>_<secret><checksum>).
func secretOf(key string) string {
	parts := strings.SplitN(key, "_", 3)
	if len(parts) != 3 || len(parts[2]) < 32 {
		return ""
	}
	return parts[2][:32]
}
