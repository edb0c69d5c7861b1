package caddytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// replaySite serves one API three ways: over plain HTTP ({PORT}, no proxy
// trusted), over HTTPS ({TLSPORT}), and over plain HTTP from a trusted proxy
// ({PROXYPORT}, 127.0.0.1 trusted); api_auth requires TLS and revokes keys
// seen in clear text. The leak endpoints take reports on {PORT}.
const replaySite = `{
	{ADMIN_OPTIONS}
	servers :{PROXYPORT} {
		trusted_proxies static 127.0.0.1/32
	}
	servers :{PORT} {
		trusted_proxies static 10.9.9.9/32
	}
	api_gateway {
		notify {HOOK} {
			secret {env.APIGATE_WEBHOOK_SECRET}
		}
	}
}
(api) {
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
http://127.0.0.1:{PORT} {
	handle /v1/keys/revoke {
		api_key_leak
	}
	handle /github/secret-scanning {
		api_key_leak github {
			keys_url {KEYSURL}
			max_body 64KiB
		}
	}
	handle {
		import api
	}
}
http://127.0.0.1:{PROXYPORT} {
	import api
}
https://localhost:{TLSPORT} {
	tls {CERTS}/server.pem {CERTS}/server.key
	import api
}
`

type replayGateway struct {
	*Gateway
	hook      *Hook
	tlsPort   int
	proxyPort int
	roots     *x509.CertPool
	signer    *ecdsa.PrivateKey // GitHub's key "gh-1"
}

func startReplayGateway(t *testing.T) *replayGateway {
	t.Helper()
	ca := newTestCA(t, "apigate replay test CA")
	_, srvCert, srvKey := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	dir := t.TempDir()
	for name, data := range map[string][]byte{"server.pem": srvCert, "server.key": srvKey} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	signer, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := StartUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		type pk struct {
			ID      string `json:"key_identifier"`
			Key     string `json:"key"`
			Current bool   `json:"is_current"`
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string][]pk{"public_keys": { //nolint:errcheck
			{ID: "gh-1", Key: publicPEM(t, &signer.PublicKey), Current: true},
			{ID: "gh-2", Key: publicPEM(t, &other.PublicKey)},
		}})
	})
	hook := StartHook(t)
	up := StartUpstream(t, nil)
	rg := &replayGateway{hook: hook, tlsPort: freePort(t), proxyPort: freePort(t), signer: signer, roots: x509.NewCertPool()}
	rg.roots.AppendCertsFromPEM(ca.pem)
	rg.Gateway = StartGateway(t, replaySite, GatewayOptions{Env: []string{"APIGATE_WEBHOOK_SECRET=" + hook.Secret}},
		"{UPSTREAM}", up.Addr, "{HOOK}", hook.URL, "{CERTS}", dir, "{KEYSURL}", "http://"+keys.Addr+"/keys",
		"{TLSPORT}", fmt.Sprint(rg.tlsPort), "{PROXYPORT}", fmt.Sprint(rg.proxyPort))
	return rg
}

func publicPEM(t *testing.T, pub *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// https sends a request to the HTTPS site.
func (rg *replayGateway) https(t *testing.T, path string, h http.Header) int {
	t.Helper()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: rg.roots, ServerName: "localhost"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", rg.tlsPort))
		},
	}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://localhost:%d%s", rg.tlsPort, path), nil)
	if h != nil {
		req.Header = h
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	return resp.StatusCode
}

func (rg *replayGateway) keyStatus(t *testing.T, id string) string {
	t.Helper()
	status, data := rg.AdminDo("GET", "/api_gateway/keys/"+id, nil)
	var rec struct {
		Status string `json:"status"`
	}
	if status != 200 || json.Unmarshal(data, &rec) != nil {
		t.Fatalf("key %s: %d %s", id, status, data)
	}
	return rec.Status
}

