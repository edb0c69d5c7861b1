package caddytest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The site config most tests use: API keys, an admin-only area, an orders area.
const keysSite = `{
	{ADMIN_OPTIONS}
	log {
		level DEBUG
		output file {DIR}/caddy.log
	}
	api_gateway {
		keys {
			grace 1h
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
	@admin path /admin /admin/*
	handle @admin {
		api_authorize admin
		reverse_proxy {UPSTREAM} {
			header_up X-Area admin
			header_up X-Consumer {http.auth.user.id}
		}
	}
	handle {
		api_authorize orders:read
		reverse_proxy {UPSTREAM} {
			header_up X-Consumer {http.auth.user.id}
			header_up X-Scopes {http.auth.user.scopes}
			header_up X-Key-Id {http.auth.user.key_id}
			header_up X-Method {http.auth.user.method}
		}
	}
}
`

func startKeysGateway(t *testing.T) (*Gateway, *Upstream) {
	up := StartUpstream(t, nil)
	g := StartGateway(t, keysSite, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	return g, up
}

func received(t *testing.T, body string) Received {
	t.Helper()
	var r Received
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	return r
}

func TestAPIKeyEndToEnd(t *testing.T) {
	g, _ := startKeysGateway(t)
	k := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})
	if !strings.HasPrefix(k.Key, "agk_"+k.ID+"_") {
		t.Fatalf("key %q does not have the documented format for id %s", k.Key, k.ID)
	}

	for name, headers := range map[string]map[string]string{
		"header": {"X-API-Key": k.Key},
		"bearer": {"Authorization": "Bearer " + k.Key},
		"BEARER": {"Authorization": "BEARER " + k.Key},
	} {
		t.Run(name, func(t *testing.T) {
			status, _, body := g.Do("GET", "/orders/1", headers, "")
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			r := received(t, body)
			if got := r.Header.Get("X-Consumer"); got != "shop" {
				t.Errorf("consumer placeholder = %q", got)
			}
			if r.Header.Get("X-Scopes") != "orders:read" || r.Header.Get("X-Key-Id") != k.ID || r.Header.Get("X-Method") != "api_key" {
				t.Errorf("placeholders: %v", r.Header)
			}
			if strings.Contains(body, k.Key) || r.Header.Get("X-Api-Key") != "" || r.Header.Get("Authorization") != "" {
				t.Errorf("the credential reached the upstream: %s", body)
			}
		})
	}

	t.Run("query", func(t *testing.T) {
		status, _, body := g.Do("GET", "/orders/1?a=1&api_key="+k.Key+"&b=2", nil, "")
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		if r := received(t, body); r.RawQuery != "a=1&b=2" {
			t.Errorf("upstream query %q, want the key removed and the rest kept", r.RawQuery)
		}
	})
}

func TestRejectionsAreIndistinguishable(t *testing.T) {
	g, up := startKeysGateway(t)
	live := g.CreateKey(map[string]any{"consumer": "a", "scopes": []string{"orders:read"}})
	revoked := g.CreateKey(map[string]any{"consumer": "b", "scopes": []string{"orders:read"}})
	if status, body := g.AdminDo("DELETE", "/api_gateway/keys/"+revoked.ID, nil); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	expired := g.CreateKey(map[string]any{"consumer": "c", "scopes": []string{"orders:read"}, "ttl": "1ns"})

	// One character changed in the secret part: fails the checksum.
	typo := []byte(live.Key)
	i := len(typo) - 10
	if typo[i] == 'a' {
		typo[i] = 'b'
	} else {
		typo[i] = 'a'
	}
	unknown := "agk_AAAAAAAAAAAA_" + live.Key[len("agk_")+13:]

	bad := map[string]string{
		"revoked":   revoked.Key,
		"expired":   expired.Key,
		"typo":      string(typo),
		"unknown":   unknown,
		"garbage":   "not-a-key",
		"truncated": live.Key[:20],
		"prefix":    "agk_",
		"long":      strings.Repeat("a", 8000),
	}
	var first string
	var firstHeader http.Header
	for name, key := range bad {
		status, h, body := g.Do("GET", "/orders/1", map[string]string{"X-API-Key": key}, "")
		if status != 401 {
			t.Fatalf("%s: status %d: %s", name, status, body)
		}
		if h.Get("Content-Type") != "application/problem+json" || h.Get("WWW-Authenticate") != `Bearer realm="api", error="invalid_token"` {
			t.Errorf("%s: headers %v", name, h)
		}
		if first == "" {
			first, firstHeader = body, h
		} else if body != first || h.Get("WWW-Authenticate") != firstHeader.Get("WWW-Authenticate") {
			t.Errorf("%s: answer %q differs from %q", name, body, first)
		}
	}

	status, h, body := g.Do("GET", "/orders/1", nil, "")
	if status != 401 || h.Get("WWW-Authenticate") != `Bearer realm="api"` {
		t.Errorf("no credential: %d %v %s", status, h, body)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != 401 || p.Title == "" {
		t.Errorf("problem body %q: %v", body, err)
	}

	// Two copies of a key, or a key in two places, are refused.
	status, _, _ = g.Do("GET", "/orders/1?api_key="+live.Key, map[string]string{"X-API-Key": live.Key}, "")
	if status != 401 {
		t.Errorf("key in header and query: %d", status)
	}
	status, _, _ = g.Do("GET", "/orders/1?api_key="+live.Key+"&api_key="+live.Key, nil, "")
	if status != 401 {
		t.Errorf("key twice in query: %d", status)
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("the upstream saw %d rejected requests", n)
	}
}
