package gateway

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Decision is a handler's refusal of a request, or in report mode the refusal
// it would have made.
type Decision struct {
	// Handler is the handler that decided: api_inspect, api_auth, ...
	Handler string
	// Reason is why, from the handler's fixed vocabulary (never request data).
	Reason string
}

// Request variables in which the handlers note their decisions, for the audit
// record that api_inspect writes once the handlers after it have run.
const (
	decisionVar    = "apigate.decision"
	wouldRejectVar = "apigate.would_reject"
)

// DecisionFrom returns the refusal noted in r, if any.
func DecisionFrom(r *http.Request) (Decision, bool) {
	d, ok := caddyhttp.GetVar(r.Context(), decisionVar).(*Decision)
	if !ok || d == nil {
		return Decision{}, false
	}
	return *d, true
}

// WouldRejectFrom returns the refusals handlers in report mode would have made
// of r, in the order they were made.
func WouldRejectFrom(r *http.Request) []Decision {
	ds, _ := caddyhttp.GetVar(r.Context(), wouldRejectVar).([]Decision)
	return ds
}

// AnnotateIdentity adds the caller to the request's trace span, when Caddy's
// tracing is on.
func AnnotateIdentity(r *http.Request, id *Identity) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		attribute.String("apigate.consumer", id.Consumer),
		attribute.String("apigate.key_id", id.KeyID),
		attribute.String("apigate.auth_method", id.Method),
	)
}

// AnnotateAllowed marks the request's trace span as allowed when no handler
// refused it (a refusal marked it already).
func AnnotateAllowed(r *http.Request) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	if _, rejected := DecisionFrom(r); !rejected {
		span.SetAttributes(attribute.String("apigate.decision", "allowed"))
	}
}
