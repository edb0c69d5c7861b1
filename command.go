package apigate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/apigate/caddy-apigate/monitor"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "api-key",
		Usage: "create|list|show|rotate|revoke [--address <admin>]",
		Short: "Manages the API keys of a running caddy-apigate",
		Long: `
Manages the API keys of a running Caddy through its admin API, as
'caddy reload' does. The admin address is taken from --address, else
from the config given with --config, else the default localhost:2019.

A key is printed once, when it is created or rotated: store it then.

  caddy api-key create --consumer ci-bot --scope orders:read --ttl 720h
  caddy api-key list [--consumer ci-bot]
  caddy api-key show <id>
  caddy api-key rotate <id> [--grace 24h]
  caddy api-key revoke <id> [--keep-successors]

Revoking a key also revokes every key it was rotated into, so a key
rotated by whoever stole it dies with it; --keep-successors revokes
the key alone.

Each command prints the key's fields, or with --json the admin API's
JSON answer. On an error it prints the admin API's message and exits
with status 1.
`,
		CobraFunc: apiKeyCommand,
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "api-gateway",
		Usage: "routes [--address <admin>]",
		Short: "Shows the state of a running caddy-apigate",
		Long: `
Shows what a running Caddy's api_gateway sees, through its admin API.

  caddy api-gateway routes     the routes api_monitor watches: requests,
                               error rate, p50/p90/p99 latency and state
`,
		CobraFunc: apiGatewayCommand,
	})
}

func apiGatewayCommand(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringP("address", "", "", "The address of the admin API of the running Caddy")
	pf.StringP("config", "c", "", "Configuration file to read the admin address from")
	pf.StringP("adapter", "a", "", "Name of config adapter to apply")
	pf.BoolP("json", "", false, "Print the admin API's JSON answer")
	cmd.AddCommand(&cobra.Command{
		Use:   "routes",
		Short: "Lists the monitored routes with their live numbers and state",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runAPIKey(c, http.MethodGet, "/api_gateway/routes", nil, printRoutes)
		},
	})
}

func printRoutes(w io.Writer, data []byte) error {
	var routes []monitor.Status
	if err := json.Unmarshal(data, &routes); err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tSTATE\tWINDOW\tREQUESTS\tERROR_RATE\tP50\tP90\tP99")
	for _, r := range routes {
		state := r.State
		if r.Reason != "" {
			state += " (" + r.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.2f%%\t%.1fms\t%.1fms\t%.1fms\n", r.Route, state, r.Window,
			r.Requests, r.ErrorRate*100, r.Latency.P50, r.Latency.P90, r.Latency.P99)
	}
	return tw.Flush()
}

// adminFlags are the flags every command that talks to the admin API takes.
func adminFlags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringP("address", "", "", "The `address` of the running Caddy's admin API, e.g. localhost:2019 or unix//run/caddy-admin.sock (default: from --config, else localhost:2019)")
	pf.StringP("config", "c", "", "The config `file` of the running Caddy, to read the admin address from")
	pf.StringP("adapter", "a", "", "The `adapter` of the --config file (default: caddyfile for files named Caddyfile* or *.caddyfile, else JSON)")
	pf.BoolP("json", "", false, "Print the admin API's JSON answer instead of the fields")
}

