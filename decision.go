package apigate

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// decisionVar is the request variable in which the plugin's handlers note
// which of them refused a request and why, for the audit record (api_inspect
// reads it once the handlers after it have run: the vars map is shared).
const decisionVar = "apigate.decision"

// decision is a handler's refusal of a request.
type decision struct {
	// Handler is the handler that decided: api_inspect, api_auth, ...
	Handler string
	// Reason is why, from the handler's fixed vocabulary (never request data).
	Reason string
}

// recordDecision notes that handler refused r for reason: in the request
// (for the audit record), in caddy_apigate_rejections_total and on the
// request's trace span. Every handler of the plugin calls it where it
// refuses a request; it costs a map write and a counter increment.
func recordDecision(r *http.Request, handler, reason string) {
	caddyhttp.SetVar(r.Context(), decisionVar, decision{Handler: handler, Reason: reason})
	if rejections != nil {
		rejections.WithLabelValues(handler, reason).Inc()
	}
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		span.SetAttributes(
			attribute.String("apigate.decision", "rejected"),
			attribute.String("apigate.handler", handler),
			attribute.String("apigate.reason", reason),
		)
	}
}

// decisionFrom returns the refusal noted in r, if any.
func decisionFrom(r *http.Request) (decision, bool) {
	d, ok := caddyhttp.GetVar(r.Context(), decisionVar).(decision)
	return d, ok
}

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
