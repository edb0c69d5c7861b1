package caddytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// replayLoggedSite is loggedSite's log set-up around the replay protections.
const replayLoggedSite = `{
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
	handle /v1/keys/revoke {
		api_key_leak
	}
	handle /github {
		api_key_leak github {
			key gh-1 {file.{CERTS}/gh.pem}
		}
	}
	handle /tls/* {
		api_auth {
			api_key {
				query api_key
			}
			require_tls {
				revoke_exposed
			}
		}
		reverse_proxy {UPSTREAM}
	}
	handle /dpop/* {
		api_auth {
			jwt {
				key {CERTS}/issuer.pem
				issuer https://idp.test
				audience api
				bound_tokens required
			}
		}
		reverse_proxy {UPSTREAM}
	}
}
`

// TestReplaySecretsNeverLogged sends keys in clear text, leak reports (plain
// and GitHub) and DPoP-bound tokens with good and bad proofs, with debug
// logging on, then greps the logs, the storage and what the upstream saw for
// every key, secret and token.
func TestReplaySecretsNeverLogged(t *testing.T) {
	dir := t.TempDir()
	issuer, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	gh, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	os.WriteFile(filepath.Join(dir, "issuer.pem"), []byte(publicPEM(t, &issuer.PublicKey)), 0o600) //nolint:errcheck
	os.WriteFile(filepath.Join(dir, "gh.pem"), []byte(publicPEM(t, &gh.PublicKey)), 0o600)         //nolint:errcheck
	up := StartUpstream(t, nil)
	g := StartGateway(t, replayLoggedSite, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{CERTS}", dir)
	e := &boundEnv{g: g, issuer: issuer, httpURL: g.URL("")}

	var keys []string
	for range 4 {
		keys = append(keys, g.CreateKey(map[string]any{"consumer": "shop"}).Key)
	}
	g.Do("GET", "/tls/orders", map[string]string{"X-Api-Key": keys[0]}, "")
	g.Do("GET", "/tls/orders?api_key="+keys[0], nil, "")
	g.Do("POST", "/v1/keys/revoke", map[string]string{"X-Api-Key": keys[1]}, "")
	g.Do("POST", "/v1/keys/revoke", nil, fmt.Sprintf(`[{"token":%q}]`, keys[2]))
	report := fmt.Sprintf(`[{"token":%q,"type":"apigate_key"}]`, keys[3])
	if status, _, body := g.Do("POST", "/github", signed("gh-1", gh, report), report); status != 200 || !strings.Contains(body, "true_positive") {
		t.Fatalf("github report: %d %s", status, body)
	}
	g.Do("POST", "/github", signed("gh-1", issuer, report), report)

	key := newDPoPKey(t)
	token := e.token(t, map[string]any{"jkt": key.jkt})
	u := g.URL("/dpop/orders")
	proof := key.proof(t, "GET", u, token, time.Now())
	if status, _, _ := do(t, "GET", u, map[string]string{"Authorization": "DPoP " + token, "DPoP": proof}, ""); status != 200 {
		t.Fatalf("dpop: %d", status)
	}
	do(t, "GET", u, map[string]string{"Authorization": "DPoP " + token, "DPoP": proof}, "")
	do(t, "GET", u, map[string]string{"Authorization": "Bearer " + token}, "")

	secrets := map[string]string{"access token": token, "token signature": token[strings.LastIndex(token, ".")+1:]}
	for i, k := range keys {
		secrets[fmt.Sprint("key ", i)] = k
		secrets[fmt.Sprint("secret ", i)] = secretOf(k)
	}
	upstream, _ := json.Marshal(up.Requests())
	haystacks := map[string]string{"the upstream's requests": string(upstream)}
	for _, d := range []string{g.Dir, g.Storage} {
		filepath.Walk(d, func(p string, info os.FileInfo, err error) error { //nolint:errcheck
			if err == nil && !info.IsDir() && filepath.Base(p) != "Caddyfile" {
				b, _ := os.ReadFile(p)
				haystacks[p] = string(b)
			}
			return nil
		})
	}
	if log := haystacks[filepath.Join(g.Dir, "caddy.log")]; !strings.Contains(log, "leaked key revoked") || !strings.Contains(log, `"level":"debug"`) {
		t.Fatal("no debug log of the revocations: the test would prove nothing")
	}
	if strings.Contains(string(upstream), "Dpop") {
		t.Error("the upstream saw the DPoP proof")
	}
	for where, text := range haystacks {
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s found in %s", what, where)
			}
		}
	}
}
