package inspect

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// TestInspectReportMode: every request the checks refuse in enforce mode
// passes in report mode, with its body as it was read (decoded when it was
// compressed), and the refusal is recorded as a would_reject of
// api_inspect, counted as outcome="report", and written to the audit
// record, which still says allowed.
func TestInspectReportMode(t *testing.T) {
	cfg := func(mode gateway.Mode) *Inspect {
		return &Inspect{MaxBody: 1 << 10, JSONDepth: 4, ContentTypes: []string{"application/json", "application/x-www-form-urlencoded"},
			Block: []string{"sqli", "xss"}, Mode: mode, Audit: &AuditConfig{}}
	}
	enforce, report := provisionInspect(t, cfg(gateway.Enforce)), provisionInspect(t, cfg(gateway.Report))
	core, logs := observer.New(zapcore.InfoLevel)
	report.audit = zap.New(core)
	enforce.audit = zap.NewNop()
	long := `{"a":"` + strings.Repeat("x", 2<<10) + `"}`
	for _, c := range []struct {
		name, method, target, ctype, encoding, body string
		status                                      int
		reason                                      string
		upstream                                    string // the body the next handler reads in report mode
	}{
		{"path", "GET", "/admin;x=1/users", "", "", "", 400, "path_parameter", ""},
		{"method override", "POST", "/orders?_method=DELETE", "", "", "", 400, "method_override", ""},
		{"query injection", "GET", "/orders?q=%27%20OR%20%271%27%3D%271", "", "", "", 403, "sqli", ""},
		{"media type", "POST", "/orders", "text/plain", "", "hello", 415, "unsupported_media_type", "hello"},
		{"announced too large", "POST", "/orders", "application/json", "", long, 413, "body_too_large", long},
		{"injection in JSON", "POST", "/orders", "application/json", "", `{"q":"<script>alert(1)</script>","n":1}`, 403, "xss", `{"q":"<script>alert(1)</script>","n":1}`},
		{"too deep", "POST", "/orders", "application/json", "", `[[[[[1]]]]]`, 400, "json_too_deep", `[[[[[1]]]]]`},
		{"malformed JSON", "POST", "/orders", "application/json", "", `{"a":`, 400, "malformed_json", `{"a":`},
		{"gzip injection, passed decoded", "POST", "/orders", "application/json", "gzip", string(gzipped(t, `{"q":"' OR '1'='1"}`)), 403, "sqli", `{"q":"' OR '1'='1"}`},
		{"gzip too large, passed decoded whole", "POST", "/orders", "application/json", "gzip", string(gzipped(t, long)), 413, "body_too_large", long},
	} {
		run := func(in *Inspect) (*httptest.ResponseRecorder, *http.Request, bool, string) {
			r := newInspectRequest(context.Background(), c.method, c.target, c.ctype, c.body)
			if c.encoding != "" {
				r.Header.Set("Content-Encoding", c.encoding)
			}
			var called bool
			var got string
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				called = true
				b, err := io.ReadAll(r.Body)
				got = string(b)
				w.WriteHeader(http.StatusOK)
				return err
			})
			w := httptest.NewRecorder()
			if err := in.ServeHTTP(w, r, next); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			return w, r, called, got
		}
		w, _, called, _ := run(enforce)
		if w.Code != c.status || called {
			t.Errorf("%s: enforce: %d (next called %v), want %d", c.name, w.Code, called, c.status)
		}

		reported := gateway.Decisions.WithLabelValues("api_inspect", "report")
		before := testutil.ToFloat64(reported)
		logs.TakeAll()
		w, r, called, got := run(report)
		if w.Code != 200 || !called || got != c.upstream {
			t.Errorf("%s: report: %d (next called %v), the next handler read %.60q", c.name, w.Code, called, got)
		}
		wr := gateway.WouldRejectFrom(r)
		if len(wr) != 1 || wr[0] != (gateway.Decision{Handler: "api_inspect", Reason: c.reason}) {
			t.Errorf("%s: would_reject %+v, want api_inspect %s", c.name, wr, c.reason)
		}
		if d, ok := gateway.DecisionFrom(r); ok {
			t.Errorf("%s: report mode noted a decision %+v", c.name, d)
		}
		if n := testutil.ToFloat64(reported) - before; n != 1 {
			t.Errorf("%s: outcome=report counted %v times", c.name, n)
		}
		recs := logs.All()
		if len(recs) != 1 {
			t.Fatalf("%s: %d audit records", c.name, len(recs))
		}
		f := recs[0].ContextMap()
		want := []any{map[string]any{"handler": "api_inspect", "reason": c.reason}}
		if f["decision"] != "allowed" || f["status"] != int64(200) || !equalJSONish(f["would_reject"], want) {
			t.Errorf("%s: audit record decision %v, status %v, would_reject %v", c.name, f["decision"], f["status"], f["would_reject"])
		}
		if c.upstream != "" && f["bytes_in"] != int64(len(c.upstream)) {
			t.Errorf("%s: bytes_in %v, want %d", c.name, f["bytes_in"], len(c.upstream))
		}
	}
}

func equalJSONish(a, b any) bool {
	as, bs := strings.NewReplacer(" ", "").Replace(toString(a)), strings.NewReplacer(" ", "").Replace(toString(b))
	return as == bs
}

func toString(v any) string {
	var sb strings.Builder
	switch v := v.(type) {
	case []any:
		sb.WriteString("[")
		for _, e := range v {
			sb.WriteString(toString(e) + ";")
		}
		sb.WriteString("]")
	case map[string]any:
		sb.WriteString("{handler=" + toString(v["handler"]) + ",reason=" + toString(v["reason"]) + "}")
	case string:
		sb.WriteString(v)
	case nil:
		sb.WriteString("<nil>")
	default:
		sb.WriteString("?")
	}
	return sb.String()
}

