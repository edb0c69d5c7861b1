package oidc

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// site: api_auth verifies callers' opaque tokens by introspection at the
// provider (cached, so a request may reach api_upstream_auth after the
// provider stopped answering); /orders/* exchanges them for the audience
// orders, /billing/* for billing; /reports/* gets the gateway's own token by
// client credentials (zitadel's example service user sid1).
const site = `{
	admin {ADMIN}
	storage file_system {DIR}/storage
	auto_https off
	persist_config off
	log {
		level DEBUG
	}
}

http://127.0.0.1:{PORT} {
	log {
		output file {DIR}/access.log
	}
	api_auth {
		introspect {IDP}/oauth/introspect {
			client_id apigate
			client_secret {env.APIGATE_TEST_EXCHANGE_SECRET}
			cache 2m
		}
	}
	handle /orders/* {
		api_upstream_auth {
			token_exchange {IDP}/oauth/token {
				client_id apigate
				client_secret {env.APIGATE_TEST_EXCHANGE_SECRET}
				audience orders
				scope orders:read
			}
		}
		reverse_proxy {UPSTREAM}
	}
	handle /billing/* {
		api_upstream_auth {
			token_exchange {IDP}/oauth/token {
				client_id apigate
				client_secret {env.APIGATE_TEST_EXCHANGE_SECRET}
				audience billing
			}
		}
		reverse_proxy {UPSTREAM}
	}
	handle /reports/* {
		api_upstream_auth {
			client_credentials {IDP}/oauth/token {
				client_id sid1
				client_secret verysecret
				scope reports:read
			}
		}
		reverse_proxy {UPSTREAM}
	}
	handle /reports-post/* {
		api_upstream_auth {
			client_credentials {IDP}/oauth/token {
				client_id sid1
				client_secret verysecret
				auth_method client_secret_post
			}
		}
		reverse_proxy {UPSTREAM}
	}
}
`

// TestTokenExchangeAgainstZitadel runs the whole story against zitadel/oidc:
// the exchanged token reaches the upstream with the requested audience; 50
// concurrent requests with one subject token make one exchange; a refused
// exchange gives 401 and the provider down gives 502, neither saying
// anything of the provider; and no credential shows up in a log line, a
// metric, an answer or a stored file.
func TestTokenExchangeAgainstZitadel(t *testing.T) {
	idp := startProvider(t)
	up := startBackend(t)
	cfg := strings.NewReplacer("{IDP}", idp.URL, "{UPSTREAM}", up.Listener.Addr().String()).Replace(site)
	base, admin, dir := gateway(t, cfg, "APIGATE_TEST_EXCHANGE_SECRET="+gatewaySecret)
	var secrets []string // every credential of the test, which must appear nowhere
	var bodies []string  // every answer of the gateway

	// An exchanged token reaches the upstream, meant for orders.
	subject, _ := idp.userToken(t, "id1")
	secrets = append(secrets, subject, gatewaySecret, "verysecret")
	status, body := get(t, base+"/orders/1", subject)
	bodies = append(bodies, body)
	if status != 200 {
		t.Fatalf("exchange: %d %s", status, body)
	}
	seen := up.headers()
	exchanged := strings.TrimPrefix(seen[0], "Bearer ")
	secrets = append(secrets, exchanged)
	if exchanged == seen[0] || exchanged == subject || exchanged == "" {
		t.Fatalf("upstream got %q", seen[0])
	}
	if info, err := idp.introspect(exchanged); err != nil || !strings.Contains(info, `"active":true`) {
		t.Fatalf("the exchanged token is not active for the audience orders: %s %v", info, err)
	}
	if info, _ := idp.introspect(subject); strings.Contains(info, `"active":true`) {
		t.Fatalf("the caller's own token is valid for orders: the test proves nothing (%s)", info)
	}

	// 50 concurrent requests with one (new) subject token: one exchange.
	concurrent, _ := idp.userToken(t, "id1")
	secrets = append(secrets, concurrent)
	before := idp.storage.exchanges.Load()
	var wg sync.WaitGroup
	codes := make([]int, 50)
	for i := range codes {
		wg.Go(func() { codes[i], _ = get(t, base+"/orders/many", concurrent) })
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("concurrent request %d: %d", i, c)
		}
	}
	if n := idp.storage.exchanges.Load() - before; n != 1 {
		t.Fatalf("50 concurrent requests made %d exchanges, want 1", n)
	}

	// The gateway's own token (client credentials) for /reports.
	if status, body = get(t, base+"/reports/1", subject); status != 200 {
		t.Fatalf("client credentials: %d %s", status, body)
	}
	own := up.headers()
	ownTok := strings.TrimPrefix(own[len(own)-1], "Bearer ")
	secrets = append(secrets, ownTok)
	// The same with client_secret_post (zitadel's token exchange takes
	// client_secret_basic only; its client credentials grant takes both).
	if status, body = get(t, base+"/reports-post/1", subject); status != 200 {
		t.Fatalf("client credentials, client_secret_post: %d %s", status, body)
	}
	own = up.headers()
	postTok := strings.TrimPrefix(own[len(own)-1], "Bearer ")
	secrets = append(secrets, postTok)
	for _, tok := range []string{ownTok, postTok} {
		if plain, err := idp.op.Crypto().Decrypt(tok); err != nil || !strings.HasSuffix(plain, ":sid1") {
			t.Fatalf("the upstream did not get sid1's token from the provider: %q %v", plain, err)
		}
	}

	// A refused exchange: the provider revoked the caller's token after the
	// gateway cached its introspection, so api_auth lets it in and the
	// exchange for billing fails with invalid_grant: 401.
	revoked, revokedID := idp.userToken(t, "id1")
	secrets = append(secrets, revoked)
	if status, _ = get(t, base+"/orders/2", revoked); status != 200 {
		t.Fatalf("before revocation: %d", status)
	}
	if err := idp.storage.RevokeToken(context.Background(), revokedID, "id1", ""); err != nil {
		t.Fatal(err)
	}
	status, body = get(t, base+"/billing/1", revoked)
	bodies = append(bodies, body)
	if status != http.StatusUnauthorized || strings.Contains(body, "invalid_grant") || strings.Contains(body, "revoked") {
		t.Fatalf("refused exchange: %d %s", status, body)
	}

	// The provider down: 502, nothing of the provider in the answer.
	down, _ := idp.userToken(t, "id1")
	secrets = append(secrets, down)
	if status, _ = get(t, base+"/orders/3", down); status != 200 {
		t.Fatalf("before the provider went down: %d", status)
	}
	idp.Close()
	status, body = get(t, base+"/billing/2", down)
	bodies = append(bodies, body)
	if status != http.StatusBadGateway || strings.Contains(body, "127.0.0.1") || strings.Contains(body, "oauth") {
		t.Fatalf("provider down: %d %s", status, body)
	}
	// A cached token still serves while the provider is down.
	if status, _ = get(t, base+"/orders/4", subject); status != 200 {
		t.Fatalf("cached token with the provider down: %d", status)
	}

	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `caddy_apigate_idp_requests_total{kind="token_exchange",result="error"}`) {
		t.Errorf("no failed token_exchange in the metrics")
	}
	log, _ := os.ReadFile(filepath.Join(dir, "caddy.log"))
	for _, want := range []string{`"msg":"token endpoint refused","grant":"token_exchange","status":400,"error":"invalid_grant"`,
		`"msg":"token endpoint failed","grant":"token_exchange","status":0,"error":"unreachable"`} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the log has no %s", want)
		}
	}
	assertNowhere(t, dir, secrets, append(bodies, string(metrics)))
}