func TestRequireTLS(t *testing.T) {
	rg := startReplayGateway(t)
	k := rg.CreateKey(map[string]any{"consumer": "shop"})
	if s := rg.https(t, "/orders", http.Header{"X-Api-Key": {k.Key}}); s != 200 {
		t.Fatalf("key over https: %d", s)
	}
	status, h, body := rg.Do("GET", "/orders", map[string]string{"X-Api-Key": k.Key}, "")
	if status != 403 || h.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, "HTTPS") {
		t.Fatalf("key over http: %d %s %s", status, h.Get("Content-Type"), body)
	}
	if s := rg.keyStatus(t, k.ID); s != "revoked" {
		t.Fatalf("a key seen in clear text is %s", s)
	}
	if s := rg.https(t, "/orders", http.Header{"X-Api-Key": {k.Key}}); s != 401 {
		t.Fatalf("the exposed key over https: %d", s)
	}
	Eventually(t, 20*time.Second, "key.leaked delivered", func() bool { return len(rg.hook.Of("key.leaked")) == 1 })
	leaked := rg.hook.Of("key.leaked")[0].Data
	if leaked["id"] != k.ID || leaked["consumer"] != "shop" || leaked["reason"] != "cleartext" {
		t.Fatalf("key.leaked data %v", leaked)
	}

	// X-Forwarded-Proto is the word of a trusted proxy only.
	k2 := rg.CreateKey(map[string]any{"consumer": "shop"})
	if status, _, _ := rg.Do("GET", "/orders", map[string]string{"X-Api-Key": k2.Key, "X-Forwarded-Proto": "https"}, ""); status != 403 {
		t.Fatalf("X-Forwarded-Proto from an untrusted client: %d", status)
	}
	k3 := rg.CreateKey(map[string]any{"consumer": "shop"})
	proxy := fmt.Sprintf("http://127.0.0.1:%d/orders", rg.proxyPort)
	if status, _, body := do(t, "GET", proxy, map[string]string{"X-Api-Key": k3.Key, "X-Forwarded-Proto": "https"}, ""); status != 200 {
		t.Fatalf("TLS ended by a trusted proxy: %d %s", status, body)
	}
	if status, _, _ := do(t, "GET", proxy, map[string]string{"Authorization": "Bearer " + k3.Key, "X-Forwarded-Proto": "http"}, ""); status != 403 {
		t.Fatalf("plain HTTP behind a trusted proxy: %d", status)
	}
	// A key in the query string is a credential too; no credential, no 403.
	k4 := rg.CreateKey(map[string]any{"consumer": "shop"})
	if status, _, _ := rg.Do("GET", "/orders?api_key="+k4.Key, nil, ""); status != 403 || rg.keyStatus(t, k4.ID) != "revoked" {
		t.Fatalf("key in the query over http: %d", status)
	}
	if status, _, _ := rg.Do("GET", "/orders", nil, ""); status != 401 {
		t.Fatalf("no credential over http: %d", status)
	}
}

// wellFormedKey returns a key of k's format with another id: well formed,
// unknown to the store.
func wellFormedKey(k string) string {
	parts := strings.SplitN(k, "_", 3)
	head := parts[0] + "_ZZZZZZZZZZZZ_" + parts[2][:32]
	v := crc32.ChecksumIEEE([]byte(head))
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var sum [6]byte
	for i := 5; i >= 0; i-- {
		sum[i] = base62[v%62]
		v /= 62
	}
	return head + string(sum[:])
}

func TestLeakReportPlain(t *testing.T) {
	rg := startReplayGateway(t)
	k := rg.CreateKey(map[string]any{"consumer": "shop"})
	status, _, real := rg.Do("POST", "/v1/keys/revoke", map[string]string{"X-Api-Key": k.Key}, "")
	if status != 200 || rg.keyStatus(t, k.ID) != "revoked" {
		t.Fatalf("reporting a key: %d %s", status, real)
	}
	// Revoked already, unknown: the same answer.
	for _, key := range []string{k.Key, wellFormedKey(k.Key)} {
		if status, _, body := rg.Do("POST", "/v1/keys/revoke", map[string]string{"X-Api-Key": key}, ""); status != 200 || body != real {
			t.Fatalf("reporting %q: %d %s, want %s", key[:8], status, body, real)
		}
	}
	k2 := rg.CreateKey(map[string]any{"consumer": "shop"})
	report := fmt.Sprintf(`[{"token":%q},{"token":"nonsense"}]`, k2.Key)
	if status, _, body := rg.Do("POST", "/v1/keys/revoke", nil, report); status != 200 || body != `[{"result":"revoked"},{"result":"not_a_key"}]` {
		t.Fatalf("a report: %d %s", status, body)
	}
	// A reported key takes the keys it was rotated into with it: whoever
	// held it could have rotated it into one of their own.
	k3 := rg.CreateKey(map[string]any{"consumer": "shop"})
	status, rotated := rg.AdminDo("POST", "/api_gateway/keys/"+k3.ID+"/rotate", nil)
	var successor CreatedKey
	if status != 201 || json.Unmarshal(rotated, &successor) != nil || successor.ID == "" {
		t.Fatalf("rotate: %d %s", status, rotated)
	}
	if status, _, body := rg.Do("POST", "/v1/keys/revoke", map[string]string{"X-Api-Key": k3.Key}, ""); status != 200 ||
		rg.keyStatus(t, k3.ID) != "revoked" || rg.keyStatus(t, successor.ID) != "revoked" {
		t.Fatalf("reporting a rotated key: %d %s; successor %s", status, body, rg.keyStatus(t, successor.ID))
	}
	Eventually(t, 20*time.Second, "key.leaked delivered", func() bool { return len(rg.hook.Of("key.leaked")) == 3 })
	if r := rg.hook.Of("key.leaked")[0].Data["reason"]; r != "reported" {
		t.Fatalf("reason %v", r)
	}
	for _, bad := range []string{`{"token":"x"}`, `[`, `[]`, `[{"token":1}]`, `[{"token":""}] x`} {
		if status, _, _ := rg.Do("POST", "/v1/keys/revoke", nil, bad); status != 400 {
			t.Fatalf("report %s: %d", bad, status)
		}
	}
	if status, h, _ := rg.Do("GET", "/v1/keys/revoke", nil, ""); status != 405 || h.Get("Allow") != "POST" {
		t.Fatalf("GET: %d", status)
	}
}

