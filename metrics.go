package apigate

import (
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// The shared collectors live in internal/gateway; these names are the
// transition's, until every handler has moved to its capability folder.
var (
	metricsOnce     sync.Once
	decisions       = gateway.Decisions
	keyEvents       = gateway.KeyEvents
	handlerDuration = gateway.HandlerDuration
)

func buildMetrics() {}

// registerMetrics registers the plugin's collectors with the registry of ctx.
func registerMetrics(ctx caddy.Context, collectors ...prometheus.Collector) error {
	return gateway.RegisterMetrics(ctx, collectors...)
}
