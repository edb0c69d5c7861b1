package authz

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// provisioned returns az validated and provisioned as Caddy would.
func provisioned(t testing.TB, az *Authorize) *Authorize {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := az.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := az.Validate(); err != nil {
		t.Fatal(err)
	}
	return az
}

// newRequest builds a request as Caddy's server prepares it: a replacer and
// the vars map (with the client IP) in its context, and the caller id when it
// is not nil.
func newRequest(clientIP string, id *gateway.Identity) *http.Request {
	r := httptest.NewRequest("GET", "/orders", nil)
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: clientIP})
	r = r.WithContext(ctx)
	if id != nil {
		gateway.SetIdentity(r, id)
	}
	return r
}

// recordNext is the next handler: it records whether it was reached.
type recordNext struct{ called bool }

func (n *recordNext) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	n.called = true
	w.WriteHeader(http.StatusOK)
	return nil
}

var caller = &gateway.Identity{Consumer: "c", Scopes: []string{"orders:read", "support"}}

func TestAuthorizeHandler(t *testing.T) {
	tests := []struct {
		name   string
		az     Authorize
		id     *gateway.Identity
		ip     string
		want   int
		reason string
	}{
		{"no identity", Authorize{}, nil, "127.0.0.1", 401, "no_identity"},
		{"any identity", Authorize{}, caller, "127.0.0.1", 200, ""},
		{"all held", Authorize{All: []string{"orders:read"}}, caller, "127.0.0.1", 200, ""},
		{"all missing one", Authorize{All: []string{"orders:read", "orders:write"}}, caller, "127.0.0.1", 403, "insufficient_scope"},
		{"any held", Authorize{Any: []string{"admin", "support"}}, caller, "127.0.0.1", 200, ""},
		{"any none", Authorize{Any: []string{"admin", "ops"}}, caller, "127.0.0.1", 403, "insufficient_scope"},
		{"all and any", Authorize{All: []string{"orders:read"}, Any: []string{"admin"}}, caller, "127.0.0.1", 403, "insufficient_scope"},
		{"ip in", Authorize{IPs: []string{"10.0.0.0/8"}}, caller, "10.1.2.3", 200, ""},
		{"ip out", Authorize{IPs: []string{"10.0.0.0/8"}}, caller, "11.1.2.3", 403, "ip_not_allowed"},
		{"ip unknown", Authorize{IPs: []string{"10.0.0.0/8"}}, caller, "", 403, "ip_not_allowed"},
		{"ipv6", Authorize{IPs: []string{"2001:db8::/32"}}, caller, "2001:db8::5", 200, ""},
		{"mapped v4", Authorize{IPs: []string{"10.0.0.1"}}, caller, "::ffff:10.0.0.1", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			az := provisioned(t, &tt.az)
			r := newRequest(tt.ip, tt.id)
			w := httptest.NewRecorder()
			next := &recordNext{}
			if err := az.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.want || next.called != (tt.want == 200) {
				t.Fatalf("status %d (next called %v), want %d", w.Code, next.called, tt.want)
			}
			d, rejected := gateway.DecisionFrom(r)
			if rejected != (tt.reason != "") || d.Reason != tt.reason || (rejected && d.Handler != "api_authorize") {
				t.Errorf("decision %+v (%v), want reason %q", d, rejected, tt.reason)
			}
			if tt.want != 200 && w.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
			}
			challenge := w.Header().Get("WWW-Authenticate")
			switch tt.reason {
			case "no_identity":
				if challenge != gateway.ChallengeBare {
					t.Errorf("WWW-Authenticate %q", challenge)
				}
			case "insufficient_scope":
				if !strings.HasPrefix(challenge, `Bearer realm="api", error="insufficient_scope", scope="`) {
					t.Errorf("WWW-Authenticate %q", challenge)
				}
			}
		})
	}
}

func TestAuthorizeChallengeNamesScopes(t *testing.T) {
	az := provisioned(t, &Authorize{All: []string{"orders:read", "orders:write"}, Any: []string{"admin"}})
	w := httptest.NewRecorder()
	if err := az.ServeHTTP(w, newRequest("127.0.0.1", caller), &recordNext{}); err != nil {
		t.Fatal(err)
	}
	want := `Bearer realm="api", error="insufficient_scope", scope="orders:read orders:write admin"`
	if got := w.Header().Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate %q, want %q", got, want)
	}
	if body := w.Body.String(); !strings.Contains(body, "[orders:read orders:write] and one of [admin]") {
		t.Errorf("body %s", body)
	}
}

