package caddytest

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	byteorder "encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// exampleCase is how TestExamplesKeepSecrets runs one file of examples/.
type exampleCase struct {
	file   string   // in examples/
	twin   string   // its JSON twin in examples/
	site   string   // the gateway's port in the file
	scopes []string // of the key the test creates
	calls  []string // "METHOD /path" sent with every credential
	redis  bool     // needs redis-server
	mtls   bool     // HTTPS with client certificates
	// inHome lists the files it may write into HOME (Caddy's data folder is
	// $XDG_DATA_HOME/caddy, data/caddy here).
	inHome []string
}

var exampleCases = []exampleCase{
	{file: "Caddyfile", twin: "Caddyfile.json", site: "8080", scopes: []string{"orders:read"},
		calls: []string{"GET /orders/42", "GET /catalog", "GET /admin/users", "GET /.well-known/jwks.json", "POST /v1/keys/rotate"}},
	{file: "cache.Caddyfile", twin: "cache.json", site: "8080", scopes: []string{"orders:read"},
		calls: []string{"GET /orders/42", "GET /catalog"}},
	{file: "cluster.Caddyfile", twin: "cluster.json", site: "8080", scopes: []string{"orders:read"}, redis: true,
		calls: []string{"GET /orders/42", "GET /"}},
	{file: "idp.Caddyfile", twin: "idp.json", site: "8080", scopes: []string{"orders:read"},
		calls: []string{"GET /orders/42", "GET /.well-known/jwks.json"}},
	{file: "inspect.Caddyfile", twin: "inspect.json", site: "8080", scopes: []string{"orders:read"},
		calls: []string{"GET /orders/42", "GET /orders?q=1'+OR+'1'='1", "POST /orders"}},
	// notify keys each instance's outbox by Caddy's instance id, which Caddy
	// keeps in its data folder.
	{file: "lifecycle.Caddyfile", twin: "lifecycle.json", site: "8080", scopes: []string{"orders:read"},
		calls: []string{"GET /orders/42", "POST /v1/keys/rotate"}, inHome: []string{"data/caddy/instance.uuid"}},
	{file: "legacy-backends.Caddyfile", twin: "legacy-backends.json", site: "8080", scopes: []string{"orders:read"},
		calls: []string{"GET /basic/orders", "GET /static/orders", "GET /account/orders", "GET /jwt/orders"}},
	{file: "openapi.Caddyfile", twin: "openapi.json", site: "8080", scopes: []string{"orders:read"},
		calls: []string{"GET /orders/42", "GET /health", "GET /nowhere", "POST /orders"}},
	{file: "token-exchange.Caddyfile", twin: "token-exchange.json", site: "8080", scopes: []string{"orders:read"},
		calls: []string{"GET /health", "GET /orders/42"}},
	{file: "monitor.Caddyfile", twin: "monitor.json", site: "8080", scopes: []string{"orders:read"},
		calls: []string{"GET /orders/42", "GET /broken/1"}, inHome: []string{"data/caddy/instance.uuid"}},
	// HTTPS through the client of the mTLS example (the certificate is
	// requested, not required); plain HTTP would revoke the key.
	{file: "replay.Caddyfile", twin: "replay.json", site: "8443", scopes: []string{"orders:read"}, mtls: true,
		calls: []string{"GET /orders"}},
	{file: "mtls.Caddyfile", twin: "mtls.json", site: "8443", scopes: []string{"orders:read"}, mtls: true,
		calls: []string{"GET /orders"}},
}

// TestExamplesKeepSecrets runs every example as a newcomer would, from a copy
// of the checkout (`caddy run --config examples/X.Caddyfile`, its ports moved
// to free ones, other services such as the IdP pointed at a dead port), sends
// a real key and tokens through it, to its upstream and then with the upstream
// dead, and checks what it did: no key, token or configured secret in anything
// it wrote (its output, every file), nothing written outside .apigate-demo/ of
// the checkout nor in HOME, nothing listening beyond loopback.
func TestExamplesKeepSecrets(t *testing.T) {
	files, err := filepath.Glob("../examples/*Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, c := range exampleCases {
		covered[c.file] = true
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no case in exampleCases", f)
		}
	}
	for _, c := range exampleCases {
		t.Run(c.file, func(t *testing.T) { runExample(t, c) })
	}
}

