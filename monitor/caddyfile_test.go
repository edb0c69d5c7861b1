package monitor

import (
	"strings"
	"testing"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestMonitorCaddyfile(t *testing.T) {
	tests := []gatewaytest.CaddyfileCase{
		{In: `api_monitor orders`, Want: `{"route":"orders"}`},
		{In: `api_monitor orders {
			window 1m
			error_rate 5%
			latency p99 800ms
			min_requests 20
		}`, Want: `{"route":"orders","window":60000000000,"error_rate":0.05,"latency_percentile":99,"latency":800000000,"min_requests":20}`},
		{In: "api_monitor orders {\n\tlatency p99.9 2s\n\terror_rate 0.5%\n}", Want: `{"route":"orders","error_rate":0.005,"latency_percentile":99.9,"latency":2000000000}`},
		{In: `api_monitor`, Err: `want the route's name: api_monitor <name> { ... }, at Testfile:1`},
		{In: `api_monitor "orders api"`, Err: `route name "orders api"`},
		{In: `api_monitor orders extra`, Err: `wrong argument count`},
		{In: "api_monitor orders {\n\terror_rate 140%\n}", Err: `error_rate "140%": want a percentage above 0% and at most 100%, such as 5% or 0.5%, at Testfile:2`},
		{In: "api_monitor orders {\n\terror_rate 0%\n}", Err: `error_rate "0%"`},
		{In: "api_monitor orders {\n\terror_rate 5\n}", Err: `error_rate "5"`},
		{In: "api_monitor orders {\n\terror_rate NaN%\n}", Err: `error_rate "NaN%"`},
		{In: "api_monitor orders {\n\n\tlatency p0 800ms\n}", Err: `latency percentile "p0": want p followed by a number above 0 and below 100, such as p50, p99 or p99.9, at Testfile:3`},
		{In: "api_monitor orders {\n\tlatency p100 800ms\n}", Err: `latency percentile "p100"`},
		{In: "api_monitor orders {\n\tlatency 99 800ms\n}", Err: `latency percentile "99"`},
		{In: "api_monitor orders {\n\tlatency p99 0s\n}", Err: `latency "0s": want a positive duration`},
		{In: "api_monitor orders {\n\tlatency p99\n}", Err: `latency: want a percentile and a duration, such as latency p99 800ms, at Testfile:2`},
		{In: "api_monitor orders {\n\twindow 0s\n}", Err: `api_monitor: window 0s: want at least 1s, at Testfile:2`},
		{In: "api_monitor orders {\n\twindow 500ms\n}", Err: `window 500ms: want at least 1s`},
		{In: "api_monitor orders {\n\twindow -1m\n}", Err: `must not be negative, at Testfile:2`},
		{In: "api_monitor orders {\n\tmin_requests 0\n}", Err: `min_requests "0": want a whole number of at least 1, at Testfile:2`},
		{In: "api_monitor orders {\n\tmin_requests many\n}", Err: `min_requests "many"`},
		{In: "api_monitor orders {\n\twindow 1m\n\twindow 2m\n}", Err: `duplicate subdirective "window", at Testfile:3`},
		{In: "api_monitor orders {\n\tthreshold 5%\n}", Err: `unrecognized subdirective "threshold", at Testfile:2`},
	}
	gatewaytest.CaddyfileTable(t, tests, func() caddyfile.Unmarshaler { return new(Monitor) })
}

func TestMonitorValidate(t *testing.T) {
	for _, tc := range []struct {
		m   Monitor
		err string
	}{
		{Monitor{Route: "a b"}, "route name"},
		{Monitor{Route: "a", Window: 1}, "window 1ns: want at least 1s"},
		{Monitor{Route: "a", Window: 1e9, ErrorRate: 1.4}, "error_rate 1.4"},
		{Monitor{Route: "a", Window: 1e9, Latency: 1e9}, "latency needs both"},
		{Monitor{Route: "a", Window: 1e9, LatencyPercentile: 100, Latency: 1e9}, "percentile 100"},
		{Monitor{Route: "a", Window: 1e9, MinRequests: -1}, "min_requests -1"},
	} {
		if err := tc.m.Validate(); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: %v, want %q", tc.m, err, tc.err)
		}
	}
	m := Monitor{Route: "orders", LatencyPercentile: 99, Latency: 1e9}
	if err := m.defaults(); err != nil || m.ErrorRate != 0 || m.MinRequests != DefaultMinRequests {
		t.Errorf("latency alone turns error_rate off: %+v %v", m, err)
	}
}

func FuzzMonitorCaddyfile(f *testing.F) {
	for _, s := range []string{"api_monitor orders {\n\twindow 1m\n\terror_rate 5%\n\tlatency p99 800ms\n\tmin_requests 20\n}",
		"api_monitor x {\n\terror_rate 1e309%\n}", "api_monitor x {\n\tlatency p-0 1s\n}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var m Monitor
		if err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
			return
		}
		if m.ErrorRate < 0 || m.ErrorRate > 1 || m.LatencyPercentile < 0 || m.LatencyPercentile >= 100 || m.MinRequests < 0 {
			t.Fatalf("%q parsed to %+v", in, m)
		}
		if err := m.defaults(); err != nil && m.Route != "" {
			t.Fatalf("%q parsed but does not validate: %v", in, err)
		}
	})
}
