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

	// rejections counts the requests the plugin's handlers refused, by handler
	// and reason (recordDecision in decision.go).
	rejections *prometheus.CounterVec

	// handlerDuration is the latency a handler of the plugin adds to a request:
	// the time it spends before passing the request on or answering it.
	handlerDuration *prometheus.HistogramVec
)

func buildMetrics() {
	decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "apigate",
		Name:      "decisions_total",
		Help:      "Decisions of the caddy-apigate handlers, by handler and outcome.",
	}, []string{"handler", "outcome"})
	rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "apigate",
		Name:      "rejections_total",
		Help:      "Requests refused by the caddy-apigate handlers, by handler and reason.",
	}, []string{"handler", "reason"})
	handlerDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy",
		Subsystem: "apigate",
		Name:      "handler_duration_seconds",
		Help:      "Latency added by the caddy-apigate handlers, by handler.",
		Buckets:   []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1},
	}, []string{"handler"})
}

// registerMetrics registers the plugin's collectors with the registry of ctx.
func registerMetrics(ctx caddy.Context, collectors ...prometheus.Collector) error {
	metricsOnce.Do(buildMetrics)
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range append([]prometheus.Collector{decisions, rejections, handlerDuration}, collectors...) {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}
