package apigate

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/apigate/caddy-apigate/cache"
	"github.com/apigate/caddy-apigate/internal/adminclient"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "api-cache",
		Usage: "purge [--path <path>] [--address <admin>]",
		Short: "Purges the response cache of a running caddy-apigate",
		Long: `
Purges the api_cache response cache of a running Caddy through its admin
API (DELETE /api_gateway/cache), as 'caddy reload' does. The admin address
is taken from --address, else from the config given with --config, else the
default localhost:2019.

  caddy api-cache purge               # every stored response
  caddy api-cache purge --path /x     # the responses of one path
`,
		CobraFunc: apiCacheCommand,
	})
}

func apiCacheCommand(cmd *cobra.Command) {
	adminclient.Flags(cmd)

	purge := &cobra.Command{
		Use:   "purge [--path <path>]",
		Short: "Purges every stored response, or those of one path",
		Long: `Purges the responses every api_cache of the running Caddy stored: all of
them, or with --path those of one path, whatever the host, query and
consumer. The next request of a purged path goes to the upstream.`,
		Example: `  caddy api-cache purge
  caddy api-cache purge --path /orders/42`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			uri := "/api_gateway/cache"
			if path, _ := c.Flags().GetString("path"); path != "" {
				if !cache.ValidPurgePath(path) {
					return adminclient.Error(c, fmt.Errorf("--path must start with / and hold no control characters"))
				}
				uri += "?path=" + url.QueryEscape(path)
			}
			return adminclient.Run(c, http.MethodDelete, uri, nil, printPurge)
		},
	}
	purge.Flags().String("path", "", "Only the responses of this `path` (any host, query and consumer; default: every response)")
	cmd.AddCommand(purge)
}

func printPurge(w io.Writer, data []byte) error {
	var ans purgeAnswer
	if err := json.Unmarshal(data, &ans); err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	_, err := fmt.Fprintf(w, "purged %s (%d stores)\n", ans.Purged, ans.Stores)
	return err
}
