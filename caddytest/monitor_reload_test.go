package caddytest

import (
	"strings"
	"testing"
	"time"
)

const monitorReloadSite = `{
	{ADMIN_OPTIONS}
	api_gateway {
		notify {HOOK} {
			secret {env.APIGATE_WEBHOOK_SECRET}
		}
	}
}
http://127.0.0.1:{PORT} {
	api_monitor orders {
		window 10s
		latency p99 300ms
		min_requests 20
	}
	reverse_proxy {UPSTREAM}
}
`

// reloadMonitor loads config and returns the route as first evaluated after
// the reload.
func reloadMonitor(t *testing.T, g *Gateway, config string) routeStatus {
	t.Helper()
	began := time.Now()
	reloadWith(t, g, config)
	var st routeStatus
	Eventually(t, 10*time.Second, "an evaluation after the reload", func() bool {
		st = orders(t, g)
		return st.UpdatedAt.After(began)
	})
	return st
}

// A degraded route keeps its window and its state through a reload of the
// unchanged config and through one that changes its threshold, without an
// event; the new threshold applies: past it, the still slow upstream makes
// the route recover. The receiver hears one upstream.degraded and one
// upstream.recovered in all.
func TestMonitorReloadKeepsState(t *testing.T) {
	hook := StartHook(t)
	up := startFlakyUpstream(t)
	up.mode.Store("slow") // 400ms: past p99 300ms
	g := StartGateway(t, monitorReloadSite, GatewayOptions{Env: []string{"APIGATE_WEBHOOK_SECRET=" + hook.Secret}},
		"{UPSTREAM}", up.Addr, "{HOOK}", hook.URL)
	stop := traffic(t, g)
	Eventually(t, 30*time.Second, "upstream.degraded", func() bool { return len(hook.Of("upstream.degraded")) > 0 })
	stop()
	// A new window would hold only the request that checks the site is up
	// after the reload; the pooled one holds the min_requests that degraded
	// it, for a whole 10s window.
	check := func(when string, st routeStatus) {
		t.Helper()
		if st.State != "degraded" || st.Reason != "latency" || st.Requests < 20 || st.Latency.P99 < 300 {
			t.Fatalf("after %s: %+v, want degraded (latency) on the window of at least 20 requests", when, st)
		}
	}
	check("a reload of the same config", reloadMonitor(t, g, g.config))
	stricter := strings.Replace(g.config, "latency p99 300ms", "latency p99 350ms", 1)
	check("a reload to p99 350ms", reloadMonitor(t, g, stricter))

	// Past p99 5s, the same slow traffic is healthy: the route recovers
	// after a whole window of it. Under 300ms or 350ms it never would. (At
	// 1s, a loaded machine once pushed the 400ms requests' p99 past it.)
	looser := strings.Replace(g.config, "latency p99 350ms", "latency p99 5s", 1)
	check("a reload to p99 5s", reloadMonitor(t, g, looser))
	traffic(t, g)
	Eventually(t, 40*time.Second, "upstream.recovered", func() bool { return len(hook.Of("upstream.recovered")) > 0 })
	time.Sleep(2 * time.Second) // no second event of either kind
	degraded, recovered := hook.Of("upstream.degraded"), hook.Of("upstream.recovered")
	if len(degraded) != 1 || len(recovered) != 1 {
		t.Fatalf("%d upstream.degraded and %d upstream.recovered, want one each", len(degraded), len(recovered))
	}
	if d := recovered[0].Data; d["reason"] != "latency" || d["percentile"] != 99.0 {
		t.Fatalf("upstream.recovered data: %v", d)
	}
	if st := orders(t, g); st.State != "healthy" || st.Latency.P99 < 300 {
		t.Fatalf("after recovering: %+v, want healthy with the slow p99", st)
	}
}
