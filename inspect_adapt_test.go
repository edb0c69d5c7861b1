package apigate

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestInspectAdapt adapts api_inspect in a site: the JSON of its grammar
// (inspect's own tests cover the rest of it) and the contract's order,
// api_inspect first, before api_auth.
func TestInspectAdapt(t *testing.T) {
	src := `{
	admin off
}
:8080 {
	respond /never 404
	api_auth
	api_inspect {
		max_body 1MB
		mode report
	}
	respond ok
}`
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	i, j := strings.Index(s, `{"handler":"api_inspect","max_body":1000000,"mode":"report"}`), strings.Index(s, `"handler":"api_auth"`)
	if i < 0 || j < 0 || i > j {
		t.Fatalf("api_inspect missing or after api_auth: %s", s)
	}
}

// TestInspectExampleAdapts keeps examples/inspect.Caddyfile and its JSON in
// step, and the Grafana dashboard on metrics the plugin has.
func TestInspectExampleAdapts(t *testing.T) {
	src, err := os.ReadFile("examples/inspect.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "examples/inspect.Caddyfile"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("examples/inspect.json")
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatal("examples/inspect.json is out of date (regenerate with: go run ./cmd/caddy adapt --config examples/inspect.Caddyfile --pretty > examples/inspect.json)")
	}

	dash, err := os.ReadFile("examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatal(err)
	}
	known := []string{"caddy_apigate_decisions_total", "caddy_apigate_rejections_total", "caddy_apigate_handler_duration_seconds_bucket",
		"caddy_apigate_route_requests_total", "caddy_apigate_route_duration_seconds_bucket"}
	metricName := regexp.MustCompile(`caddy_apigate_[a-z_]+`)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q queries no plugin metric: %s", p.Title, tg.Expr)
			}
			for _, n := range names {
				if !slices.Contains(known, n) {
					t.Errorf("panel %q queries %s, which the plugin does not export", p.Title, n)
				}
			}
		}
	}
}
