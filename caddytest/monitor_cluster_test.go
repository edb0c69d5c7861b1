package caddytest

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// routeStatus is a route as GET /api_gateway/routes shows it.
type routeStatus struct {
	Route     string    `json:"route"`
	State     string    `json:"state"`
	Reason    string    `json:"reason"`
	Requests  int64     `json:"requests"`
	Cluster   bool      `json:"cluster"`
	UpdatedAt time.Time `json:"updated_at"`
	Latency   struct {
		P50, P90, P99 float64
	} `json:"latency_ms"`
}

// orders returns the gateway's route orders as last evaluated.
func orders(t *testing.T, g *Gateway) routeStatus {
	t.Helper()
	status, body := g.AdminDo("GET", "/api_gateway/routes", nil)
	var routes []routeStatus
	if err := json.Unmarshal(body, &routes); status != 200 || err != nil || len(routes) != 1 || routes[0].Route != "orders" {
		t.Fatalf("GET /api_gateway/routes: %d %s", status, body)
	}
	return routes[0]
}

// Two gateways on one Redis, only one of them in front of an upstream that
// turns slow: the other, whose own requests all stay fast, judges the
// cluster's latency histogram and finds the route degraded too; the webhook
// receiver hears upstream.degraded (latency) once and upstream.recovered once.
func TestMonitorClusterLatencyOnce(t *testing.T) {
	r := StartRedis(t)
	hook := StartHook(t)
	slow := startFlakyUpstream(t)
	fast := StartUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) }) //nolint:errcheck
	a := startMonitorGateway(t, hook, slow.Upstream, r.URL())
	b := startMonitorGateway(t, hook, fast, r.URL())
	traffic(t, a, b)
	time.Sleep(monitorWindow) // a healthy window first
	if n := len(hook.Of("upstream.degraded")); n != 0 {
		t.Fatalf("%d upstream.degraded while healthy", n)
	}
	slow.mode.Store("slow")
	Eventually(t, 4*monitorWindow, "upstream.degraded", func() bool { return len(hook.Of("upstream.degraded")) > 0 })
	// b's own requests are fast: only the cluster's histogram puts its p99
	// past 300ms.
	Eventually(t, 4*monitorWindow, "b judging the cluster's latency degraded", func() bool {
		st := orders(t, b)
		return st.State == "degraded" && st.Reason == "latency" && st.Cluster && st.Latency.P99 >= 300
	})
	slow.mode.Store("ok")
	Eventually(t, 6*monitorWindow, "upstream.recovered", func() bool { return len(hook.Of("upstream.recovered")) > 0 })
	Eventually(t, 4*monitorWindow, "both gateways healthy", func() bool {
		return orders(t, a).State == "healthy" && orders(t, b).State == "healthy"
	})
	time.Sleep(monitorWindow) // no second event of either kind
	degraded, recovered := hook.Of("upstream.degraded"), hook.Of("upstream.recovered")
	if len(degraded) != 1 || len(recovered) != 1 {
		t.Fatalf("%d upstream.degraded and %d upstream.recovered, want one each", len(degraded), len(recovered))
	}
	d := degraded[0].Data
	if p99, _ := d["observed"].(float64); d["reason"] != "latency" || p99 < 0.3 || p99 > 0.6 || d["threshold"] != 0.3 || d["percentile"] != 99.0 {
		t.Fatalf("upstream.degraded data: %v", d)
	}
	if rd := recovered[0].Data; rd["reason"] != "latency" || rd["route"] != "orders" {
		t.Fatalf("upstream.recovered data: %v", rd)
	}
}

const healthClusterSite = `{
	{ADMIN_OPTIONS}
	api_gateway {
		redis {REDIS}
		notify {HOOK} {
			secret {env.APIGATE_WEBHOOK_SECRET}
		}
	}
}
http://127.0.0.1:{PORT} {
	reverse_proxy {UPSTREAM} {
		health_uri /health
		health_interval 200ms
		health_headers {
			X-Gateway {NAME}
		}
	}
}
`

// Two gateways on one Redis check the same upstream: each sees it turn
// unhealthy and healthy again, and the webhook receiver hears of each change
// once.
func TestHealthEventsOncePerCluster(t *testing.T) {
	r := StartRedis(t)
	hook := StartHook(t)
	var mu sync.Mutex
	healthy := false
	checks := map[string]int{} // health checks answered in the current state, per gateway
	up := StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		checks[r.Header.Get("X-Gateway")]++
		if !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	for _, name := range []string{"a", "b"} {
		StartGateway(t, healthClusterSite, GatewayOptions{Env: []string{"APIGATE_WEBHOOK_SECRET=" + hook.Secret}},
			"{UPSTREAM}", up.Addr, "{HOOK}", hook.URL, "{REDIS}", r.URL(), "{NAME}", name)
	}
	// Each gateway has been answered three checks in the state: it has
	// handled the first one's change before it sent the third.
	seenByBoth := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return checks["a"] >= 3 && checks["b"] >= 3
	}
	set := func(h bool) {
		mu.Lock()
		defer mu.Unlock()
		healthy, checks = h, map[string]int{}
	}
	Eventually(t, 10*time.Second, "upstream.unhealthy", func() bool { return len(hook.Of("upstream.unhealthy")) > 0 })
	Eventually(t, 10*time.Second, "both gateways' failed checks", seenByBoth)
	set(true)
	Eventually(t, 10*time.Second, "upstream.healthy", func() bool { return len(hook.Of("upstream.healthy")) > 0 })
	Eventually(t, 10*time.Second, "both gateways' passed checks", seenByBoth)
	time.Sleep(time.Second) // a second delivery would have arrived by now
	unhealthy, healthyEvents := hook.Of("upstream.unhealthy"), hook.Of("upstream.healthy")
	if len(unhealthy) != 1 || len(healthyEvents) != 1 {
		t.Fatalf("%d upstream.unhealthy and %d upstream.healthy, want one each", len(unhealthy), len(healthyEvents))
	}
	if h, _ := unhealthy[0].Data["host"].(string); !strings.HasSuffix(h, up.Addr) {
		t.Fatalf("upstream.unhealthy host %q, want %s", h, up.Addr)
	}
}
