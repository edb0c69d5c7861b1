package caddytest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// reportSite tries a new rule on /admin in report mode (callers without the
// admin scope pass and are recorded), while the rest of the API enforces its
// rule. Audit records go to their own file.
const reportSite = `{
	{ADMIN_OPTIONS}
	log audit {
		output file {DIR}/audit.log
		format json
		include http.handlers.api_inspect.audit
	}
}

http://127.0.0.1:{PORT} {
	api_inspect {
		audit
	}
	api_auth
	handle /admin/* {
		api_authorize admin {
			mode report
		}
		reverse_proxy {UPSTREAM}
	}
	handle {
		api_authorize orders:write
		reverse_proxy {UPSTREAM}
	}
}
`

func startReportGateway(t *testing.T) (*Gateway, *Upstream, CreatedKey) {
	t.Helper()
	up := StartUpstream(t, nil)
	g := StartGateway(t, reportSite, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	k := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})
	return g, up, k
}

// reached reports whether the upstream received a request for path.
func reached(up *Upstream, path string) bool {
	for _, r := range up.Requests() {
		if r.Path == path {
			return true
		}
	}
	return false
}

// TestAuthorizeReportMode: a caller without the scope of a rule in report
// mode reaches the upstream, and the decision is counted as
// outcome="report", not as a rejection; the shorthand on the other route
// still refuses.
func TestAuthorizeReportMode(t *testing.T) {
	g, up, k := startReportGateway(t)
	status, h, body := g.Do("GET", "/admin/users", map[string]string{"X-API-Key": k.Key}, "")
	if status != 200 || h.Get("WWW-Authenticate") != "" {
		t.Fatalf("report mode: %d %q %s", status, h.Get("WWW-Authenticate"), body)
	}
	if !reached(up, "/admin/users") {
		t.Fatal("report mode: the upstream was not reached")
	}
	if v, ok := metricValue(t, g, "caddy_apigate_decisions_total", `handler="api_authorize"`, `outcome="report"`); !ok || v != 1 {
		t.Errorf(`decisions_total{handler="api_authorize",outcome="report"} = %v (present %v), want 1`, v, ok)
	}
	if v, _ := metricValue(t, g, "caddy_apigate_rejections_total", `handler="api_authorize"`); v != 0 {
		t.Errorf("report mode counted %v rejections", v)
	}

	// The shorthand enforces.
	status, h, _ = g.Do("GET", "/orders", map[string]string{"X-API-Key": k.Key}, "")
	if status != 403 || !strings.Contains(h.Get("WWW-Authenticate"), `error="insufficient_scope", scope="orders:write"`) {
		t.Errorf("enforced rule: %d %q", status, h.Get("WWW-Authenticate"))
	}
	if reached(up, "/orders") {
		t.Error("enforced rule: the upstream was reached")
	}
	if v, ok := metricValue(t, g, "caddy_apigate_rejections_total", `handler="api_authorize"`, `reason="insufficient_scope"`); !ok || v != 1 {
		t.Errorf(`rejections_total{handler="api_authorize",reason="insufficient_scope"} = %v (present %v), want 1`, v, ok)
	}
}

// TestAuthorizeReportModeAudit: the audit record of a request a rule in
// report mode would have refused says it was allowed, and names the rule and
// its reason under would_reject.
func TestAuthorizeReportModeAudit(t *testing.T) {
	g, _, k := startReportGateway(t)
	if status, _, body := g.Do("GET", "/admin/audited", map[string]string{"X-API-Key": k.Key}, ""); status != 200 {
		t.Fatalf("report mode: %d %s", status, body)
	}
	var rec map[string]any
	Eventually(t, 10*time.Second, "the audit record", func() bool {
		rec = findAudit(auditRecords(t, g), "/admin/audited")
		return rec != nil
	})
	if rec["decision"] != "allowed" || rec["status"] != float64(200) {
		t.Errorf("decision %v, status %v, want allowed 200 (record %v)", rec["decision"], rec["status"], rec)
	}
	wr, ok := rec["would_reject"]
	data, _ := json.Marshal(wr)
	if !ok || !strings.Contains(string(data), "api_authorize") || !strings.Contains(string(data), "insufficient_scope") {
		t.Errorf("would_reject = %s, want api_authorize insufficient_scope (record %v)", data, rec)
	}
}