// assertNowhere fails if any secret appears in a file under dir (the debug
// log, the access log, the storage) or in texts.
func assertNowhere(t *testing.T, dir string, secrets, texts []string) {
	t.Helper()
	check := func(where, s string) {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(s, sec) {
				t.Errorf("a credential (%.6s...) appears in %s", sec, where)
			}
		}
	}
	for i, s := range texts {
		check("answer or metrics #"+string(rune('0'+i)), s)
	}
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(path) == "Caddyfile" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		check(path, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Fatalf("only %d files under %s: the logs were not written where the test looks", n, dir)
	}
}

// TestTokenExchangeExample runs examples/token-exchange.Caddyfile (recipe 5
// of docs/upstream-auth.md) against zitadel/oidc: a caller's token is
// exchanged and the backend receives a token for the audience orders, never
// the caller's own.
func TestTokenExchangeExample(t *testing.T) {
	src, err := os.ReadFile("../../examples/token-exchange.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	idp := startProvider(t)
	up := startBackend(t)
	cfg := strings.NewReplacer(
		"admin 127.0.0.1:2019", "admin {ADMIN}",
		"./.apigate-demo", "{DIR}/storage",
		"http://127.0.0.1:8080, http://localhost:8080", "http://127.0.0.1:{PORT}",
		"reverse_proxy 127.0.0.1:9080", "reverse_proxy "+up.Listener.Addr().String(),
		"http://:9080", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
	).Replace(string(src))
	base, _, _ := gateway(t, cfg, "IDP_URL="+idp.URL, "EXCHANGE_SECRET="+gatewaySecret)
	subject, _ := idp.userToken(t, "id1")
	if status, body := get(t, base+"/orders/42", subject); status != 200 {
		t.Fatalf("exchange through the example: %d %s", status, body)
	}
	seen := up.headers()
	exchanged := strings.TrimPrefix(seen[len(seen)-1], "Bearer ")
	if exchanged == subject || exchanged == "" {
		t.Fatalf("the backend got %q", seen[len(seen)-1])
	}
	if info, err := idp.introspect(exchanged); err != nil || !strings.Contains(info, `"active":true`) {
		t.Fatalf("the exchanged token is not active for the audience orders: %s %v", info, err)
	}
}
