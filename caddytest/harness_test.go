// Package caddytest holds the integration tests: each runs real Caddy processes
// built from ./cmd/caddy (this plugin plus Caddy's standard modules), configured
// with a Caddyfile, on free ports of 127.0.0.1, and talks to them over real HTTP.
// Real processes let a test run several gateways side by side (a cluster), kill
// and restart them, and read their log files.
package caddytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	caddyBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds ./cmd/caddy once per test run and returns its path.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "apigate-caddy-")
		if buildErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		caddyBin = filepath.Join(buildDir, "caddy")
		cmd := exec.Command("go", "build", "-o", caddyBin, "./cmd/caddy")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return caddyBin
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Gateway is one running Caddy process.
type Gateway struct {
	t       testing.TB
	adapter string
	Dir     string // its working folder: Caddyfile, logs
	Storage string // its storage folder
	Admin   string // admin address, host:port
	Port    int    // the port of the site {PORT} in the Caddyfile
	Log     string // the file Caddy's own output goes to
	config  string
	cmd     *exec.Cmd
	exited  chan struct{}
	env     []string
	// cwd, home and configFile, when set, are the folder Caddy runs in, its
	// HOME, and its --config (relative to cwd); by default all are in Dir.
	cwd, home, configFile string
}

// GatewayOptions tunes StartGateway.
type GatewayOptions struct {
	// Storage is the storage folder; a fresh one when empty. Gateways given the
	// same folder share their keys, as a cluster does.
	Storage string
	// Env adds environment variables.
	Env []string
	// Adapter is the config's adapter: caddyfile (default) or json.
	Adapter string
}

// StartGateway writes the Caddyfile and starts Caddy. In the Caddyfile,
// {ADMIN} is replaced by the admin address, {PORT} by a free port for the site,
// {STORAGE} by the storage folder, {DIR} by the gateway's folder, and
// {UPSTREAM} by the address of an upstream given as an extra replacement.
// The global options block should start with `{ADMIN_OPTIONS}`, which expands to
// admin, storage and auto_https settings.
func StartGateway(t testing.TB, caddyfile string, opts GatewayOptions, repl ...string) *Gateway {
	t.Helper()
	g := &Gateway{t: t, Dir: t.TempDir(), Storage: opts.Storage, env: opts.Env, adapter: opts.Adapter}
	if g.adapter == "" {
		g.adapter = "caddyfile"
	}
	if g.Storage == "" {
		g.Storage = filepath.Join(g.Dir, "storage")
	}
	g.Admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	g.Port = freePort(t)
	r := []string{
		"{ADMIN_OPTIONS}", fmt.Sprintf("admin %s\n\tstorage file_system %s\n\tauto_https off\n\tpersist_config off", g.Admin, g.Storage),
		"{ADMIN}", g.Admin,
		"{PORT}", fmt.Sprint(g.Port),
		"{STORAGE}", g.Storage,
		"{DIR}", g.Dir,
	}
	r = append(r, repl...)
	g.config = strings.NewReplacer(r...).Replace(caddyfile)
	if err := os.WriteFile(g.configPath(), []byte(g.config), 0o600); err != nil {
		t.Fatal(err)
	}
	g.Log = filepath.Join(g.Dir, "caddy.out")
	g.start()
	t.Cleanup(g.Stop)
	return g
}

