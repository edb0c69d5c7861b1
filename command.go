package apigate

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/apigate/caddy-apigate/internal/adminclient"
	"github.com/apigate/caddy-apigate/keystore"
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
}

func apiKeyCommand(cmd *cobra.Command) {
	adminclient.Flags(cmd)
	cmd.AddCommand(createKeyCommand(), listKeysCommand(), showKeyCommand(), rotateKeyCommand(), revokeKeyCommand())
}

func createKeyCommand() *cobra.Command {
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
				return adminclient.Error(c, fmt.Errorf("--consumer is required: who the key is for"))
			}
			scopes, err := parseScopes(rawScopes)
			if err != nil {
				return adminclient.Error(c, err)
			}
			body := map[string]any{"consumer": consumer, "scopes": scopes, "allowed_ips": ips, "description": desc}
			if len(meta) > 0 {
				md, err := parseMeta(meta)
				if err != nil {
					return adminclient.Error(c, err)
				}
				body["metadata"] = md
			}
			if ttl != "" {
				if err := checkDuration("--ttl", ttl); err != nil {
					return adminclient.Error(c, err)
				}
				body["ttl"] = ttl
			}
			return adminclient.Run(c, http.MethodPost, "/api_gateway/keys", body, adminclient.PrintKey)
		},
	}
	create.Flags().String("consumer", "", "The `name` of who the key is for (required)")
	create.Flags().StringArray("scope", nil, "A `scope` the key holds (repeatable; or several in one, separated by spaces)")
	create.Flags().String("ttl", "", "Lifetime of the key, a `duration` such as 720h or 90d (default: no expiry)")
	create.Flags().StringSlice("allowed-ip", nil, "An IP or `cidr` the key may be used from (repeatable, or comma-separated; default: any)")
	create.Flags().String("description", "", "A `note` on what the key is for (never secret: it is listed)")
	create.Flags().StringArray("meta", nil, "A metadata pair `name=value`, never secret, exposed as {http.auth.user.meta.<name>} (repeatable)")
	return create
}

func listKeysCommand() *cobra.Command {
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
			return adminclient.Run(c, http.MethodGet, uri, nil, adminclient.PrintList)
		},
	}
	list.Flags().String("consumer", "", "Only the keys of the consumer of this `name` (default: every consumer)")
	return list
}

func showKeyCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "show <id>",
		Short:   "Shows one key (never its secret)",
		Long:    `Shows the fields of one key, by the id that create, list and rotate print.`,
		Example: `  caddy api-key show cr5Mgdb3sWew`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return adminclient.Run(c, http.MethodGet, "/api_gateway/keys/"+url.PathEscape(args[0]), nil, adminclient.PrintKey)
		},
	}
}

func rotateKeyCommand() *cobra.Command {
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
					return adminclient.Error(c, err)
				}
				body["grace"] = grace
			}
			return adminclient.Run(c, http.MethodPost, "/api_gateway/keys/"+url.PathEscape(args[0])+"/rotate", body, adminclient.PrintKey)
		},
	}
	rotate.Flags().String("grace", "", "How long the old key keeps working, a `duration` such as 24h or 0s (default: the keys { grace } setting, 168h unless set)")
	return rotate
}

func revokeKeyCommand() *cobra.Command {
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
			return adminclient.Run(c, http.MethodDelete, uri, nil, adminclient.PrintKey)
		},
	}
	revoke.Flags().Bool("keep-successors", false, "Revoke this key alone: the keys it was rotated into keep working")
	return revoke
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

// parseMeta reads the values of --meta: name=value pairs, each name once,
// valid as keystore.ValidateMetadata says. It is given what a user typed
// (FuzzParseMeta).
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
	// The admin API checks them too: here the error names the flag before
	// anything is sent.
	if err := keystore.ValidateMetadata(md); err != nil {
		return nil, fmt.Errorf("--meta: %w", err)
	}
	return md, nil
}
