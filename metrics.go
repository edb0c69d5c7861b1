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

	// idpRequests counts the gateway's requests to identity providers: kind is
	// jwks or introspect; result is ok or error.
	idpRequests *prometheus.CounterVec
)

func buildMetrics() {
	decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "apigate",
		Name:      "decisions_total",
		Help:      "Decisions of the caddy-apigate handlers, by handler and outcome.",
	}, []string{"handler", "outcome"})
	idpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "apigate",
		Name:      "idp_requests_total",
		Help:      "Requests of the gateway to identity providers (JWKS fetches, token introspection), by kind and result.",
	}, []string{"kind", "result"})
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