func (g *Gateway) start() {
	t := g.t
	t.Helper()
	out, err := os.OpenFile(g.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--config", g.configPath()}
	if g.configFile != "" {
		args[2] = g.configFile
	}
	if g.adapter != "json" {
		args = append(args, "--adapter", g.adapter)
	}
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = g.Dir
	home := g.Dir
	if g.cwd != "" {
		cmd.Dir = g.cwd
	}
	if g.home != "" {
		home = g.home
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	cmd.Env = append(cmd.Env, g.env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	g.cmd = cmd
	exited := make(chan struct{})
	g.exited = exited
	go func() { cmd.Wait(); close(exited) }() //nolint:errcheck
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("caddy exited at start:\n%s", g.Output())
		default:
		}
		resp, err := http.Get("http://" + g.Admin + "/config/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				// The admin endpoint answers before the sites listen; wait for the site.
				if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", g.Port)); err == nil {
					c.Close()
					return
				}
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("caddy did not come up in 30s:\n%s", g.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *Gateway) configPath() string {
	if g.adapter == "json" {
		return filepath.Join(g.Dir, "caddy.json")
	}
	return filepath.Join(g.Dir, "Caddyfile")
}

// Stop kills the process (as a crash would) and waits for it to exit.
func (g *Gateway) Stop() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	_ = g.cmd.Process.Kill()
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
	}
	g.cmd = nil
}

// Restart stops the gateway and starts it again on the same ports and storage.
func (g *Gateway) Restart() {
	g.t.Helper()
	g.Stop()
	g.start()
}

// Output returns what Caddy wrote to stdout and stderr.
func (g *Gateway) Output() string {
	b, _ := os.ReadFile(g.Log)
	return string(b)
}

// URL returns the site URL for path.
func (g *Gateway) URL(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", g.Port, path) }

var client = &http.Client{Timeout: 10 * time.Second}

// Do sends a request to the site and returns status, headers and body.
func (g *Gateway) Do(method, path string, headers map[string]string, body string) (int, http.Header, string) {
	g.t.Helper()
	return do(g.t, method, g.URL(path), headers, body)
}

func do(t testing.TB, method, url string, headers map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil && body == "" && (method == "GET" || method == "HEAD") {
		// Right after a config reload, a connection the stopping servers
		// accepted is closed unanswered; a client retries such a request.
		client.CloseIdleConnections()
		resp, err = client.Do(req)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// AdminDo sends a request to the admin API.
func (g *Gateway) AdminDo(method, path string, body any) (int, []byte) {
	g.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			data, err := json.Marshal(body)
			if err != nil {
				g.t.Fatal(err)
			}
			rd = bytes.NewReader(data)
		}
	}
	req, err := http.NewRequest(method, "http://"+g.Admin+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		g.t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// CreatedKey is the admin API's answer to a create or rotate.
type CreatedKey struct {
	ID          string   `json:"id"`
	Key         string   `json:"key"`
	Consumer    string   `json:"consumer"`
	Scopes      []string `json:"scopes"`
	Status      string   `json:"status"`
	RotatedFrom string   `json:"rotated_from"`
	RotatedTo   string   `json:"rotated_to"`
	ExpiresAt   string   `json:"expires_at"`
}

// CreateKey creates a key through the admin API and fails the test otherwise.
func (g *Gateway) CreateKey(body map[string]any) CreatedKey {
	g.t.Helper()
	status, data := g.AdminDo("POST", "/api_gateway/keys", body)
	if status != http.StatusCreated {
		g.t.Fatalf("create key: %d %s", status, data)
	}
	var k CreatedKey
	if err := json.Unmarshal(data, &k); err != nil {
		g.t.Fatal(err)
	}
	return k
}

// Eventually polls cond every 20ms until it holds or within passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Upstream is a real HTTP upstream on 127.0.0.1 that echoes what it received as
// JSON: method, path, raw query, headers.
type Upstream struct {
	Addr string
	srv  *http.Server

	mu       sync.Mutex
	requests []Received
}

// Received is one request the upstream saw.
type Received struct {
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	RawPath  string      `json:"raw_path"`
	RawQuery string      `json:"raw_query"`
	Header   http.Header `json:"header"`
	Body     string      `json:"body"`
}

// StartUpstream starts an echoing upstream; handler, when given, answers instead.
func StartUpstream(t testing.TB, handler http.HandlerFunc) *Upstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &Upstream{Addr: l.Addr().String()}
	u.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := Received{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)}
		u.mu.Lock()
		u.requests = append(u.requests, rec)
		u.mu.Unlock()
		if handler != nil {
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			handler(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rec) //nolint:errcheck
	}), ReadHeaderTimeout: 5 * time.Second}
	go u.srv.Serve(l) //nolint:errcheck
	t.Cleanup(func() { u.srv.Close() })
	return u
}

// Requests returns what the upstream has received so far.
func (u *Upstream) Requests() []Received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Received(nil), u.requests...)
}
