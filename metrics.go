package apigate

import (
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/apigate/caddy-apigate/internal/gateway"
	"github.com/apigate/caddy-apigate/limiter"
)

// The shared collectors live in internal/gateway; these names are the
// transition's, until every handler has moved to its capability folder.
var (
	metricsOnce     sync.Once
	decisions       = gateway.Decisions
	keyEvents       = gateway.KeyEvents
	idpRequests     = gateway.IdPRequests
	handlerDuration = gateway.HandlerDuration
)

func buildMetrics() {}

// registerMetrics registers the plugin's collectors with the registry of ctx.
func registerMetrics(ctx caddy.Context, collectors ...prometheus.Collector) error {
	return gateway.RegisterMetrics(ctx, collectors...)
}

// The collector of the lockout of api_auth.
var (
	authLockoutMetricsOnce sync.Once

	// authLockouts counts the client addresses api_auth locked out.
	authLockouts prometheus.Counter
)

func authLockoutCollectors() []prometheus.Collector {
	authLockoutMetricsOnce.Do(func() {
		authLockouts = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "apigate", Name: "auth_lockouts_total",
			Help: "Client addresses api_auth locked out after failed authentications.",
		})
	})
	return []prometheus.Collector{authLockouts, limiter.BackendErrors}
}
