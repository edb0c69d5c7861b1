package caddytest

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// openapiSite puts the demo's OpenAPI document in charge of a route: no route
// or scope is written by hand. /report tries a document in report mode.
const openapiSite = `{
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
	handle /health {
		api_openapi * {DOC}
		respond "up"
	}
	handle /report/* {
		api_auth
		api_openapi {
			file {DOC}
			validate request
			scopes from_security
			mode report
		}
		reverse_proxy {UPSTREAM}
	}
	handle {
		api_auth
		api_openapi {
			file {DOC}
			validate request
			scopes from_security
		}
		reverse_proxy {UPSTREAM}
	}
}
`

func startOpenAPIGateway(t *testing.T) (*Gateway, *Upstream) {
	t.Helper()
	doc, err := filepath.Abs("../examples/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	up := StartUpstream(t, nil)
	return StartGateway(t, openapiSite, GatewayOptions{}, "{UPSTREAM}", up.Addr, "{DOC}", doc), up
}

// TestOpenAPIContract: only the document's operations pass, requests are
// checked against them, and each asks for its own scopes.
func TestOpenAPIContract(t *testing.T) {
	g, up := startOpenAPIGateway(t)
	reader := map[string]string{"X-API-Key": g.CreateKey(map[string]any{"consumer": "r", "scopes": []string{"orders:read"}}).Key}
	writer := map[string]string{"X-API-Key": g.CreateKey(map[string]any{"consumer": "w", "scopes": []string{"orders:read", "orders:write"}}).Key,
		"Content-Type": "application/json"}
	order := `{"items":[{"sku":"TEA-1","quantity":2}],"note":null,"delivery":{"pickup":"shop"}}`

	if status, _, body := g.Do("GET", "/health", nil, ""); status != 200 || body != "up" {
		t.Errorf("security: [] without a key: %d %s", status, body)
	}
	if status, _, body := g.Do("GET", "/orders/42", reader, ""); status != 200 || !reached(up, "/orders/42") {
		t.Errorf("described operation: %d %s", status, body)
	}
	if status, _, _ := g.Do("GET", "/refunds", reader, ""); status != 404 || reached(up, "/refunds") {
		t.Errorf("undescribed path: %d", status)
	}
	if status, h, _ := g.Do("PATCH", "/orders/42", reader, ""); status != 405 || h.Get("Allow") != "DELETE, GET" {
		t.Errorf("undescribed method: %d Allow %q", status, h.Get("Allow"))
	}
	if status, h, _ := g.Do("POST", "/orders", map[string]string{"X-API-Key": reader["X-API-Key"], "Content-Type": "application/json"}, order); status != 403 ||
		!strings.Contains(h.Get("WWW-Authenticate"), `error="insufficient_scope", scope="orders:write"`) {
		t.Errorf("scope from security: %d %q", status, h.Get("WWW-Authenticate"))
	}
	status, _, _ := g.Do("POST", "/orders", writer, order)
	rs := up.Requests()
	if status != 200 || rs[len(rs)-1].Body != order {
		t.Errorf("valid order: %d, the upstream got %q", status, rs[len(rs)-1].Body)
	}
	status, h, body := g.Do("POST", "/orders", writer, `{"items":[{"sku":"TEA-1","quantity":"s3cr3t"}],"delivery":{"pickup":"shop"}}`)
	var p struct {
		Errors []struct{ Pointer, Reason string }
	}
	_ = json.Unmarshal([]byte(body), &p)
	if status != 400 || h.Get("Content-Type") != "application/problem+json" || len(p.Errors) == 0 ||
		p.Errors[0].Pointer != "/body/items/0/quantity" || strings.Contains(body, "s3cr3t") {
		t.Errorf("invalid order: %d %s", status, body)
	}
	if v, ok := metricValue(t, g, "caddy_apigate_rejections_total", `handler="api_openapi"`, `reason="invalid_request"`); !ok || v != 1 {
		t.Errorf(`rejections_total{handler="api_openapi",reason="invalid_request"} = %v (present %v), want 1`, v, ok)
	}
}

// TestOpenAPIReportMode: in report mode an undescribed path reaches the
// upstream and is counted as outcome="report", not as a rejection. (The audit
// record's would_reject is api_inspect's to write: TestAuthorizeReportModeAudit
// covers it for every gate.)
func TestOpenAPIReportMode(t *testing.T) {
	g, up := startOpenAPIGateway(t)
	k := map[string]string{"X-API-Key": g.CreateKey(map[string]any{"consumer": "r", "scopes": []string{"orders:read"}}).Key}
	if status, _, body := g.Do("GET", "/report/refunds", k, ""); status != 200 || !reached(up, "/report/refunds") {
		t.Fatalf("report mode: %d %s", status, body)
	}
	if v, ok := metricValue(t, g, "caddy_apigate_decisions_total", `handler="api_openapi"`, `outcome="report"`); !ok || v != 1 {
		t.Errorf(`decisions_total{handler="api_openapi",outcome="report"} = %v (present %v), want 1`, v, ok)
	}
	if v, _ := metricValue(t, g, "caddy_apigate_rejections_total", `handler="api_openapi"`); v != 0 {
		t.Errorf("report mode counted %v rejections", v)
	}
}
