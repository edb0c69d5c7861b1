package apigate

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"

	"github.com/apigate/caddy-apigate/internal/adminclient"
	"github.com/apigate/caddy-apigate/monitor"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// `caddy api-gateway`: what the gateway itself reports (the routes api_monitor
// watches), through the admin API.

func init() {
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
	adminclient.Flags(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "routes",
		Short: "Lists the monitored routes with their live numbers and state",
		Long: `Lists every route an api_monitor watches, with its window, the requests
in it, its upstream error rate, p50/p90/p99 latency and its state: healthy,
or degraded with the reason (error_rate or latency). The admin API's
GET /api_gateway/routes answers the same, as JSON with --json.`,
		Example: `  caddy api-gateway routes
  caddy api-gateway routes --json --address 127.0.0.1:2019`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return adminclient.Run(c, http.MethodGet, "/api_gateway/routes", nil, printRoutes)
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
