package apigate

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// decision is a handler's refusal of a request.
type decision = gateway.Decision

// recordDecision notes that handler refused r for reason (transition: the
// moved handlers refuse through a gateway.Gate).
func recordDecision(r *http.Request, handler, reason string) {
	gateway.NoteDecision(r, handler, reason)
}

// decisionFrom returns the refusal noted in r, if any.
func decisionFrom(r *http.Request) (decision, bool) { return gateway.DecisionFrom(r) }

// latencyObserver returns the caddy_apigate_handler_duration_seconds series of
// handler, looked up once at provision time. Call it after registerMetrics.
func latencyObserver(handler string) prometheus.Observer {
	return handlerDuration.WithLabelValues(handler)
}

// observeSince records the time a handler spent on a request since start,
// when it passes the request on.
func observeSince(o prometheus.Observer, start time.Time) {
	if o != nil {
		o.Observe(time.Since(start).Seconds())
	}
}

// identityFrom returns the identity api_auth established for r, or nil.
func identityFrom(r *http.Request) *gateway.Identity { return gateway.IdentityFrom(r) }

// clientIP returns the client address Caddy determined, or the zero Addr.
func clientIP(r *http.Request) netip.Addr { return gateway.ClientIP(r) }