// TestInspectReportModeSlowBody: in report mode a body that falls behind
// min_upload_rate is read on, streamed or held, and recorded.
func TestInspectReportModeSlowBody(t *testing.T) {
	in := provisionInspect(t, &Inspect{MaxBody: 1 << 20, MinUploadRate: 100, UploadGrace: caddy.Duration(50 * time.Millisecond), Mode: gateway.Report})
	for _, ctype := range []string{"application/octet-stream", "application/x-www-form-urlencoded"} {
		r := newInspectRequest(context.Background(), "POST", "/upload", ctype, "")
		r.Body = &slowBody{left: 10, interval: 20 * time.Millisecond}
		r.ContentLength = 10
		status, _, body := inspectOnce(t, in, r)
		if status != 200 || body != "1111111111" {
			t.Errorf("%s: %d %q", ctype, status, body)
		}
		if wr := gateway.WouldRejectFrom(r); len(wr) != 1 || wr[0].Reason != "body_timeout" {
			t.Errorf("%s: would_reject %+v", ctype, wr)
		}
	}
}

// TestInspectReportModeStillMasks: masking is no check, and a response that
// cannot be masked is refused in report mode too, as a rejection.
func TestInspectReportModeStillMasks(t *testing.T) {
	in := provisionInspect(t, &Inspect{Mask: &MaskConfig{Email: true}, Mode: gateway.Report})
	for _, c := range []struct {
		status  int
		header  string
		body    string
		want    int
		reason  string
		passing string
	}{
		{200, "", `{"e":"ann@example.com"}`, 200, "", `{"e":"***@example.com"}`},
		{206, "", `{"e":"ann@example.com"}`, 502, "response_partial", ""},
		{200, "br", `ann@example.com`, 502, "response_encoding", ""},
	} {
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if c.header != "" {
				w.Header().Set("Content-Encoding", c.header)
			}
			w.WriteHeader(c.status)
			_, err := io.WriteString(w, c.body)
			return err
		})
		r := newInspectRequest(context.Background(), "GET", "/x", "", "")
		w := httptest.NewRecorder()
		if err := in.ServeHTTP(w, r, next); err != nil {
			t.Fatal(err)
		}
		if w.Code != c.want || strings.Contains(w.Body.String(), "ann@") || c.passing != "" && w.Body.String() != c.passing {
			t.Errorf("%d %s: %d %q", c.status, c.header, w.Code, w.Body.String())
		}
		d, ok := gateway.DecisionFrom(r)
		if c.reason != "" && (!ok || d.Reason != c.reason) || c.reason == "" && ok {
			t.Errorf("%d %s: decision %+v (%v)", c.status, c.header, d, ok)
		}
	}
}

// TestAuditOtherHandlersGates: the audit record shows the refusal of a
// handler after api_inspect (rejected, with its handler and reason), and the
// refusals handlers in report mode would have made (would_reject).
func TestAuditOtherHandlersGates(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	authz, err := gateway.NewGate(ctx, "api_authorize", gateway.Enforce)
	if err != nil {
		t.Fatal(err)
	}
	limits, err := gateway.NewGate(ctx, "api_rate_limit", gateway.Report)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := authz.Answer(http.StatusForbidden, "insufficient_scope", "no", "WWW-Authenticate", gateway.ChallengeBare)
	limited := limits.Answer(http.StatusTooManyRequests, "rate_limited", "slow down")

	in := provisionInspect(t, &Inspect{Audit: &AuditConfig{}})
	core, logs := observer.New(zapcore.InfoLevel)
	in.audit = zap.New(core)
	for _, c := range []struct {
		name                      string
		limit, refuse             bool
		status                    int
		decision, handler, reason string
		wouldReject               []any
	}{
		{"allowed", false, false, 200, "allowed", "", "", nil},
		{"refused by api_authorize", false, true, 403, "rejected", "api_authorize", "insufficient_scope", nil},
		{"reported by api_rate_limit, then refused", true, true, 403, "rejected", "api_authorize", "insufficient_scope",
			[]any{map[string]any{"handler": "api_rate_limit", "reason": "rate_limited"}}},
		{"reported by api_rate_limit", true, false, 200, "allowed", "", "",
			[]any{map[string]any{"handler": "api_rate_limit", "reason": "rate_limited"}}},
	} {
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if c.limit {
				if done, err := limits.RejectWith(w, r, limited, gateway.Extra{RetryAfter: 3}); done {
					return err
				}
			}
			if c.refuse {
				if done, err := authz.Reject(w, r, forbidden); done {
					return err
				}
			}
			w.WriteHeader(http.StatusOK)
			return nil
		})
		logs.TakeAll()
		w := httptest.NewRecorder()
		if err := in.ServeHTTP(w, newInspectRequest(context.Background(), "GET", "/orders", "", ""), next); err != nil {
			t.Fatal(err)
		}
		recs := logs.All()
		if len(recs) != 1 || w.Code != c.status {
			t.Fatalf("%s: %d records, status %d", c.name, len(recs), w.Code)
		}
		f := recs[0].ContextMap()
		if f["status"] != int64(c.status) || f["decision"] != c.decision || f["handler"] != c.handler || f["reason"] != c.reason {
			t.Errorf("%s: status %v decision %v handler %v reason %v", c.name, f["status"], f["decision"], f["handler"], f["reason"])
		}
		if wr, ok := f["would_reject"]; c.wouldReject == nil && ok || c.wouldReject != nil && !equalJSONish(wr, c.wouldReject) {
			t.Errorf("%s: would_reject %v (present %v)", c.name, wr, ok)
		}
	}
}