func apiKeyCommand(cmd *cobra.Command) {
	adminFlags(cmd)

	create := &cobra.Command{
		Use:   "create --consumer <name> [--scope <scope>]... [--ttl <duration>] [--allowed-ip <cidr>]... [--description <text>] [--meta <name>=<value>]...",
		Short: "Creates a key and prints it once",
		Long: `Creates a key for a consumer and prints it, with its id and fields. The
key is shown this once: store it then (only its hash is kept).

A scope holds no comma and no '=': give each scope with its own --scope,
or several in one, separated by spaces.`,
		Example: `  caddy api-key create --consumer ci-bot --scope orders:read --scope orders:write --ttl 720h
  caddy api-key create --consumer ci-bot --scope "orders:read orders:write" --allowed-ip 10.0.0.0/8`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f := c.Flags()
			consumer, _ := f.GetString("consumer")
			rawScopes, _ := f.GetStringArray("scope")
			ips, _ := f.GetStringSlice("allowed-ip")
			desc, _ := f.GetString("description")
			ttl, _ := f.GetString("ttl")
			meta, _ := f.GetStringArray("meta")
			if consumer == "" {
				return cliError(c, fmt.Errorf("--consumer is required: who the key is for"))
			}
			scopes, err := parseScopes(rawScopes)
			if err != nil {
				return cliError(c, err)
			}
			body := map[string]any{"consumer": consumer, "scopes": scopes, "allowed_ips": ips, "description": desc}
			if len(meta) > 0 {
				md, err := parseMeta(meta)
				if err != nil {
					return err
				}
				body["metadata"] = md
			}
			if ttl != "" {
				if err := checkDuration("--ttl", ttl); err != nil {
					return cliError(c, err)
				}
				body["ttl"] = ttl
			}
			return runAPIKey(c, http.MethodPost, "/api_gateway/keys", body, printKey)
		},
	}
	create.Flags().String("consumer", "", "The `name` of who the key is for (required)")
	create.Flags().StringArray("scope", nil, "A `scope` the key holds (repeatable; or several in one, separated by spaces)")
	create.Flags().String("ttl", "", "Lifetime of the key, a `duration` such as 720h or 90d (default: no expiry)")
	create.Flags().StringSlice("allowed-ip", nil, "An IP or `cidr` the key may be used from (repeatable, or comma-separated; default: any)")
	create.Flags().String("description", "", "A `note` on what the key is for (never secret: it is listed)")
	create.Flags().StringArray("meta", nil, "A metadata pair name=value, never secret, exposed as {http.auth.user.meta.<name>} (repeatable)")

	list := &cobra.Command{
		Use:   "list [--consumer <name>]",
		Short: "Lists keys (never their secrets)",
		Long: `Lists the keys of every consumer, or of one, with their id, consumer,
scopes, status (active, grace, expired, revoked), creation and expiry.`,
		Example: `  caddy api-key list
  caddy api-key list --consumer ci-bot --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			uri := "/api_gateway/keys"
			if consumer, _ := c.Flags().GetString("consumer"); consumer != "" {
				uri += "?consumer=" + url.QueryEscape(consumer)
			}
			return runAPIKey(c, http.MethodGet, uri, nil, printList)
		},
	}
	list.Flags().String("consumer", "", "Only the keys of the consumer of this `name` (default: every consumer)")

	show := &cobra.Command{
		Use:     "show <id>",
		Short:   "Shows one key (never its secret)",
		Long:    `Shows the fields of one key, by the id that create, list and rotate print.`,
		Example: `  caddy api-key show cr5Mgdb3sWew`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runAPIKey(c, http.MethodGet, "/api_gateway/keys/"+url.PathEscape(args[0]), nil, printKey)
		},
	}

	rotate := &cobra.Command{
		Use:   "rotate <id> [--grace <duration>]",
		Short: "Issues a new key and puts the old one into its grace period",
		Long: `Issues a new key with the old key's consumer, scopes, addresses and expiry,
and prints it once. The old key keeps working for the grace period,
its answers marked with Deprecation and Sunset headers, then stops.
A key in its grace period cannot be rotated again (HTTP 409): rotate the
key it was rotated into.`,
		Example: `  caddy api-key rotate cr5Mgdb3sWew
  caddy api-key rotate cr5Mgdb3sWew --grace 0s    # the old key stops now`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			body := map[string]any{}
			if grace, _ := c.Flags().GetString("grace"); grace != "" {
				if err := checkDuration("--grace", grace); err != nil {
					return cliError(c, err)
				}
				body["grace"] = grace
			}
			return runAPIKey(c, http.MethodPost, "/api_gateway/keys/"+url.PathEscape(args[0])+"/rotate", body, printKey)
		},
	}
	rotate.Flags().String("grace", "", "How long the old key keeps working, a `duration` such as 24h or 0s (default: the keys { grace } setting, 168h unless set)")

	revoke := &cobra.Command{
		Use:   "revoke <id> [--keep-successors]",
		Short: "Revokes a key now, with every key it was rotated into",
		Long: `Revokes a key at once, on every gateway that shares the storage. Every key
it was rotated into is revoked too, so a key rotated by whoever stole it
dies with it; --keep-successors revokes the key alone.`,
		Example: `  caddy api-key revoke cr5Mgdb3sWew
  caddy api-key revoke cr5Mgdb3sWew --keep-successors`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			uri := "/api_gateway/keys/" + url.PathEscape(args[0])
			if keep, _ := c.Flags().GetBool("keep-successors"); keep {
				uri += "?keep_successors=true"
			}
			return runAPIKey(c, http.MethodDelete, uri, nil, printKey)
		},
	}
	revoke.Flags().Bool("keep-successors", false, "Revoke this key alone: the keys it was rotated into keep working")

	cmd.AddCommand(create, list, show, rotate, revoke)
}

// parseScopes reads the --scope values: each holds one scope or several
// separated by spaces. A scope holds no ',' or '=', as in the Caddyfile, so a
// comma-separated list or a `scope=x` is refused rather than stored as a
// scope no rule would ever match.
func parseScopes(values []string) ([]string, error) {
	var scopes []string
	for _, v := range values {
		for _, s := range strings.Fields(v) {
			if strings.ContainsAny(s, ",=") {
				return nil, fmt.Errorf("--scope %q: a scope holds no ',' or '=': repeat --scope for each scope, or separate them with spaces", s)
			}
			scopes = append(scopes, s)
		}
	}
	return scopes, nil
}

