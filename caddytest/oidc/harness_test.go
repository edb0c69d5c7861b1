package oidc

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Client secrets of the provider's clients: the gateway (token exchange and
// introspection of callers' tokens) and the upstream (introspection of the
// tokens it receives).
const (
	gatewaySecret  = "gw-secret-5a1f0c2e9b"
	upstreamSecret = "orders-secret-77d3e1"
)

// countingStorage is zitadel's example storage, counting the token exchanges
// it grants. zitadel's op decrypts an opaque subject token without asking the
// storage whether it was revoked (ValidateTokenExchangeRequest is where a
// deployment decides); the example does not check, so this one refuses a
// revoked subject token with invalid_grant, as a real deployment would.
type countingStorage struct {
	*storage.Storage
	exchanges atomic.Int64
	revoked   sync.Map // token ids
}

func (s *countingStorage) RevokeToken(ctx context.Context, id, user, client string) *oidc.Error {
	s.revoked.Store(id, true)
	return s.Storage.RevokeToken(ctx, id, user, client)
}

func (s *countingStorage) ValidateTokenExchangeRequest(ctx context.Context, r op.TokenExchangeRequest) error {
	if _, gone := s.revoked.Load(r.GetExchangeSubjectTokenIDOrToken()); gone {
		return oidc.ErrInvalidGrant().WithDescription("subject token revoked")
	}
	return s.Storage.ValidateTokenExchangeRequest(ctx, r)
}

func (s *countingStorage) CreateTokenExchangeRequest(ctx context.Context, r op.TokenExchangeRequest) error {
	s.exchanges.Add(1)
	return s.Storage.CreateTokenExchangeRequest(ctx, r)
}

// provider is a running zitadel OpenID provider on 127.0.0.1.
type provider struct {
	*httptest.Server
	op      *op.Provider
	storage *countingStorage
}

func startProvider(t *testing.T) *provider {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + l.Addr().String()
	clients := map[string]*storage.Client{
		"apigate": storage.WebClient("apigate", gatewaySecret),
		"orders":  storage.WebClient("orders", upstreamSecret),
	}
	st := &countingStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(issuer), clients)}
	p, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte(t.Name())), AuthMethodPost: true},
		st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return &provider{Server: srv, op: p, storage: st}
}

// userToken issues an opaque access token of user for the gateway's audience,
// as the provider's code flow would, and returns it with its id.
func (p *provider) userToken(t *testing.T, user string) (tok, id string) {
	t.Helper()
	id, _, err := p.storage.CreateAccessToken(context.Background(), &oidc.JWTTokenRequest{
		Subject: user, Audience: []string{"apigate"}, Scopes: []string{oidc.ScopeOpenID, "orders:read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err = op.CreateBearerToken(id, user, p.op.Crypto())
	if err != nil {
		t.Fatal(err)
	}
	return tok, id
}

// introspect asks the provider, as the upstream client "orders", whether tok
// is active: the example storage says so only to a client in its audience.
func (p *provider) introspect(tok string) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/oauth/introspect", strings.NewReader("token="+tok))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("orders", upstreamSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// backend is the upstream: it records the Authorization header of each
// request it gets.
type backend struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func startBackend(t *testing.T) *backend {
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen = append(b.seen, r.Header.Get("Authorization"))
		b.mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) headers() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.seen...)
}

var (
	buildOnce sync.Once
	caddyBin  string
	buildErr  error
)

// gateway builds the plugin's cmd/caddy once and runs it with caddyfile,
// whose {PORT}, {ADMIN} and {DIR} it fills in. It returns the site's base
// URL, the admin address and the folder holding the log and storage.
func gateway(t *testing.T, caddyfile string, env ...string) (site, admin, dir string) {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		bin, err := os.MkdirTemp("", "apigate-oidc-")
		if err != nil {
			buildErr = err
			return
		}
		caddyBin = filepath.Join(bin, "caddy")
		cmd := exec.Command("go", "build", "-o", caddyBin, "./cmd/caddy")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	dir = t.TempDir()
	port, adminPort := freePort(t), freePort(t)
	admin = fmt.Sprintf("127.0.0.1:%d", adminPort)
	cfg := strings.NewReplacer("{PORT}", fmt.Sprint(port), "{ADMIN}", admin, "{DIR}", dir).Replace(caddyfile)
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddyBin, "run", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); out.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return fmt.Sprintf("http://127.0.0.1:%d", port), admin, dir
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "caddy.log"))
			t.Fatalf("caddy did not come up:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// get sends a GET with a bearer token and returns the status and body.
func get(t *testing.T, url, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
