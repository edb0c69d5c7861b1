package caddytest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// keyLogFilter drops the caller's key from a log: X-Api-Key and the api_key
// query parameter.
const keyLogFilter = `format filter {
			request>headers>X-Api-Key delete
			request>uri query {
				delete api_key
			}
			wrap json
		}`

// keyDebugLog is Caddy's default log at DEBUG, without the key.
const keyDebugLog = `log default {
		level DEBUG
		output file {DIR}/caddy.log
		` + keyLogFilter + `
	}`

// keyAccessLog is a site's access log without the key.
const keyAccessLog = `log {
		output file {DIR}/access.log
		` + keyLogFilter + `
	}`

// The log set-up the README recommends: the access log and Caddy's default log
// (which holds error records with the request headers) both drop the key.
const loggedSite = `{
	{ADMIN_OPTIONS}
	` + keyDebugLog + `
}
http://127.0.0.1:{PORT} {
	` + keyAccessLog + `
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
	haystacks := gatewayHaystacks(t, g)
	haystacks["admin list"], haystacks["admin show"] = string(list), string(show)
	haystacks["the upstream's requests"] = string(upstream)
	assertNoSecret(t, haystacks, secrets)
}

// gatewayHaystacks reads everything of g a secret must not be found in: every
// file of its folder and storage but the Caddyfile, and /metrics. It fails the
// test unless the debug log (with an error record) and the access log were
// written, so a search of them proves something.
func gatewayHaystacks(t *testing.T, g *Gateway) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + g.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	haystacks := map[string]string{"metrics": string(metrics)}
	for _, dir := range []string{g.Dir, g.Storage} {
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error { //nolint:errcheck
			if err != nil || info.IsDir() || filepath.Base(p) == "Caddyfile" {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil {
				haystacks[p] = string(b)
			}
			return nil
		})
	}
	for _, must := range []string{"caddy.log", "access.log"} {
		if _, ok := haystacks[filepath.Join(g.Dir, must)]; !ok {
			t.Fatalf("no %s written: the test would prove nothing", must)
		}
	}
	caddyLog := haystacks[filepath.Join(g.Dir, "caddy.log")]
	if !strings.Contains(caddyLog, `"level":"debug"`) {
		t.Fatal("debug logging is not on")
	}
	if !strings.Contains(caddyLog, "502") && !strings.Contains(caddyLog, "error") {
		t.Fatal("no error record for the failing upstream: the error log path is not covered")
	}
	return haystacks
}

// assertNoSecret fails for each secret found in a haystack.
func assertNoSecret(t *testing.T, haystacks, secrets map[string]string) {
	t.Helper()
	for where, text := range haystacks {
		for what, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("%s found in %s", what, where)
			}
		}
	}
	t.Logf("searched %d files and answers for %d secrets", len(haystacks), len(secrets))
}

// secretOf returns the secret part of a key (agk_<id>_<secret><checksum>).
func secretOf(key string) string {
	parts := strings.SplitN(key, "_", 3)
	if len(parts) != 3 || len(parts[2]) < 32 {
		return ""
	}
	return parts[2][:32]
}

// tokenDebugLog is keyDebugLog that drops the upstream token's header too.
var tokenDebugLog = strings.Replace(keyDebugLog, "format filter {", "format filter {\n\t\t\trequest>headers>X-Upstream-Token delete", 1)

// upstreamSite: callers by JWT or API key (every carrier); api_upstream_auth
// in each form toward a token endpoint of the test. The access log filters
// only the caller's key (it shows the request as it arrived, and
// api_upstream_auth takes its header off once the upstream answered);
// Caddy's own log also drops X-Upstream-Token, because reverse_proxy logs the
// request it sends upstream at DEBUG, as docs/upstream-auth.md says.
var upstreamSite = `{
	{ADMIN_OPTIONS}
	` + tokenDebugLog + `
}
(exchange) {
	token_exchange {TOKEN}/token {
		client_id apigate
		client_secret {env.APIGATE_TEST_TE_SECRET}
		audience {args[0]}
		{args[1:]}
	}
}
http://127.0.0.1:{PORT} {
	` + keyAccessLog + `
	api_auth {
		jwt {
			jwks_url {IDP}/jwks
			issuer {IDP}/
			audience orders-api
		}
		api_key {
			query api_key
		}
	}
	handle /bearer/* {
		api_upstream_auth {
			import exchange orders
		}
		reverse_proxy {UPSTREAM}
	}
	handle /custom/* {
		api_upstream_auth {
			import exchange billing fallback client_credentials
			header X-Upstream-Token
		}
		reverse_proxy {UPSTREAM}
	}
	handle /refused/* {
		api_upstream_auth {
			import exchange refused
		}
		reverse_proxy {UPSTREAM}
	}
	handle /broken/* {
		api_upstream_auth {
			import exchange broken
		}
		reverse_proxy {UPSTREAM}
	}
	handle /down/* {
		api_upstream_auth {
			import exchange reports fallback client_credentials
			header X-Upstream-Token
		}
		reverse_proxy 127.0.0.1:1
	}
}
`

// tokenEndpoint is an OAuth2 token endpoint that issues a fresh random token
// for each request, refuses the audience "refused" and fails for "broken";
// both failures echo the subject token and the client secret in their
// description, as a careless provider might.
type tokenEndpoint struct {
	mu     sync.Mutex
	issued []string
}

func (e *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	id, secret, _ := r.BasicAuth()
	_ = r.ParseForm()
	echo := r.PostForm.Get("subject_token") + " " + secret
	w.Header().Set("Content-Type", "application/json")
	switch aud := r.PostForm.Get("audience"); {
	case id != "apigate" || secret != upstreamClientSecret:
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"}) //nolint:errcheck
	case aud == "refused":
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_target", "error_description": echo}) //nolint:errcheck
	case aud == "broken":
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": "temporarily_unavailable", "error_description": echo}) //nolint:errcheck
	default:
		var b [16]byte
		_, _ = rand.Read(b[:])
		tok := aud + "." + hex.EncodeToString(b[:])
		e.mu.Lock()
		e.issued = append(e.issued, tok)
		e.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600}) //nolint:errcheck
	}
}

func (e *tokenEndpoint) tokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.issued...)
}

const upstreamClientSecret = "te-client-secret-8c41d7"

// TestUpstreamCredentialsNeverLoggedOrStored extends the secrets test to
// api_upstream_auth: callers with a JWT or an API key in every carrier, token
// exchange into Authorization and into another header, the API-key fallback,
// a refusing, a failing and a dead upstream, with debug logging and an access
// log on. The upstream gets the exchanged token and never the caller's
// credential; no subject token, exchanged token or client secret is in a
// log, a stored file, the metrics or an answer; the log lines of the
// provider's refusal and failure hold its error code.
func TestUpstreamCredentialsNeverLoggedOrStored(t *testing.T) {
	k := NewES256Key(t, "k1")
	idp := StartIdP(t, k)
	te := &tokenEndpoint{}
	tokenSrv := httptest.NewServer(http.HandlerFunc(te.serve))
	defer tokenSrv.Close()
	up := StartUpstream(t, nil)
	g := StartGateway(t, upstreamSite, GatewayOptions{Env: []string{"APIGATE_TEST_TE_SECRET=" + upstreamClientSecret}},
		"{UPSTREAM}", up.Addr, "{IDP}", idp.URL, "{TOKEN}", tokenSrv.URL)
	key := g.CreateKey(map[string]any{"consumer": "shop"}).Key
	jwtTok := k.Sign(t, auth0Claims(idp), nil)
	callers := map[string]struct {
		headers map[string]string
		query   string
	}{
		"jwt":          {map[string]string{"Authorization": "Bearer " + jwtTok}, ""},
		"key header":   {map[string]string{"X-API-Key": key}, ""},
		"key bearer":   {map[string]string{"Authorization": "Bearer " + key}, ""},
		"key in query": {nil, "?api_key=" + key},
	}
	var bodies []string
	for name, c := range callers {
		// An API key holds no subject token: 401 where there is no fallback.
		subjectOr := func(status int) int {
			if name == "jwt" {
				return status
			}
			return http.StatusUnauthorized
		}
		for path, want := range map[string]int{
			"/bearer/1": subjectOr(200), "/custom/1": 200, "/refused/1": 401, "/broken/1": subjectOr(502), "/down/1": 502,
		} {
			n := len(up.Requests())
			status, _, body := g.Do("GET", path+c.query, c.headers, "")
			if status != want {
				t.Errorf("%s %s: %d %s, want %d", name, path, status, body, want)
				continue
			}
			if status != 200 {
				bodies = append(bodies, body) // a 200 is the echo of what the upstream got
				continue
			}
			got := up.Requests()[n]
			header, value := "X-Upstream-Token", got.Header.Get("X-Upstream-Token")
			if path == "/bearer/1" {
				header, value = "Authorization", strings.TrimPrefix(got.Header.Get("Authorization"), "Bearer ")
			}
			if !slices.Contains(te.tokens(), value) {
				t.Errorf("%s %s: the upstream's %s is %q, not a token of the provider", name, path, header, value)
			}
			if path == "/custom/1" && got.Header.Get("Authorization") != "" {
				t.Errorf("%s %s: an Authorization header reached the upstream", name, path)
			}
			if dump := fmt.Sprint(got.Header, got.RawQuery); strings.Contains(dump, key) || strings.Contains(dump, jwtTok) {
				t.Errorf("%s %s: the caller's credential reached the upstream", name, path)
			}
		}
	}
	upstream, _ := json.Marshal(up.Requests())
	haystacks := gatewayHaystacks(t, g)
	caddyLog := haystacks[filepath.Join(g.Dir, "caddy.log")]
	for _, want := range []string{`"msg":"token endpoint refused","grant":"token_exchange","status":400,"error":"invalid_target"`,
		`"msg":"token endpoint failed","grant":"token_exchange","status":503,"error":"temporarily_unavailable"`,
		`"upstream roundtrip"`} {
		if !strings.Contains(caddyLog, want) {
			t.Errorf("the log has no %s", want)
		}
	}
	for i, b := range bodies {
		haystacks[fmt.Sprintf("answer %d", i)] = b
	}
	secrets := map[string]string{"JWT": jwtTok, "key": key, "client secret": upstreamClientSecret}
	for i, tok := range te.tokens() {
		secrets[fmt.Sprintf("issued token %d", i)] = tok
		if !strings.Contains(string(upstream), tok) && !strings.HasPrefix(tok, "reports.") {
			t.Errorf("issued token %d never reached the upstream: the test would prove nothing", i)
		}
	}
	if len(te.tokens()) < 4 {
		t.Fatalf("%d tokens issued, want at least 4 (orders, billing for the JWT and the keys, reports)", len(te.tokens()))
	}
	assertNoSecret(t, haystacks, secrets)
}
