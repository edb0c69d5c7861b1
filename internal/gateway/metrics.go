package gateway

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// The plugin's collectors shared by every handler. They are built once, with
// the process, and registered with Caddy's metrics registry on every Provision
// (RegisterMetrics), so they survive config reloads. No label ever holds a key,
// a token, a consumer or a client address.
var (
	// Decisions counts the answers of every handler: handler is api_auth,
	// api_authorize, ...; outcome is allowed, report (a rule in report mode
	// would have refused), or the reason of a refusal (a fixed vocabulary).
	Decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "apigate", Name: "decisions_total",
		Help: "Decisions of the caddy-apigate handlers, by handler and outcome.",
	}, []string{"handler", "outcome"})

	// Rejections counts the requests the handlers refused, by handler and
	// reason (Gate.Reject).
	Rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "apigate", Name: "rejections_total",
		Help: "Requests refused by the caddy-apigate handlers, by handler and reason.",
	}, []string{"handler", "reason"})

	// HandlerDuration is the latency a handler adds to a request: the time it
	// spends before passing the request on.
	HandlerDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "apigate", Name: "handler_duration_seconds",
		Help:    "Latency added by the caddy-apigate handlers, by handler.",
		Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1},
	}, []string{"handler"})

	// KeyEvents counts key life cycle events (key.created, key.rotated, ...)
	// by type.
	KeyEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "apigate", Name: "key_events_total",
		Help: "Key life cycle events (key.created, key.rotated, key.revoked, key.expiring, key.expired, key.used_in_grace), by type.",
	}, []string{"type"})

	// IdPRequests counts the gateway's requests to identity providers: kind is
	// jwks or introspect; result is ok or error.
	IdPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "apigate", Name: "idp_requests_total",
		Help: "Requests of the gateway to identity providers (JWKS fetches, token introspection), by kind and result.",
	}, []string{"kind", "result"})
)

// NewCounter returns a counter named caddy_apigate_<name>, for a capability's
// own collectors (build them once, in a package variable, and pass them to
// RegisterMetrics).
func NewCounter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "caddy", Subsystem: "apigate", Name: name, Help: help})
}

// NewCounterVec returns a counter vector named caddy_apigate_<name>.
func NewCounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "caddy", Subsystem: "apigate", Name: name, Help: help}, labels)
}

// RegisterMetrics registers the shared collectors, and a capability's own
// ones, with the metrics registry of ctx. Registering one again (every
// Provision does) is not an error.
func RegisterMetrics(ctx caddy.Context, extra ...prometheus.Collector) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	shared := []prometheus.Collector{Decisions, Rejections, HandlerDuration, KeyEvents, IdPRequests}
	for _, c := range append(shared, extra...) {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}