// TestAuthorizeReportMode: a request the rule would refuse passes on, nothing
// is written to it, and the refusal is recorded as a would_reject and counted
// as outcome="report".
func TestAuthorizeReportMode(t *testing.T) {
	az := provisioned(t, &Authorize{All: []string{"admin"}, IPs: []string{"10.0.0.0/8"}, Mode: gateway.Report})
	reported := gateway.Decisions.WithLabelValues("api_authorize", "report")
	rejected := gateway.Rejections.WithLabelValues("api_authorize", "insufficient_scope")
	before, rejectedBefore := testutil.ToFloat64(reported), testutil.ToFloat64(rejected)

	for _, tt := range []struct {
		name   string
		id     *gateway.Identity
		ip     string
		reason string
	}{
		{"no identity", nil, "10.0.0.1", "no_identity"},
		{"address", caller, "192.0.2.1", "ip_not_allowed"},
		{"scope", caller, "10.0.0.1", "insufficient_scope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(tt.ip, tt.id)
			w := httptest.NewRecorder()
			next := &recordNext{}
			if err := az.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			if !next.called || w.Code != http.StatusOK {
				t.Fatalf("report mode: status %d, next called %v", w.Code, next.called)
			}
			if h := w.Header().Get("WWW-Authenticate"); h != "" {
				t.Errorf("report mode sent WWW-Authenticate %q", h)
			}
			if d, ok := gateway.DecisionFrom(r); ok {
				t.Errorf("report mode recorded a rejection %+v", d)
			}
			got := gateway.WouldRejectFrom(r)
			if len(got) != 1 || got[0] != (gateway.Decision{Handler: "api_authorize", Reason: tt.reason}) {
				t.Errorf("would_reject %+v, want api_authorize %s", got, tt.reason)
			}
		})
	}
	if n := testutil.ToFloat64(reported) - before; n != 3 {
		t.Errorf(`decisions_total{outcome="report"} grew by %v, want 3`, n)
	}
	if n := testutil.ToFloat64(rejected) - rejectedBefore; n != 0 {
		t.Errorf("report mode counted %v rejections", n)
	}

	// A request the rule allows is not reported.
	ok := &gateway.Identity{Consumer: "root", Scopes: []string{"admin"}}
	r := newRequest("10.0.0.1", ok)
	if err := az.ServeHTTP(httptest.NewRecorder(), r, &recordNext{}); err != nil {
		t.Fatal(err)
	}
	if got := gateway.WouldRejectFrom(r); len(got) != 0 {
		t.Errorf("allowed request reported: %+v", got)
	}
}

// TestAuthorizeValidate: the JSON config is checked once, in the words the
// Caddyfile uses.
func TestAuthorizeValidate(t *testing.T) {
	for _, tt := range []struct {
		az   Authorize
		want string
	}{
		{Authorize{All: []string{"a,b"}}, `all: scope "a,b" contains a comma`},
		{Authorize{Any: []string{"scope=x"}}, `any: scope "scope=x" contains '='`},
		{Authorize{All: []string{"a b"}}, `scope "a b" is not valid`},
		{Authorize{IPs: []string{"10.0.0.0/33"}}, `ips: ip "10.0.0.0/33" is not an IP address or CIDR prefix`},
		{Authorize{Mode: "shadow"}, `mode "shadow": want enforce or report`},
	} {
		err := tt.az.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.az, err, tt.want)
		}
	}
	if err := (&Authorize{All: []string{"orders:read"}, Any: []string{"a"}, IPs: []string{"::1", "10.0.0.0/8"}, Mode: gateway.Report}).Validate(); err != nil {
		t.Error(err)
	}
}

// TestAuthorizeUnparsedIPsRefuse: a handler provisioned with an ip list none
// of which parses (Caddy never serves one: Validate refuses it) refuses every
// client rather than allowing any.
func TestAuthorizeUnparsedIPsRefuse(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	az := &Authorize{IPs: []string{"nowhere"}}
	if err := az.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := az.ServeHTTP(w, newRequest("10.0.0.1", caller), &recordNext{}); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusForbidden {
		t.Errorf("status %d, want 403", w.Code)
	}
}

func TestMatchScope(t *testing.T) {
	for _, tt := range []struct {
		m    MatchScope
		id   *gateway.Identity
		want bool
	}{
		{MatchScope{"support"}, caller, true},
		{MatchScope{"support", "orders:read"}, caller, true},
		{MatchScope{"support", "admin"}, caller, false},
		{MatchScope{"support"}, nil, false},
	} {
		if got := tt.m.Match(newRequest("127.0.0.1", tt.id)); got != tt.want {
			t.Errorf("%v with %v: %v, want %v", tt.m, tt.id, got, tt.want)
		}
	}
	if err := (MatchScope{}).Validate(); err == nil {
		t.Error("empty api_scope accepted")
	}
	if err := (MatchScope{"a,b"}).Validate(); err == nil || !strings.Contains(err.Error(), "contains a comma") {
		t.Errorf("a,b: %v", err)
	}
}

// TestAuthorizeAllowedPathAllocations: every allowed request goes through
// this path, which must not allocate.
func TestAuthorizeAllowedPathAllocations(t *testing.T) {
	az := provisioned(t, &Authorize{All: []string{"orders:read"}, Any: []string{"support"}, IPs: []string{"10.0.0.0/8"}})
	r := newRequest("10.1.2.3", caller)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(100, func() { _ = az.ServeHTTP(w, r, next) }); n != 0 {
		t.Errorf("%v allocations per allowed request", n)
	}
}

// BenchmarkAuthorize measures the allowed path of a rule with every kind of
// check: identity, client address, all and any.
func BenchmarkAuthorize(b *testing.B) {
	az := provisioned(b, &Authorize{All: []string{"orders:read"}, Any: []string{"admin", "support"}, IPs: []string{"10.0.0.0/8"}})
	r := newRequest("10.1.2.3", caller)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		if err := az.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}