func runExample(t *testing.T, c exampleCase) {
	checkExampleListens(t, "../examples/"+c.twin)
	checkExampleTrust(t, "../examples/"+c.twin)

	root := t.TempDir()
	work, home, meta := filepath.Join(root, "checkout"), filepath.Join(root, "home"), filepath.Join(root, "terminal")
	for _, d := range []string{filepath.Join(work, "examples"), home, meta} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	src, err := os.ReadFile("../examples/" + c.file)
	if err != nil {
		t.Fatal(err)
	}
	// Refuse to run an example that would write outside the checkout.
	for _, m := range examplePaths.FindAllStringSubmatch(string(src), -1) {
		if !strings.HasPrefix(m[2], "./.apigate-demo") {
			t.Fatalf("%s %s: an example writes and reads under ./.apigate-demo only", m[1], m[2])
		}
	}
	dead := freePort(t)
	secrets := []string{"whsec_" + base64.StdEncoding.EncodeToString(randomBytes(t, 32)), "introspect-" + randomText(t)}
	env := []string{
		"APIGATE_WEBHOOK_SECRET=" + secrets[0],
		"INTROSPECT_SECRET=" + secrets[1],
		fmt.Sprintf("AUTH0_DOMAIN=127.0.0.1:%d", dead), // the IdP: a dead port, never the Internet
		fmt.Sprintf("IDP_URL=http://127.0.0.1:%d", dead),
		"EXCHANGE_SECRET=" + secrets[1],
	}
	fixed := map[string]int{}
	if c.redis {
		fixed["6379"] = StartRedis(t).Port
	}
	config, ports := moveExamplePorts(string(src), fixed)
	// Documents an example reads beside itself (the OpenAPI document).
	docs, _ := filepath.Glob("../examples/*.yaml")
	for _, d := range docs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "examples", filepath.Base(d)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	configPath := filepath.Join(work, "examples", c.file)
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	httpClient, scheme := client, "http"
	var bare *http.Client // for mTLS: a client without a certificate
	var clientCert tls.Certificate
	if c.mtls {
		clientCert, scheme = writeExampleClientCA(t, work), "https"
	}
	g := &Gateway{t: t, adapter: "caddyfile", Dir: meta, Storage: filepath.Join(work, ".apigate-demo"),
		Admin: fmt.Sprintf("127.0.0.1:%d", ports["2019"]), Port: ports[c.site], Log: filepath.Join(meta, "caddy.out"),
		env: env, cwd: work, home: home, configFile: "examples/" + c.file}
	t.Cleanup(g.Stop)
	g.start()
	checkLoopbackOnly(t, g.cmd.Process.Pid)
	base := fmt.Sprintf("%s://localhost:%d", scheme, g.Port)
	tlsReady := func() {
		if !c.mtls {
			return
		}
		// `tls internal` issues the site's certificate in the background.
		httpClient = mtlsExampleClient(t, work, clientCert)
		bare = mtlsExampleClient(t, work, tls.Certificate{})
		Eventually(t, 20*time.Second, "the site's certificate", func() bool {
			resp, err := httpClient.Get(base + "/")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		})
	}
	tlsReady()

	key := g.CreateKey(map[string]any{"consumer": "shop", "scopes": c.scopes})
	token := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImV4YW1wbGUifQ.eyJzdWIiOiJzaG9wIn0." + randomText(t)
	opaque := "opaque-" + randomText(t)
	secrets = append(secrets, secretOf(key.Key), token, opaque)

	send := func(phase string) map[int]int {
		statuses := map[int]int{}
		for _, call := range c.calls {
			method, path, _ := strings.Cut(call, " ")
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			type try struct {
				url string
				h   map[string]string
			}
			tries := []try{
				{base + path, map[string]string{"X-API-Key": key.Key}},
				{base + path, map[string]string{"Authorization": "Bearer " + key.Key}},
				{base + path + sep + "api_key=" + key.Key, nil},
				{base + path, map[string]string{"Authorization": "Bearer " + token}},
				{base + path, map[string]string{"Authorization": "Bearer " + opaque}},
				{base + path, map[string]string{"X-API-Key": token}},
				{base + path, nil},
			}
			for _, tr := range tries {
				body := ""
				if method == "POST" && !strings.Contains(path, "rotate") {
					body = `{"note":"hello"}`
				}
				status, _, answer := exampleDo(t, httpClient, method, tr.url, tr.h, body)
				statuses[status]++
				if bare != nil {
					s, _, _ := exampleDo(t, bare, method, tr.url, tr.h, body)
					statuses[s]++
				}
				if strings.Contains(path, "rotate") && status == 201 {
					var k CreatedKey
					if err := json.Unmarshal([]byte(answer), &k); err != nil {
						t.Fatalf("rotate answer %q: %v", answer, err)
					}
					secrets = append(secrets, secretOf(k.Key))
				}
			}
		}
		t.Logf("%s: statuses %v", phase, statuses)
		return statuses
	}
	if live := send("live upstream"); live[200] == 0 {
		t.Fatalf("no call succeeded:\n%s", g.Output())
	}

	// The upstream dies: Caddy logs each failed request, headers included.
	g.Stop()
	deadConfig := regexp.MustCompile(`(reverse_proxy\s+)(127\.0\.0\.1|localhost):\d+`).ReplaceAllString(config, fmt.Sprintf("${1}127.0.0.1:%d", dead))
	if err := os.WriteFile(configPath, []byte(deadConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	g.start()
	tlsReady()
	if failed := send("dead upstream"); strings.Contains(config, "reverse_proxy") && failed[502]+failed[503] == 0 {
		// 503: an active health check marked the dead upstream down first.
		t.Errorf("no call reached the dead upstream: %v", failed)
	}
	g.Stop()

	// Everything it wrote: its output and every file of the checkout.
	written := map[string]string{"output": g.Output()}
	err = filepath.WalkDir(work, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(work, path)
		rel = filepath.ToSlash(rel)
		if rel != "examples/"+c.file && !strings.HasPrefix(rel, ".apigate-demo/") && !(strings.HasPrefix(rel, "examples/") && strings.HasSuffix(rel, ".yaml")) {
			t.Errorf("written outside .apigate-demo/: %s", rel)
		}
		data, err := os.ReadFile(path)
		written[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error { //nolint:errcheck
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(home, path)
		if !slices.Contains(c.inHome, filepath.ToSlash(rel)) {
			t.Errorf("written into HOME: %s", rel)
		}
		return nil
	})
	jwtLike := regexp.MustCompile(`eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.`)
	names := make([]string, 0, len(written))
	for name := range written {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		text := written[name]
		for _, s := range secrets {
			if s == "" {
				t.Fatal("a secret to look for is empty")
			}
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("%s holds a secret: ...%s...", name, text[max(0, i-300):min(len(text), i+len(s)+40)])
			}
		}
		if name == "output" || strings.HasSuffix(name, ".log") {
			if m := jwtLike.FindString(text); m != "" {
				t.Errorf("%s holds a token: %s...", name, m)
			}
		}
	}
}

// examplePaths finds the files an example names.
var examplePaths = regexp.MustCompile(`(?m)^\s*(storage file_system|output file|trust_pool file)\s+(\S*[/.]\S*)`)

// examplePort finds the ports an example listens on or calls: after
// 127.0.0.1, localhost, or a scheme with no host (http://:9080).
var examplePort = regexp.MustCompile(`(127\.0\.0\.1|localhost|//):(\d{2,5})\b`)

// moveExamplePorts gives every port of an example a free one (or the one in
// fixed), the same port the same replacement.
func moveExamplePorts(config string, fixed map[string]int) (string, map[string]int) {
	ports := map[string]int{}
	for k, v := range fixed {
		ports[k] = v
	}
	out := examplePort.ReplaceAllStringFunc(config, func(m string) string {
		sub := examplePort.FindStringSubmatch(m)
		p, ok := ports[sub[2]]
		if !ok {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				panic(err)
			}
			p = l.Addr().(*net.TCPAddr).Port
			l.Close()
			ports[sub[2]] = p
		}
		return fmt.Sprintf("%s:%d", sub[1], p)
	})
	return out, ports
}

// checkExampleListens reads an example's adapted JSON: the admin API and every
// server listen on loopback only.
func checkExampleListens(t *testing.T, jsonPath string) {
	t.Helper()
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Admin struct {
			Listen string `json:"listen"`
		} `json:"admin"`
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s: %v", jsonPath, err)
	}
	addrs := []string{cfg.Admin.Listen}
	for _, s := range cfg.Apps.HTTP.Servers {
		if len(s.Listen) == 0 {
			t.Errorf("%s: a server without listen addresses listens on every interface", jsonPath)
		}
		addrs = append(addrs, s.Listen...)
	}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "127.0.0.1:") && !strings.HasPrefix(a, "localhost:") {
			t.Errorf("%s: listens on %q, beyond loopback", jsonPath, a)
		}
	}
}

