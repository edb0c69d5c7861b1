package apigate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
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
`,
		CobraFunc: apiKeyCommand,
	})
}

func apiKeyCommand(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringP("address", "", "", "The address of the admin API of the running Caddy")
	pf.StringP("config", "c", "", "Configuration file to read the admin address from")
	pf.StringP("adapter", "a", "", "Name of config adapter to apply")
	pf.BoolP("json", "", false, "Print the admin API's JSON answer")

	create := &cobra.Command{
		Use:   "create --consumer <name> [--scope <scope>]... [--ttl <duration>] [--allowed-ip <cidr>]... [--description <text>] [--meta <name>=<value>]...",
		Short: "Creates a key and prints it once",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f := c.Flags()
			consumer, _ := f.GetString("consumer")
			scopes, _ := f.GetStringSlice("scope")
			ips, _ := f.GetStringSlice("allowed-ip")
			desc, _ := f.GetString("description")
			ttl, _ := f.GetString("ttl")
			meta, _ := f.GetStringArray("meta")
			if consumer == "" {
				return fmt.Errorf("--consumer is required")
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
				body["ttl"] = ttl
			}
			return runAPIKey(c, http.MethodPost, "/api_gateway/keys", body, printKey)
		},
	}
	create.Flags().String("consumer", "", "Who the key is for (required)")
	create.Flags().StringSlice("scope", nil, "A scope the key holds (repeatable, or comma-separated)")
	create.Flags().String("ttl", "", "Lifetime of the key, e.g. 720h or 90d (default: no expiry)")
	create.Flags().StringSlice("allowed-ip", nil, "An IP or CIDR the key may be used from (repeatable)")
	create.Flags().String("description", "", "A note on what the key is for")
	create.Flags().StringArray("meta", nil, "A metadata pair name=value, never secret, exposed as {http.auth.user.meta.<name>} (repeatable)")

	list := &cobra.Command{
		Use:   "list [--consumer <name>]",
		Short: "Lists keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			uri := "/api_gateway/keys"
			if consumer, _ := c.Flags().GetString("consumer"); consumer != "" {
				uri += "?consumer=" + url.QueryEscape(consumer)
			}
			return runAPIKey(c, http.MethodGet, uri, nil, printList)
		},
	}
	list.Flags().String("consumer", "", "Only the keys of this consumer")

	show := &cobra.Command{
		Use:   "show <id>",
		Short: "Shows one key (never its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runAPIKey(c, http.MethodGet, "/api_gateway/keys/"+url.PathEscape(args[0]), nil, printKey)
		},
	}

	rotate := &cobra.Command{
		Use:   "rotate <id> [--grace <duration>]",
		Short: "Issues a new key and puts the old one into its grace period",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			body := map[string]any{}
			if grace, _ := c.Flags().GetString("grace"); grace != "" {
				body["grace"] = grace
			}
			return runAPIKey(c, http.MethodPost, "/api_gateway/keys/"+url.PathEscape(args[0])+"/rotate", body, printKey)
		},
	}
	rotate.Flags().String("grace", "", "How long the old key keeps working (default: the keys { grace } setting)")

	revoke := &cobra.Command{
		Use:   "revoke <id> [--keep-successors]",
		Short: "Revokes a key now, with every key it was rotated into",
		Args:  cobra.ExactArgs(1),
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
		return fmt.Errorf("finding the admin API: %w", err)
	}
	var reader io.Reader
	headers := http.Header{}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(b)
		headers.Set("Content-Type", "application/json")
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, uri, headers, reader)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	out := c.OutOrStdout()
	if asJSON {
		_, err := out.Write(data)
		return err
	}
	return print(out, data)
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
