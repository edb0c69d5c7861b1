package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func newGate(t *testing.T, handler string, mode Mode) *Gate {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	g, err := NewGate(ctx, handler, mode)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{})
	return r.WithContext(ctx)
}

func TestGateEnforce(t *testing.T) {
	g := newGate(t, "test_enforce", Enforce)
	a := g.Answer(http.StatusTooManyRequests, "limited", "slow down", "WWW-Authenticate", ChallengeBare)
	before := testutil.ToFloat64(Rejections.WithLabelValues("test_enforce", "limited"))
	r := request()
	w := httptest.NewRecorder()
	done, err := g.RejectWith(w, r, a, Extra{RetryAfter: 7, Header: []string{"X-Extra", "1"}})
	if !done || err != nil {
		t.Fatalf("done=%v err=%v, want done", done, err)
	}
	if w.Code != http.StatusTooManyRequests {
		t.Errorf("status %d", w.Code)
	}
	for name, want := range map[string]string{
		"Content-Type":     "application/problem+json",
		"Retry-After":      "7",
		"Www-Authenticate": ChallengeBare,
		"X-Extra":          "1",
		"Cache-Control":    "no-store",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if d, ok := DecisionFrom(r); !ok || d.Handler != "test_enforce" || d.Reason != "limited" {
		t.Errorf("decision = %+v, %v", d, ok)
	}
	if got := testutil.ToFloat64(Rejections.WithLabelValues("test_enforce", "limited")); got != before+1 {
		t.Errorf("rejections = %v, want %v", got, before+1)
	}
	if len(WouldRejectFrom(r)) != 0 {
		t.Error("enforce mode noted a would_reject")
	}
}

// TestGateReport: in report mode a refusal writes nothing and the request
// passes; the refusal is in the request's would_reject list (the audit
// record), counted as outcome="report" (not as a rejection), logged at info
// and set on the trace span.
func TestGateReport(t *testing.T) {
	g := newGate(t, "test_report", Report)
	core, logs := observer.New(zapcore.InfoLevel)
	g.logger = zap.New(core)
	a := g.Answer(http.StatusForbidden, "insufficient_scope", "no")
	b := g.Answer(http.StatusForbidden, "ip_not_allowed", "no")
	spans := tracetest.NewSpanRecorder()
	ctx, span := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)).Tracer("test").Start(context.Background(), "request")
	r := request()
	r = r.WithContext(trace.ContextWithSpan(r.Context(), trace.SpanFromContext(ctx)))
	w := httptest.NewRecorder()
	for _, ans := range []*Answer{a, b} {
		if done, err := g.Reject(w, r, ans); done || err != nil {
			t.Fatalf("report mode: done=%v err=%v, want the request to pass", done, err)
		}
	}
	span.End()
	attrs := map[string]string{}
	for _, kv := range spans.Ended()[0].Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["apigate.would_reject.handler"] != "test_report" || attrs["apigate.would_reject.reason"] != "ip_not_allowed" || attrs["apigate.decision"] != "" {
		t.Errorf("span attributes %v", attrs)
	}
	lines := logs.FilterMessage("request would be rejected (report mode)").AllUntimed()
	if len(lines) != 2 || lines[0].ContextMap()["handler"] != "test_report" || lines[0].ContextMap()["reason"] != "insufficient_scope" {
		t.Errorf("report mode log lines: %+v", lines)
	}
	if w.Code != http.StatusOK || w.Body.Len() != 0 || len(w.Header()) != 0 {
		t.Errorf("report mode wrote an answer: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	if _, ok := DecisionFrom(r); ok {
		t.Error("report mode recorded a rejection")
	}
	got := WouldRejectFrom(r)
	if len(got) != 2 || got[0].Reason != "insufficient_scope" || got[1].Reason != "ip_not_allowed" || got[0].Handler != "test_report" {
		t.Errorf("would_reject = %+v", got)
	}
	if n := testutil.ToFloat64(Decisions.WithLabelValues("test_report", "report")); n != 2 {
		t.Errorf(`decisions{outcome="report"} = %v, want 2`, n)
	}
	if n := testutil.ToFloat64(Rejections.WithLabelValues("test_report", "insufficient_scope")); n != 0 {
		t.Errorf("report mode counted a rejection: %v", n)
	}
}

func TestModeValidate(t *testing.T) {
	for _, m := range []Mode{"", Enforce, Report} {
		if err := m.Validate(); err != nil {
			t.Errorf("%q: %v", m, err)
		}
	}
	if err := Mode("shadow").Validate(); err == nil {
		t.Error("mode shadow accepted")
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if _, err := NewGate(ctx, "x", "shadow"); err == nil {
		t.Error("NewGate accepted mode shadow")
	}
}

// The allowed path and an enforced refusal must not allocate: every request
// goes through one of them.
func TestGateAllocations(t *testing.T) {
	g := newGate(t, "test_allocs", Enforce)
	g.logger = zap.NewNop() // Caddy's default level, info, leaves the debug line unbuilt too
	a := g.Answer(http.StatusUnauthorized, "unknown", "no", "WWW-Authenticate", ChallengeInvalid)
	start := time.Now()
	if n := testing.AllocsPerRun(100, func() { g.Pass(start) }); n != 0 {
		t.Errorf("Pass allocates %v times", n)
	}
	r := request()
	w := discard{h: http.Header{}}
	// The refusal costs what writing its answer costs (the header values),
	// nothing more: no rendering, no label lookup, no decision record.
	plain := testing.AllocsPerRun(100, func() {
		clear(w.h)
		w.h.Set("WWW-Authenticate", ChallengeInvalid)
		_ = WriteProblem(w, a.Status, a.Body)
	})
	n := testing.AllocsPerRun(100, func() {
		clear(w.h)
		_, _ = g.Reject(w, r, a)
	})
	if n > plain {
		t.Errorf("Reject allocates %v times, writing the answer alone %v", n, plain)
	}
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}

func TestClientIPAndIdentity(t *testing.T) {
	r := request()
	caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, "::ffff:10.1.2.3")
	if got := ClientIP(r).String(); got != "10.1.2.3" {
		t.Errorf("ClientIP = %s", got)
	}
	caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, "not an address")
	if ClientIP(r).IsValid() {
		t.Error("ClientIP of garbage is valid")
	}
	if IdentityFrom(r) != nil {
		t.Error("identity before SetIdentity")
	}
	id := &Identity{Consumer: "shop", Scopes: []string{"a", "b"}}
	SetIdentity(r, id)
	if IdentityFrom(r) != id {
		t.Error("identity not kept")
	}
	if !id.HasAll([]string{"a", "b"}) || id.HasAll([]string{"c"}) || !id.HasAny(nil) || !id.HasAny([]string{"c", "b"}) {
		t.Error("scope checks wrong")
	}
	var none *Identity
	if none.HasScope("a") {
		t.Error("nil identity holds a scope")
	}
}
