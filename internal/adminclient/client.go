// Package adminclient is the CLI's side of Caddy's admin API, shared by the
// plugin's commands (caddy api-key, api-cache, api-gateway): they find the
// running Caddy's admin endpoint as `caddy reload` does, send one request, and
// print the answer or the admin API's message.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// Flags adds the flags every command that talks to the admin API takes.
func Flags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringP("address", "", "", "The `address` of the running Caddy's admin API, e.g. localhost:2019 or unix//run/caddy-admin.sock (default: from --config, else localhost:2019)")
	pf.StringP("config", "c", "", "The config `file` of the running Caddy, to read the admin address from")
	pf.StringP("adapter", "a", "", "The `adapter` of the --config file (default: caddyfile for files named Caddyfile* or *.caddyfile, else JSON)")
	pf.BoolP("json", "", false, "Print the admin API's JSON answer instead of the fields")
}

// Error prints err as "caddy api-key rotate: <err>" and returns it for
// the exit status (Caddy's main would prefix "Error: " and no command).
func Error(c *cobra.Command, err error) error {
	c.SilenceUsage, c.SilenceErrors = true, true
	fmt.Fprintf(c.ErrOrStderr(), "%s: %v\n", c.CommandPath(), err)
	return err
}

// Run sends one request to the admin API and prints the answer.
func Run(c *cobra.Command, method, uri string, body any, print func(io.Writer, []byte) error) error {
	c.SilenceUsage = true
	f := c.Flags()
	address, _ := f.GetString("address")
	configFile, _ := f.GetString("config")
	adapter, _ := f.GetString("adapter")
	asJSON, _ := f.GetBool("json")
	addr, err := caddycmd.DetermineAdminAPIAddress(address, nil, configFile, adapter)
	if err != nil {
		return Error(c, fmt.Errorf("finding the admin API: %w", err))
	}
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Error(c, err)
		}
		reader = bytes.NewReader(b)
	}
	data, err := adminRequest(addr, method, uri, reader)
	if err != nil {
		return Error(c, err)
	}
	out := c.OutOrStdout()
	if asJSON {
		_, err := out.Write(data)
		return err
	}
	if err := print(out, data); err != nil {
		// Not the JSON the plugin's admin routes answer (the address is
		// some other server's): no decoder internals, a hint instead.
		return Error(c, fmt.Errorf("the answer from %s is not caddy-apigate's: is that the admin API of Caddy with caddy-apigate?", addr))
	}
	return nil
}

// adminRequest sends one request to the admin API at addr, as
// caddycmd.AdminAPIRequest does, and returns the answer's body. Its errors
// are for people: no Caddy at the address, or the admin API's own message
// with the status, never raw JSON.
func adminRequest(addr, method, uri string, body io.Reader) ([]byte, error) {
	parsed, err := caddy.ParseNetworkAddress(addr)
	if err != nil || parsed.PortRangeSize() > 1 {
		return nil, fmt.Errorf("%q is not an admin API address (want host:port or unix//path)", addr)
	}
	origin := "http://" + parsed.JoinHostPort(0)
	if parsed.IsUnixNetwork() || parsed.IsFdNetwork() {
		// Any host will do; a loopback one keeps the request local should it
		// ever be used.
		origin = "http://127.0.0.1"
		// A unix address may end in |<permission bits>, which are not part
		// of its path.
		parsed.Host, _, _ = strings.Cut(parsed.Host, "|")
	}
	req, err := http.NewRequest(method, origin+uri, body)
	if err != nil {
		return nil, fmt.Errorf("making the request: %w", err)
	}
	if !parsed.IsUnixNetwork() && !parsed.IsFdNetwork() {
		req.Header.Set("Origin", origin)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, parsed.Network, parsed.JoinHostPort(0))
			},
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is Caddy running? admin API at %s: %s", addr, rootCause(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the admin API's answer: %s", rootCause(err))
	}
	if resp.StatusCode >= 400 {
		return nil, fmt.Errorf("%s (HTTP %d)", adminMessage(resp.StatusCode, data), resp.StatusCode)
	}
	return data, nil
}

// rootCause is the innermost error of err, e.g. "connection refused" rather
// than the whole chain of the request, the dial and the system call.
func rootCause(err error) string {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err.Error()
		}
		err = inner
	}
}

// adminMessage is the text of an admin API error answer: Caddy's
// {"error": "..."}, a problem+json detail or title, else the body itself when
// it is short text.
func adminMessage(status int, data []byte) string {
	var answer struct {
		Error  string `json:"error"`
		Detail string `json:"detail"`
		Title  string `json:"title"`
	}
	if json.Unmarshal(data, &answer) == nil {
		for _, m := range []string{answer.Error, answer.Detail, answer.Title} {
			if m != "" {
				return m
			}
		}
	}
	if text := strings.TrimSpace(string(data)); text != "" && len(text) <= 200 && !strings.ContainsAny(text, "{<\n") {
		return text
	}
	return strings.ToLower(http.StatusText(status))
}