// checkExampleTrust reads an example's adapted JSON: every CA an internal
// issuer (`tls internal`, `local_certs`) uses is kept out of the system trust
// store (skip_install_trust), which Caddy would otherwise change when it runs
// as root. It runs before the example, so the test never changes the machine.
func checkExampleTrust(t *testing.T, jsonPath string) {
	t.Helper()
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s: %v", jsonPath, err)
	}
	if msg := exampleTrustProblem(cfg); msg != "" {
		t.Fatalf("%s: %s", jsonPath, msg)
	}
}

// exampleTrustProblem says which CA of cfg (a decoded JSON config) an
// internal issuer uses without install_trust false, or "".
func exampleTrustProblem(cfg any) string {
	cas := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["module"] == "internal" {
				ca, _ := v["ca"].(string)
				if ca == "" {
					ca = "local"
				}
				cas[ca] = true
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(cfg)
	var root struct {
		Apps struct {
			PKI struct {
				CAs map[string]struct {
					InstallTrust *bool `json:"install_trust"`
				} `json:"certificate_authorities"`
			} `json:"pki"`
		} `json:"apps"`
	}
	b, _ := json.Marshal(cfg)
	if err := json.Unmarshal(b, &root); err != nil {
		return err.Error()
	}
	ids := make([]string, 0, len(cas))
	for id := range cas {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if ca, ok := root.Apps.PKI.CAs[id]; !ok || ca.InstallTrust == nil || *ca.InstallTrust {
			return fmt.Sprintf("the internal CA %q would be installed into the system trust store: add skip_install_trust to the global options", id)
		}
	}
	return ""
}

// checkLoopbackOnly reads from /proc the TCP sockets the process listens on
// and the UDP sockets it has bound without a peer: all on loopback.
func checkLoopbackOnly(t *testing.T, pid int) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Log("not Linux: the sockets are checked in the adapted JSON only")
		return
	}
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	listening := 0
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, proto))
		if err != nil {
			continue // no IPv6 in this kernel
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			local, remote, state := f[1], f[2], f[3]
			if strings.HasPrefix(proto, "tcp") && state != "0A" { // LISTEN
				continue
			}
			if strings.HasPrefix(proto, "udp") && strings.Trim(strings.Split(remote, ":")[0], "0") != "" {
				continue // connected: a client socket
			}
			listening++
			if ip := procIP(local); !ip.IsLoopback() {
				t.Errorf("listens on %s %s, beyond loopback", proto, ip)
			}
		}
	}
	if listening == 0 {
		t.Error("found no listening socket in /proc: the check is blind")
	}
}

