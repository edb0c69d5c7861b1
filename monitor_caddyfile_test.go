package apigate

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestMonitorDirectiveOrder checks that api_monitor runs first, before
// api_inspect and api_auth, whatever the order written, so it times and
// counts every request.
func TestMonitorDirectiveOrder(t *testing.T) {
	src := `http://127.0.0.1:8080 {
	reverse_proxy 127.0.0.1:9000
	api_auth
	api_inspect {
		max_body 1MB
	}
	api_monitor orders {
		window 30s
		latency p99 800ms
	}
}`
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	last := -1
	for _, h := range []string{`"handler":"api_monitor"`, `"handler":"api_inspect"`, `"handler":"api_auth"`, `"handler":"reverse_proxy"`} {
		i := strings.Index(s, h)
		if i < 0 || i < last {
			t.Fatalf("%s out of order in %s", h, s)
		}
		last = i
	}
	if !strings.Contains(s, `"handler":"api_monitor","latency":800000000,"latency_percentile":99,"route":"orders","window":30000000000`) {
		t.Fatalf("api_monitor config: %s", s)
	}
}

func TestMonitorExampleAdapts(t *testing.T) {
	assertExampleJSON(t, "examples/monitor.Caddyfile", "examples/monitor.json")
}
