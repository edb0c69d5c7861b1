package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Mode is how a rule handler acts on a request it would refuse.
type Mode string

// The modes of api_authorize, api_rate_limit, api_inspect and api_openapi.
const (
	// Enforce refuses the request (the default).
	Enforce Mode = "enforce"
	// Report lets the request pass on and records the refusal it would have
	// made: a log line, decisions_total{outcome="report"}, a would_reject entry
	// in the audit record and on the trace span.
	Report Mode = "report"
)

// Validate checks the mode; the empty mode is Enforce.
func (m Mode) Validate() error {
	switch m {
	case "", Enforce, Report:
		return nil
	}
	return modeError(string(m))
}

// modeError is the one wording of a mode that is not one.
func modeError(s string) error {
	return fmt.Errorf("mode %q: want enforce or report", s)
}

// Gate is one handler's door, built at provision time: it counts what the
// handler lets through and is the one path by which the handler refuses a
// request. A refusal writes the problem+json answer, records the decision for
// the audit record, counts it, tags the trace span and logs it; in report mode
// it does all but the answer, and the handler passes the request on.
type Gate struct {
	handler  string
	report   bool
	logger   *zap.Logger
	allowed  prometheus.Counter
	reported prometheus.Counter
	latency  prometheus.Observer
}

// NewGate registers the plugin's collectors with ctx's registry and returns
// the gate of handler (api_auth, api_authorize, ...). Handlers without a mode
// (api_auth, api_cache) pass Enforce.
func NewGate(ctx caddy.Context, handler string, mode Mode) (*Gate, error) {
	if err := mode.Validate(); err != nil {
		return nil, err
	}
	if err := RegisterMetrics(ctx); err != nil {
		return nil, err
	}
	return &Gate{
		handler:  handler,
		report:   mode == Report,
		logger:   ctx.Logger(),
		allowed:  Decisions.WithLabelValues(handler, "allowed"),
		reported: Decisions.WithLabelValues(handler, "report"),
		latency:  HandlerDuration.WithLabelValues(handler),
	}, nil
}

// Handler is the name of the gate's handler.
func (g *Gate) Handler() string { return g.handler }

// Reporting reports whether the gate is in report mode.
func (g *Gate) Reporting() bool { return g.report }

// Pass counts a request the handler lets through and the time it spent on it
// since start. It does not allocate.
func (g *Gate) Pass(start time.Time) {
	g.allowed.Inc()
	g.latency.Observe(time.Since(start).Seconds())
}

// Answer is a refusal a handler can make, built once at provision time so that
// refusing costs no rendering and no metric label lookup.
type Answer struct {
	Status int
	// Reason names the refusal in metrics, logs and the audit record: a fixed
	// word, never request data.
	Reason string
	// Body is the rendered problem+json document.
	Body []byte
	// Header holds static headers of the answer (WWW-Authenticate), in
	// canonical form.
	Header http.Header

	decision *Decision
	rejected prometheus.Counter
	decided  prometheus.Counter
}

// Answer builds a refusal of this gate's handler: status, a fixed reason word
// and the detail shown to the client; header is a list of name, value pairs
// sent with it.
func (g *Gate) Answer(status int, reason, detail string, header ...string) *Answer {
	a := &Answer{
		Status:   status,
		Reason:   reason,
		Body:     ProblemBody(status, detail),
		decision: &Decision{Handler: g.handler, Reason: reason},
		rejected: Rejections.WithLabelValues(g.handler, reason),
		decided:  Decisions.WithLabelValues(g.handler, reason),
	}
	if len(header) > 0 {
		a.Header = make(http.Header, len(header)/2)
		for i := 0; i+1 < len(header); i += 2 {
			a.Header.Set(header[i], header[i+1])
		}
	}
	return a
}

// Extra is what a refusal adds to its Answer for one request.
type Extra struct {
	// RetryAfter, when positive, is sent as Retry-After in seconds.
	RetryAfter int
	// Body, when set, replaces the answer's body (a detail that depends on the
	// request, such as which injection was found).
	Body []byte
	// Header holds more name, value pairs of headers for this answer.
	Header []string
}

// Reject refuses r with a. In enforce mode it writes the answer and returns
// done; in report mode it records what it would have done and returns
// done=false, and the caller passes r on:
//
//	if done, err := g.Reject(w, r, answer); done {
//		return err
//	}
func (g *Gate) Reject(w http.ResponseWriter, r *http.Request, a *Answer) (done bool, err error) {
	return g.RejectWith(w, r, a, Extra{})
}

// RejectWith is Reject with what the answer adds for this request.
func (g *Gate) RejectWith(w http.ResponseWriter, r *http.Request, a *Answer, x Extra) (done bool, err error) {
	span := trace.SpanFromContext(r.Context())
	if g.report {
		g.reported.Inc()
		ds, _ := caddyhttp.GetVar(r.Context(), wouldRejectVar).([]Decision)
		caddyhttp.SetVar(r.Context(), wouldRejectVar, append(ds, *a.decision))
		if span.IsRecording() {
			span.SetAttributes(
				attribute.String("apigate.would_reject.handler", g.handler),
				attribute.String("apigate.would_reject.reason", a.Reason),
			)
		}
		if c := g.logger.Check(zapcore.InfoLevel, "request would be rejected (report mode)"); c != nil {
			c.Write(zap.String("handler", g.handler), zap.String("reason", a.Reason), zap.Int("status", a.Status))
		}
		return false, nil
	}
	caddyhttp.SetVar(r.Context(), decisionVar, a.decision)
	a.decided.Inc()
	a.rejected.Inc()
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("apigate.decision", "rejected"),
			attribute.String("apigate.handler", g.handler),
			attribute.String("apigate.reason", a.Reason),
		)
	}
	if c := g.logger.Check(zapcore.DebugLevel, "request rejected"); c != nil {
		c.Write(zap.String("handler", g.handler), zap.String("reason", a.Reason), zap.Int("status", a.Status))
	}
	h := w.Header()
	for name, vals := range a.Header {
		h[name] = vals
	}
	for i := 0; i+1 < len(x.Header); i += 2 {
		h.Set(x.Header[i], x.Header[i+1])
	}
	if x.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(x.RetryAfter))
	}
	body := a.Body
	if x.Body != nil {
		body = x.Body
	}
	return true, WriteProblem(w, a.Status, body)
}
