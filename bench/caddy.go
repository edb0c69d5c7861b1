package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// startupTimeout bounds how long Caddy may take to load its config and listen.
const startupTimeout = 30 * time.Second

// buildCaddy builds ./cmd/caddy of the module the benchmark runs in into dir.
func buildCaddy(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the caddy-apigate module: run `go run ./bench` from the repository, or pass -caddy")
	}
	bin := filepath.Join(dir, "caddy")
	logf("building ./cmd/caddy (a few minutes when the build cache is cold; -caddy PATH skips this)")
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/caddy")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("building ./cmd/caddy: %w", err)
	}
	logf("built in %v", time.Since(start).Round(time.Second))
	return bin, nil
}

// site is one variant served by Caddy.
type site struct {
	v   variant
	url string // "http://127.0.0.1:port/"
}

// caddyProcess is the one Caddy process serving every variant.
type caddyProcess struct {
	cmd      *exec.Cmd
	log      *os.File
	done     chan struct{} // closed when the process has exited
	waitErr  error         // set before done is closed
	adminURL string
	sites    []site
	version  string
}

// startCaddy writes a Caddyfile with one site per variant into dir and runs Caddy on
// it, returning once the admin API answers and every site accepts connections.
func startCaddy(ctx context.Context, bin, dir, upstream string, vs []variant, env []string) (*caddyProcess, error) {
	ports, err := freePorts(1 + len(vs))
	if err != nil {
		return nil, err
	}
	c := &caddyProcess{
		adminURL: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		done:     make(chan struct{}),
	}
	for i, v := range vs {
		c.sites = append(c.sites, site{v: v, url: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i+1])) + "/" + strings.TrimPrefix(v.path, "/")})
	}
	c.version = caddyVersion(ctx, bin)

	caddyfile := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte(renderCaddyfile(ports[0], filepath.Join(dir, "storage"), c.sites)), 0o600); err != nil {
		return nil, err
	}
	c.log, err = os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, "run", "--config", caddyfile, "--adapter", "caddyfile")
	c.cmd.Dir = dir
	c.cmd.Stdout = c.log
	c.cmd.Stderr = c.log
	// Caddy's data and config directories (autosave, instance id) go to dir too.
	c.cmd.Env = append(os.Environ(),
		"BENCH_UPSTREAM="+upstream,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
	)
	c.cmd.Env = append(c.cmd.Env, env...)
	c.cmd.SysProcAttr = childProcAttr()
	if err := c.cmd.Start(); err != nil {
		c.log.Close()
		return nil, fmt.Errorf("starting caddy: %w", err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()

	if err := c.waitReady(ctx); err != nil {
		c.stop()
		return nil, err
	}
	logf("caddy is up: admin %s, config %s", c.adminURL, caddyfile)
	return c, nil
}

// renderCaddyfile writes the global options and one site block per variant.
func renderCaddyfile(adminPort int, storage string, sites []site) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{
	admin 127.0.0.1:%d
	auto_https off
	default_bind 127.0.0.1
	persist_config off
	storage file_system %s
	log {
		level ERROR
	}
`, adminPort, `"`+storage+`"`)
	seen := map[string]bool{}
	for _, s := range sites {
		if g := s.v.global; g != "" && !seen[g] {
			seen[g] = true
			for line := range strings.Lines(g) {
				b.WriteString("\t" + strings.TrimRight(line, "\n") + "\n")
			}
		}
	}
	b.WriteString("}\n")
	for _, s := range sites {
		fmt.Fprintf(&b, "\n# %s\n%s {\n", s.v.name, siteAddress(s.url))
		for line := range strings.Lines(s.v.site) {
			b.WriteString("\t" + strings.TrimRight(line, "\n") + "\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// waitReady polls the admin API, then every site's port, until they answer.
func (c *caddyProcess) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	err := c.poll(ctx, "the admin API", func() bool {
		resp, err := client.Get(c.adminURL + "/config/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return err
	}
	for _, s := range c.sites {
		addr := strings.TrimPrefix(siteAddress(s.url), "http://")
		err := c.poll(ctx, "site "+s.v.name, func() bool {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return false
			}
			conn.Close()
			return true
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// poll calls ready every 50ms until it reports true, failing once Caddy has exited,
// startupTimeout has passed or ctx is done.
func (c *caddyProcess) poll(ctx context.Context, what string, ready func() bool) error {
	const interval = 50 * time.Millisecond
	deadline := time.Now().Add(startupTimeout)
	for range startupTimeout / interval {
		if ready() {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.alive()
		case <-time.After(interval):
		}
	}
	return fmt.Errorf("caddy: %s not ready after %v%s", what, startupTimeout, c.logTail())
}

// alive reports an error, with the end of Caddy's log, once Caddy has exited.
func (c *caddyProcess) alive() error {
	select {
	case <-c.done:
		return fmt.Errorf("caddy exited (%v)%s", c.waitErr, c.logTail())
	default:
		return nil
	}
}

// stop kills Caddy, waits for it and closes its log. It is safe to call twice.
func (c *caddyProcess) stop() {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Kill()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			logf("caddy (pid %d) did not exit after SIGKILL", c.cmd.Process.Pid)
		}
	}
	c.log.Close()
}

// logTail returns the last lines of Caddy's log, for an error message.
func (c *caddyProcess) logTail() string {
	const lines = 30
	b, err := os.ReadFile(c.log.Name())
	if err != nil || len(b) == 0 {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return "; caddy's log ends:\n\t" + strings.Join(all, "\n\t")
}

// caddyVersion returns the version `caddy version` prints (its first word), or "unknown".
func caddyVersion(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "unknown"
	}
	fields := bytes.Fields(out)
	if len(fields) == 0 {
		return "unknown"
	}
	return string(fields[0])
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are free when
// returned, so another process could take one before Caddy binds it; on a benchmark
// machine that is rare, and Caddy then fails to start with a clear error.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		// Kept open until all are found, so the n ports differ.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// siteAddress is the scheme, host and port of a site's URL: the URL a variant
// requests may carry a path, which is not part of the site's address.
func siteAddress(u string) string {
	rest := strings.TrimPrefix(u, "http://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return "http://" + rest
}
