package caddytest

import (
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

// lenientUpstream serves an admin area the way many frameworks route: it decodes
// the path once, folds case, turns backslashes into slashes, merges doubled
// slashes and resolves dot segments. If the gateway's scoping could be fooled by
// any of these, a non-admin key would reach "ADMIN-AREA" here.
func lenientUpstream(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	p = strings.ToLower(strings.ReplaceAll(p, `\`, "/"))
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	p = path.Clean("/" + p)
	if p == "/admin" || strings.HasPrefix(p, "/admin/") {
		w.Write([]byte("ADMIN-AREA " + p)) //nolint:errcheck
		return
	}
	w.Write([]byte("PUBLIC-AREA " + p)) //nolint:errcheck
}

const scopingSite = `{
	{ADMIN_OPTIONS}
}
http://127.0.0.1:{PORT} {
	api_auth
	@admin path /admin /admin/*
	handle @admin {
		api_authorize admin
		reverse_proxy {UPSTREAM}
	}
	handle {
		api_authorize orders:read
		reverse_proxy {UPSTREAM}
	}
}
`

// TestScopingHoldsUnderPathTricks sends a non-admin key to the admin area
// through every spelling of its path we know, raw on the wire.
func TestScopingHoldsUnderPathTricks(t *testing.T) {
	up := StartUpstream(t, lenientUpstream)
	g := StartGateway(t, scopingSite, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	user := g.CreateKey(map[string]any{"consumer": "user", "scopes": []string{"orders:read"}})
	admin := g.CreateKey(map[string]any{"consumer": "root", "scopes": []string{"admin", "orders:read"}})

	tricks := []string{
		"/admin", "/admin/", "/admin/users", "/ADMIN/users", "/Admin/users", "/aDmIn",
		"//admin/users", "///admin/users", "/admin//users", "/./admin/users", "/orders/../admin/users",
		"/orders/./../admin", "/orders/%2e%2e/admin/users", "/%2e%2e/admin", "/orders/%2E%2E/admin",
		"/%61dmin/users", "/%41DMIN/users", "/admin%2Fusers", "/admin%2fusers", "/%2Fadmin/users",
		"/orders%2F..%2Fadmin", "/orders/..%2Fadmin", "/admin%20", "/admin/%2e", "/admin;x=1",
		"/admin?x=1", "/admin#x", "/orders/..;/admin", "/%2561dmin/users",
	}
	for _, p := range tricks {
		for _, who := range []struct {
			name    string
			key     string
			blocked bool
		}{{"user", user.Key, true}, {"admin", admin.Key, false}} {
			status, body := rawGet(t, g, p, who.key)
			if who.blocked && strings.Contains(body, "ADMIN-AREA") {
				t.Errorf("%s reached the admin area through %q: %d %s", who.name, p, status, body)
			}
			if who.blocked && status >= 500 {
				t.Errorf("%q: status %d", p, status)
			}
		}
	}
	// Sanity: the admin key does reach the admin area, and the user key the rest.
	if _, body := rawGet(t, g, "/admin/users", admin.Key); !strings.Contains(body, "ADMIN-AREA") {
		t.Fatalf("admin key did not reach the admin area: %s", body)
	}
	if status, body := rawGet(t, g, "/orders/1", user.Key); status != 200 || !strings.Contains(body, "PUBLIC-AREA") {
		t.Fatalf("user key on orders: %d %s", status, body)
	}
}

// rawGet sends the path byte for byte (Go's client would clean some of it).
func rawGet(t *testing.T, g *Gateway, rawPath, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", g.URL("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = rawPath
	if i := strings.IndexAny(rawPath, "?#"); i >= 0 {
		req.URL.Opaque = rawPath[:i]
		if rawPath[i] == '?' {
			req.URL.RawQuery = rawPath[i+1:]
		}
	}
	req.Header.Set("X-API-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", rawPath, err)
	}
	defer resp.Body.Close()
	b := new(strings.Builder)
	if _, err := io.Copy(b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b.String()
}