func (rg *replayGateway) github(t *testing.T, kid, body string, signer *ecdsa.PrivateKey) (int, string) {
	t.Helper()
	sum := sha256.Sum256([]byte(body))
	sig, err := ecdsa.SignASN1(rand.Reader, signer, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	status, _, answer := rg.Do("POST", "/github/secret-scanning", map[string]string{
		"Github-Public-Key-Identifier": kid,
		"Github-Public-Key-Signature":  base64.StdEncoding.EncodeToString(sig),
		"Content-Type":                 "application/json",
	}, body)
	return status, answer
}

func TestLeakReportGitHub(t *testing.T) {
	rg := startReplayGateway(t)
	k := rg.CreateKey(map[string]any{"consumer": "shop"})
	spare := rg.CreateKey(map[string]any{"consumer": "shop"})
	report := fmt.Sprintf(`[{"token":%q,"type":"apigate_key","url":"https://github.com/x/y/blob/main/a.env","source":"content"},{"token":%q,"type":"apigate_key"}]`, k.Key, wellFormedKey(k.Key))
	status, answer := rg.github(t, "gh-1", report, rg.signer)
	want := fmt.Sprintf(`[{"token_raw":%q,"token_type":"apigate_key","label":"true_positive"},{"token_raw":%q,"token_type":"apigate_key","label":"false_positive"}]`, k.Key, wellFormedKey(k.Key))
	if status != 200 || answer != want {
		t.Fatalf("github report: %d %s", status, answer)
	}
	if rg.keyStatus(t, k.ID) != "revoked" {
		t.Fatal("the reported key still works")
	}
	Eventually(t, 20*time.Second, "key.leaked delivered", func() bool { return len(rg.hook.Of("key.leaked")) == 1 })
	if r := rg.hook.Of("key.leaked")[0].Data["reason"]; r != "github" {
		t.Fatalf("reason %v", r)
	}

	// Each of these gets a 4xx and revokes nothing.
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spareReport := fmt.Sprintf(`[{"token":%q,"type":"apigate_key"}]`, spare.Key)
	sum := sha256.Sum256([]byte(spareReport))
	sig, _ := ecdsa.SignASN1(rand.Reader, rg.signer, sum[:])
	cases := []struct {
		name    string
		headers map[string]string
		body    string
		want    int
	}{
		{"wrong signature", signed("gh-1", stranger, spareReport), spareReport, 401},
		{"replayed with another key id", map[string]string{"Github-Public-Key-Identifier": "gh-2", "Github-Public-Key-Signature": base64.StdEncoding.EncodeToString(sig)}, spareReport, 401},
		{"unknown key id", signed("gh-9", rg.signer, spareReport), spareReport, 401},
		{"no signature", map[string]string{"Github-Public-Key-Identifier": "gh-1"}, spareReport, 401},
		{"body changed", map[string]string{"Github-Public-Key-Identifier": "gh-1", "Github-Public-Key-Signature": base64.StdEncoding.EncodeToString(sig)}, spareReport + " ", 401},
		{"oversized", signed("gh-1", rg.signer, spareReport+strings.Repeat(" ", 70<<10)), spareReport + strings.Repeat(" ", 70<<10), 413},
		{"malformed JSON", signed("gh-1", rg.signer, `[{"token":`), `[{"token":`, 400},
	}
	for _, c := range cases {
		if status, _, body := rg.Do("POST", "/github/secret-scanning", c.headers, c.body); status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.want)
		}
		if s := rg.keyStatus(t, spare.ID); s != "active" {
			t.Fatalf("%s revoked the key: %s", c.name, s)
		}
	}
}

func signed(kid string, key *ecdsa.PrivateKey, body string) map[string]string {
	sum := sha256.Sum256([]byte(body))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, sum[:])
	return map[string]string{"Github-Public-Key-Identifier": kid, "Github-Public-Key-Signature": base64.StdEncoding.EncodeToString(sig)}
}
