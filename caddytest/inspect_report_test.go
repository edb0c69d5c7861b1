package caddytest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// inspectReportSite tries api_inspect's checks on /try in report mode, while
// the rest of the API enforces them; /secure refuses callers without the
// orders:write scope. Audit records go to their own file.
const inspectReportSite = `{
	{ADMIN_OPTIONS}
	log audit {
		output file {DIR}/audit.log
		format json
		include http.handlers.api_inspect.audit
	}
}

http://127.0.0.1:{PORT} {
	@try path /try/*
	@rest not path /try/*
	api_inspect @try {
		max_body 1KiB
		json_depth 8
		block sqli xss
		mask email
		audit
		mode report
	}
	api_inspect @rest {
		max_body 1KiB
		json_depth 8
		block sqli xss
		audit
	}
	handle /secure/* {
		api_auth
		api_authorize orders:write
		reverse_proxy {UPSTREAM}
	}
	handle {
		reverse_proxy {UPSTREAM}
	}
}
`

// upstreamSaw returns the bodies the upstream received for path.
func upstreamSaw(up *Upstream, path string) []string {
	var bodies []string
	for _, r := range up.Requests() {
		if r.Path == path {
			bodies = append(bodies, r.Body)
		}
	}
	return bodies
}

// TestInspectReportMode: a request api_inspect would refuse reaches the
// upstream in report mode, with its body as sent; the refusal is counted as
// outcome="report", not as a rejection, and the audit record says allowed
// and names it under would_reject. The same request on a route that
// enforces is refused.
func TestInspectReportMode(t *testing.T) {
	up := StartUpstream(t, nil)
	g := StartGateway(t, inspectReportSite, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	payload := `{"q":"' OR '1'='1","note":"write to ann@example.com"}`
	asJSON := map[string]string{"Content-Type": "application/json"}

	status, _, body := g.Do("POST", "/try/orders", asJSON, payload)
	if status != 200 {
		t.Fatalf("report mode: %d %s", status, body)
	}
	if saw := upstreamSaw(up, "/try/orders"); len(saw) != 1 || saw[0] != payload {
		t.Fatalf("report mode: the upstream received %q", saw)
	}
	// The upstream echoes the body: the answer is still masked.
	if strings.Contains(body, "ann@example.com") || !strings.Contains(body, "***@example.com") {
		t.Errorf("report mode: answer not masked: %s", body)
	}
	if status, _, _ := g.Do("POST", "/orders", asJSON, payload); status != 403 {
		t.Errorf("enforce mode: %d, want 403", status)
	}
	if saw := upstreamSaw(up, "/orders"); len(saw) != 0 {
		t.Errorf("enforce mode: the upstream received %q", saw)
	}

	if v, ok := metricValue(t, g, "caddy_apigate_decisions_total", `handler="api_inspect"`, `outcome="report"`); !ok || v != 1 {
		t.Errorf(`decisions_total{handler="api_inspect",outcome="report"} = %v (present %v), want 1`, v, ok)
	}
	if v, ok := metricValue(t, g, "caddy_apigate_rejections_total", `handler="api_inspect"`, `reason="sqli"`); !ok || v != 1 {
		t.Errorf(`rejections_total{handler="api_inspect",reason="sqli"} = %v (present %v), want 1: the enforced route only`, v, ok)
	}

	var rec map[string]any
	Eventually(t, 10*time.Second, "the audit records", func() bool {
		recs := auditRecords(t, g)
		rec = findAudit(recs, "/try/orders")
		return rec != nil && findAudit(recs, "/orders") != nil
	})
	if rec["decision"] != "allowed" || rec["status"] != float64(200) || rec["handler"] != "" {
		t.Errorf("report mode record: decision %v, status %v, handler %v", rec["decision"], rec["status"], rec["handler"])
	}
	got, _ := marshal(rec["would_reject"])
	if got != `[{"handler":"api_inspect","reason":"sqli"}]` {
		t.Errorf("would_reject = %s, want [{api_inspect sqli}] (record %v)", got, rec)
	}
	enforced := findAudit(auditRecords(t, g), "/orders")
	if enforced["decision"] != "rejected" || enforced["handler"] != "api_inspect" || enforced["reason"] != "sqli" {
		t.Errorf("enforce mode record: %v", enforced)
	}
	if _, ok := enforced["would_reject"]; ok {
		t.Errorf("enforce mode record has would_reject: %v", enforced)
	}
}

// TestInspectAuditOtherHandlerRefusal: the audit record of a request that a
// handler after api_inspect refuses (api_authorize's 403) says rejected and
// names that handler and its reason.
func TestInspectAuditOtherHandlerRefusal(t *testing.T) {
	up := StartUpstream(t, nil)
	g := StartGateway(t, inspectReportSite, GatewayOptions{}, "{UPSTREAM}", up.Addr)
	k := g.CreateKey(map[string]any{"consumer": "shop", "scopes": []string{"orders:read"}})
	if status, _, body := g.Do("GET", "/secure/orders", map[string]string{"X-API-Key": k.Key}, ""); status != 403 {
		t.Fatalf("api_authorize: %d %s", status, body)
	}
	var rec map[string]any
	Eventually(t, 10*time.Second, "the audit record", func() bool {
		rec = findAudit(auditRecords(t, g), "/secure/orders")
		return rec != nil
	})
	if rec["decision"] != "rejected" || rec["status"] != float64(403) || rec["handler"] != "api_authorize" ||
		rec["reason"] != "insufficient_scope" || rec["consumer"] != "shop" {
		t.Errorf("record %v", rec)
	}
	if _, ok := rec["would_reject"]; ok {
		t.Errorf("would_reject in a record with no handler in report mode: %v", rec)
	}
}

func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