// checkDuration refuses a flag value that is not a duration, before the
// admin API would.
func checkDuration(flag, v string) error {
	d, err := caddy.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%s %q is not a duration: write it like 720h, 90d or 30m", flag, v)
	}
	if d < 0 {
		return fmt.Errorf("%s %q must not be negative", flag, v)
	}
	return nil
}

// cliError prints err as "caddy api-key rotate: <err>" and returns it for
// the exit status (Caddy's main would prefix "Error: " and no command).
func cliError(c *cobra.Command, err error) error {
	c.SilenceUsage, c.SilenceErrors = true, true
	fmt.Fprintf(c.ErrOrStderr(), "%s: %v\n", c.CommandPath(), err)
	return err
}

// runAPIKey sends one request to the admin API and prints the answer.
func runAPIKey(c *cobra.Command, method, uri string, body any, print func(io.Writer, []byte) error) error {
	c.SilenceUsage = true
	f := c.Flags()
	address, _ := f.GetString("address")
	configFile, _ := f.GetString("config")
	adapter, _ := f.GetString("adapter")
	asJSON, _ := f.GetBool("json")
	addr, err := caddycmd.DetermineAdminAPIAddress(address, nil, configFile, adapter)
	if err != nil {
		return cliError(c, fmt.Errorf("finding the admin API: %w", err))
	}
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return cliError(c, err)
		}
		reader = bytes.NewReader(b)
	}
	data, err := adminRequest(addr, method, uri, reader)
	if err != nil {
		return cliError(c, err)
	}
	out := c.OutOrStdout()
	if asJSON {
		_, err := out.Write(data)
		return err
	}
	if err := print(out, data); err != nil {
		return cliError(c, err)
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

func printKey(w io.Writer, data []byte) error {
	var k keyView
	if err := json.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if k.Key != "" {
		fmt.Fprintf(tw, "key:\t%s\n", k.Key)
	}
	fmt.Fprintf(tw, "id:\t%s\n", k.ID)
	fmt.Fprintf(tw, "consumer:\t%s\n", k.Consumer)
	fmt.Fprintf(tw, "scopes:\t%s\n", strings.Join(k.Scopes, " "))
	fmt.Fprintf(tw, "status:\t%s\n", k.Status)
	if len(k.AllowedIPs) > 0 {
		fmt.Fprintf(tw, "allowed_ips:\t%s\n", strings.Join(k.AllowedIPs, " "))
	}
	if k.Description != "" {
		fmt.Fprintf(tw, "description:\t%s\n", k.Description)
	}
	for _, name := range slices.Sorted(maps.Keys(k.Metadata)) {
		fmt.Fprintf(tw, "meta.%s:\t%s\n", name, k.Metadata[name])
	}
	fmt.Fprintf(tw, "created_at:\t%s\n", k.CreatedAt.Format(time.RFC3339))
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"expires_at", k.ExpiresAt}, {"rotated_at", k.RotatedAt}, {"revoked_at", k.RevokedAt}} {
		if !t.at.IsZero() {
			fmt.Fprintf(tw, "%s:\t%s\n", t.name, t.at.Format(time.RFC3339))
		}
	}
	if k.RotatedFrom != "" {
		fmt.Fprintf(tw, "rotated_from:\t%s\n", k.RotatedFrom)
	}
	if k.RotatedTo != "" {
		fmt.Fprintf(tw, "rotated_to:\t%s\n", k.RotatedTo)
	}
	if len(k.RevokedSuccessors) > 0 {
		fmt.Fprintf(tw, "revoked_successors:\t%s\n", strings.Join(k.RevokedSuccessors, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if k.Key != "" {
		fmt.Fprintln(os.Stderr, "\nThis is the only time the key is shown: store it now.")
	}
	return nil
}

func printList(w io.Writer, data []byte) error {
	var keys []keyView
	if err := json.Unmarshal(data, &keys); err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONSUMER\tSCOPES\tSTATUS\tCREATED\tEXPIRES\tMETADATA")
	for _, k := range keys {
		expires := "-"
		if !k.ExpiresAt.IsZero() {
			expires = k.ExpiresAt.Format(time.RFC3339)
		}
		meta := make([]string, 0, len(k.Metadata))
		for _, name := range slices.Sorted(maps.Keys(k.Metadata)) {
			meta = append(meta, name+"="+k.Metadata[name])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Consumer, strings.Join(k.Scopes, ","), k.Status, k.CreatedAt.Format(time.RFC3339), expires, strings.Join(meta, ","))
	}
	return tw.Flush()
}

// parseMeta reads the values of --meta: name=value pairs, each name once.
// The admin API checks names and sizes (keystore.ValidateMetadata).
func parseMeta(pairs []string) (map[string]string, error) {
	md := make(map[string]string, len(pairs))
	for _, p := range pairs {
		name, val, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--meta %q: want name=value", p)
		}
		if _, dup := md[name]; dup {
			return nil, fmt.Errorf("--meta %s given twice", name)
		}
		md[name] = val
	}
	return md, nil
}