// procIP decodes the address of a /proc/net/tcp line: 32-bit words of
// hexadecimal, each in host (little-endian) order.
func procIP(hexAddr string) net.IP {
	h, _, _ := strings.Cut(hexAddr, ":")
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil
	}
	ip := make(net.IP, len(b))
	for i := 0; i+4 <= len(b); i += 4 {
		byteorder.BigEndian.PutUint32(ip[i:], byteorder.LittleEndian.Uint32(b[i:]))
	}
	return ip
}

// writeExampleClientCA makes the client CA the mTLS example trusts (in
// .apigate-demo/clients-ca.pem, as its comments tell) and a client
// certificate of that CA.
func writeExampleClientCA(t *testing.T, work string) tls.Certificate {
	t.Helper()
	ca := newTestCA(t, "demo clients CA")
	caPath := filepath.Join(work, ".apigate-demo", "clients-ca.pem")
	if err := os.MkdirAll(filepath.Dir(caPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caPath, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _, _ := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ci-bot"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return cert
}

// mtlsExampleClient is an HTTPS client with cert that trusts the root of
// Caddy's local CA, as the example's curl line does.
func mtlsExampleClient(t *testing.T, work string, cert tls.Certificate) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(work, ".apigate-demo", "pki", "authorities", "local", "root.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: roots}
	if cert.Certificate != nil {
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// exampleDo sends one request and returns status, headers and body.
func exampleDo(t *testing.T, c *http.Client, method, url string, headers map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func randomText(t *testing.T) string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(t, 24))
}

// TestExampleTrustProblem checks the guard of checkExampleTrust: `tls
// internal` or `local_certs` without skip_install_trust is refused.
func TestExampleTrustProblem(t *testing.T) {
	for _, c := range []struct {
		config string
		bad    bool
	}{
		{`{"apps":{"http":{}}}`, false},
		{`{"apps":{"tls":{"automation":{"policies":[{"issuers":[{"module":"internal"}]}]}}}}`, true},
		{`{"apps":{"tls":{"automation":{"policies":[{"issuers":[{"module":"internal"}]}]}},"pki":{"certificate_authorities":{"local":{"install_trust":true}}}}}`, true},
		{`{"apps":{"tls":{"automation":{"policies":[{"issuers":[{"module":"internal"}]}]}},"pki":{"certificate_authorities":{"local":{"install_trust":false}}}}}`, false},
		{`{"apps":{"tls":{"automation":{"policies":[{"issuers":[{"module":"internal","ca":"demo"}]}]}},"pki":{"certificate_authorities":{"local":{"install_trust":false}}}}}`, true},
	} {
		var cfg any
		if err := json.Unmarshal([]byte(c.config), &cfg); err != nil {
			t.Fatal(err)
		}
		if got := exampleTrustProblem(cfg); (got != "") != c.bad {
			t.Errorf("%s: %q", c.config, got)
		}
	}
	// Every example that issues its own certificates passes.
	for _, f := range []string{"mtls.json", "replay.json"} {
		checkExampleTrust(t, "../examples/"+f)
	}
}
