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

// replayLoggedSite is loggedSite's log set-up around the replay protections,
// with DPoP proofs filtered out of the logs as docs/replay-protection.md
// says (Caddy logs the request as it arrived, and redacts only
// Authorization among the credentials here).
const replayLoggedSite = `{
	{ADMIN_OPTIONS}
	servers :{PORT} {
		trusted_proxies static 127.0.0.1/32
	}
	log default {
		level DEBUG
		output file {DIR}/caddy.log
		format filter {
			request>headers>X-Api-Key delete
			request>headers>Dpop delete
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
			request>headers>Dpop delete
			request>uri query {
				delete api_key
			}
			wrap json
		}
	}
	handle /v1/keys/revoke {
		api_key_leak
	}
	handle /v1/keys/revoke-slow {
		api_key_leak {
			rate_limit 1/1h
		}
	}
	handle /github {
		api_key_leak github {
			key gh-1 {file.{CERTS}/gh.pem}
		}
	}
	handle /github-list {
		api_key_leak github {
			keys_url {KEYSURL}
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

// TestReplaySecretsNeverLogged sends keys in clear text, leak reports (plain,
// rate limited, GitHub with a configured key and with the fetched list) and
// DPoP-bound tokens with good and bad proofs, direct and through a trusted
// proxy, with debug logging on, then greps the logs, the storage and what the
// upstream saw for every key, secret, token and proof.
func TestReplaySecretsNeverLogged(t *testing.T) {
	dir := t.TempDir()
	issuer, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	gh, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	os.WriteFile(filepath.Join(dir, "issuer.pem"), []byte(publicPEM(t, &issuer.PublicKey)), 0o600) //nolint:errcheck
	os.WriteFile(filepath.Join(dir, "gh.pem"), []byte(publicPEM(t, &gh.PublicKey)), 0o600)         //nolint:errcheck
	up := StartUpstream(t, nil)
	list := &keyList{keys: map[string]*ecdsa.PublicKey{"gh-1": &gh.PublicKey}}
	listSrv := StartUpstream(t, list.serve(t))
	g := StartGateway(t, replayLoggedSite, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{CERTS}", dir, "{KEYSURL}", "http://"+listSrv.Addr+"/keys")
	e := &boundEnv{g: g, issuer: issuer, httpURL: g.URL("")}

	var keys []string
	for range 8 {
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
	g.Do("POST", "/v1/keys/revoke-slow", map[string]string{"X-Api-Key": keys[4]}, "")
	if status, _, _ := g.Do("POST", "/v1/keys/revoke-slow", map[string]string{"X-Api-Key": keys[5]}, ""); status != 429 {
		t.Fatalf("a report past the limit: %d", status)
	}
	listed := fmt.Sprintf(`[{"token":%q,"type":"apigate_key"}]`, keys[6])
	if status, _, body := g.Do("POST", "/github-list", signed("gh-1", gh, listed), listed); status != 200 || !strings.Contains(body, "true_positive") {
		t.Fatalf("github report, keys from the list: %d %s", status, body)
	}
	unlisted := fmt.Sprintf(`[{"token":%q,"type":"apigate_key"}]`, keys[7])
	g.Do("POST", "/github-list", signed("gh-9", gh, unlisted), unlisted)

	token, proofs := sendDPoPProofs(t, e)
	secrets := map[string]string{"access token": token, "token signature": token[strings.LastIndex(token, ".")+1:]}
	for what, p := range proofs {
		secrets[what] = p
		secrets[what+" signature"] = p[strings.LastIndex(p, ".")+1:]
	}
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
	if access := haystacks[filepath.Join(g.Dir, "access.log")]; strings.Count(access, "/dpop/orders") < 6 {
		t.Fatal("the DPoP requests are not in the access log: the test would prove nothing")
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

// sendDPoPProofs sends a DPoP-bound token with proofs to /dpop/orders: valid,
// replayed, with a forged token, alone, through a trusted proxy. It returns
// the token and the proofs sent, by name.
func sendDPoPProofs(t *testing.T, e *boundEnv) (string, map[string]string) {
	g := e.g
	key := newDPoPKey(t)
	token := e.token(t, map[string]any{"jkt": key.jkt})
	u := g.URL("/dpop/orders")
	proof := key.proof(t, "GET", u, token, time.Now())
	if status, _, _ := do(t, "GET", u, map[string]string{"Authorization": "DPoP " + token, "DPoP": proof}, ""); status != 200 {
		t.Fatalf("dpop: %d", status)
	}
	do(t, "GET", u, map[string]string{"Authorization": "DPoP " + token, "DPoP": proof}, "")
	do(t, "GET", u, map[string]string{"Authorization": "Bearer " + token}, "")
	// Proofs that are never checked: with a forged token, with no token.
	forged := token[:strings.LastIndex(token, ".")+1] + "AAAA"
	unchecked := key.proof(t, "GET", u, forged, time.Now())
	do(t, "GET", u, map[string]string{"Authorization": "DPoP " + forged, "DPoP": unchecked}, "")
	lone := key.proof(t, "GET", u, token, time.Now())
	do(t, "GET", u, map[string]string{"DPoP": lone}, "")
	// Through a trusted proxy, naming the public URL.
	proxied := key.proof(t, "GET", "https://api.example.com/dpop/orders", token, time.Now())
	if status, _, _ := do(t, "GET", u, map[string]string{"Authorization": "DPoP " + token, "DPoP": proxied, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}, ""); status != 200 {
		t.Fatalf("dpop through a trusted proxy: %d", status)
	}
	return token, map[string]string{"proof": proof, "unchecked proof": unchecked, "lone proof": lone, "proxied proof": proxied}
}
