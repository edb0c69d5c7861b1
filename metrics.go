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
	idpRequests     = gateway.IdPRequests
	handlerDuration = gateway.HandlerDuration
)

func buildMetrics() {}

// registerMetrics registers the plugin's collectors with the registry of ctx.
func registerMetrics(ctx caddy.Context, collectors ...prometheus.Collector) error {
	return gateway.RegisterMetrics(ctx, collectors...)
}

// Collectors of api_rate_limit and of the lockout of api_auth.
var (
	rateLimitMetricsOnce sync.Once

	// rateLimitRejected counts the requests api_rate_limit rejected, by zone
	// (a configured name, never a key).
	rateLimitRejected *prometheus.CounterVec
	// rateLimitBackendErrors counts the failed calls to the shared backend.
	rateLimitBackendErrors prometheus.Counter
	// authLockouts counts the client addresses api_auth locked out.
	authLockouts prometheus.Counter
)

func rateLimitCollectors() []prometheus.Collector {
	rateLimitMetricsOnce.Do(func() {
		rateLimitRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "apigate", Name: "rate_limit_rejected_total",
			Help: "Requests api_rate_limit rejected, by zone.",
		}, []string{"zone"})
		rateLimitBackendErrors = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "apigate", Name: "rate_limit_backend_errors_total",
			Help: "Failed calls to the shared rate limit backend (Redis).",
		})
		authLockouts = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "apigate", Name: "auth_lockouts_total",
			Help: "Client addresses api_auth locked out after failed authentications.",
		})
	})
	return []prometheus.Collector{rateLimitRejected, rateLimitBackendErrors, authLockouts}
}
