package apigate

import (
	"errors"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are built once and registered with Caddy's metrics registry on every
// Provision, so they survive config reloads. No label ever holds a key, a token,
// a consumer or a client address.
var (
	metricsOnce sync.Once

	// decisions counts the answers of every handler of the plugin: handler is
	// api_auth, api_authorize, ...; outcome is allowed or the reason of a
	// rejection (a fixed vocabulary, never request data).
	decisions *prometheus.CounterVec
)

func buildMetrics() {
	decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "apigate",
		Name:      "decisions_total",
		Help:      "Decisions of the caddy-apigate handlers, by handler and outcome.",
	}, []string{"handler", "outcome"})
}

// registerMetrics registers the plugin's collectors with the registry of ctx.
func registerMetrics(ctx caddy.Context, collectors ...prometheus.Collector) error {
	metricsOnce.Do(buildMetrics)
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range append([]prometheus.Collector{decisions}, collectors...) {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
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
