package caddytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// runCLI runs `caddy <args>` and returns stdout, stderr and the exit status.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+cmd.Dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

// TestCLIMessages checks what `caddy api-key` and `caddy api-cache` say when
// something is wrong: one line naming the command, the admin API's own
// message with its status rather than JSON, a hint when Caddy is not
// running, and scopes refused where the Caddyfile would never match them.
func TestCLIMessages(t *testing.T) {
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	for _, args := range [][]string{
		{"api-key", "list", "--address", dead},
		{"api-key", "create", "--consumer", "shop", "--address", dead},
		{"api-cache", "purge", "--address", dead},
	} {
		stdout, stderr, status := runCLI(t, args...)
		want := fmt.Sprintf("caddy %s %s: is Caddy running? admin API at %s: connection refused\n", args[0], args[1], dead)
		if status != 1 || stdout != "" || stderr != want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", args, status, stdout, stderr, want)
		}
	}

	// An address where something else answers: a hint, no decoder error.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hi") })) //nolint:errcheck
	defer other.Close()
	otherAddr := strings.TrimPrefix(other.URL, "http://")
	for _, args := range [][]string{{"api-key", "list"}, {"api-gateway", "routes"}, {"api-cache", "purge"}} {
		stdout, stderr, status := runCLI(t, append(args, "--address", otherAddr)...)
		want := fmt.Sprintf("caddy %s %s: the answer from %s is not caddy-apigate's: is that the admin API of Caddy with caddy-apigate?\n", args[0], args[1], otherAddr)
		if status != 1 || stdout != "" || stderr != want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", args, status, stdout, stderr, want)
		}
	}

	g, _ := startKeysGateway(t)
	key := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})
	if _, _, status := runCLI(t, "api-key", "rotate", key.ID, "--address", g.Admin); status != 0 {
		t.Fatalf("first rotation: exit %d", status)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"api-key", "rotate", key.ID}, `^caddy api-key rotate: [^{}"]+ \(HTTP 409\)\n$`},
		{[]string{"api-key", "show", "AAAAAAAAAAAA"}, `^caddy api-key show: no such key \(HTTP 404\)\n$`},
		{[]string{"api-key", "revoke", "AAAAAAAAAAAA"}, `^caddy api-key revoke: no such key \(HTTP 404\)\n$`},
		{[]string{"api-cache", "purge", "--path", "nope"}, `^caddy api-cache purge: --path must start with / and hold no control characters\n$`},
	} {
		stdout, stderr, status := runCLI(t, append(c.args, "--address", g.Admin)...)
		if status != 1 || stdout != "" || !regexp.MustCompile(c.want).MatchString(stderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %s", c.args, status, stdout, stderr, c.want)
		}
	}

	// One scope grammar: a scope holds no ',' or '='.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--scope", "orders:read,orders:write"}, `caddy api-key create: --scope "orders:read,orders:write": a scope holds no ',' or '=': repeat --scope for each scope, or separate them with spaces` + "\n"},
		{[]string{"--scope", "orders:read", "--scope", "scope=admin"}, `caddy api-key create: --scope "scope=admin": a scope holds no ',' or '=': repeat --scope for each scope, or separate them with spaces` + "\n"},
		{[]string{"--ttl", "lots"}, `caddy api-key create: --ttl "lots" is not a duration: write it like 720h, 90d or 30m` + "\n"},
		{nil, "caddy api-key create: --consumer is required: who the key is for\n"},
	} {
		args := append([]string{"api-key", "create", "--address", g.Admin}, c.args...)
		if c.args != nil {
			args = append(args, "--consumer", "refused")
		}
		stdout, stderr, status := runCLI(t, args...)
		if status != 1 || stdout != "" || stderr != c.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", c.args, status, stdout, stderr, c.want)
		}
	}
	if status, body := g.AdminDo("GET", "/api_gateway/keys?consumer=refused", nil); status != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("a refused create made a key: %s", body)
	}
	stdout, _, status := runCLI(t, "api-key", "create", "--address", g.Admin, "--consumer", "spaces", "--scope", "orders:read orders:write", "--scope", "admin")
	if status != 0 || !regexp.MustCompile(`(?m)^scopes:\s+orders:read orders:write admin$`).MatchString(stdout) {
		t.Fatalf("scopes separated by spaces: exit %d\n%s", status, stdout)
	}
}

// TestCLIHelp checks that --help of every command describes it, shows
// examples, and documents every flag.
func TestCLIHelp(t *testing.T) {
	admin := []string{"--address", "--config", "--adapter", "--json"}
	for _, c := range []struct {
		command []string
		flags   []string
	}{
		{[]string{"api-key"}, []string{"create", "list", "show", "rotate", "revoke"}},
		{[]string{"api-key", "create"}, []string{"--consumer name", "--scope scope", "--ttl duration", "--allowed-ip cidr", "--description note"}},
		{[]string{"api-key", "list"}, []string{"--consumer name"}},
		{[]string{"api-key", "show"}, nil},
		{[]string{"api-key", "rotate"}, []string{"--grace duration"}},
		{[]string{"api-key", "revoke"}, []string{"--keep-successors"}},
		{[]string{"api-cache"}, []string{"purge"}},
		{[]string{"api-cache", "purge"}, []string{"--path path"}},
		{[]string{"api-gateway"}, []string{"routes"}},
		{[]string{"api-gateway", "routes"}, nil},
	} {
		stdout, stderr, status := runCLI(t, append(c.command, "--help")...)
		if status != 0 || stderr != "" {
			t.Errorf("%v --help: exit %d, stderr %q", c.command, status, stderr)
			continue
		}
		want := append(append([]string{"Usage:"}, c.flags...), admin...)
		if len(c.command) == 2 {
			want = append(want, "Examples:")
		}
		for _, w := range want {
			if !strings.Contains(stdout, w) {
				t.Errorf("caddy %s --help lacks %q:\n%s", strings.Join(c.command, " "), w, stdout)
			}
		}
		// Every flag line says what the flag is for.
		for _, line := range strings.Split(stdout, "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "-") && len(f) < 3 {
				t.Errorf("caddy %s --help: flag without a description: %q", strings.Join(c.command, " "), line)
			}
		}
	}
}
