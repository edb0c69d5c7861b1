package caddytest

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const monitorSite = `{
	{ADMIN_OPTIONS}
	api_gateway {
		{REDIS}
		notify {HOOK} {
			secret {env.APIGATE_WEBHOOK_SECRET}
		}
	}
}
http://127.0.0.1:{PORT} {
	api_monitor orders {
		window 2s
		error_rate 5%
		latency p99 300ms
		min_requests 20
	}
	reverse_proxy {UPSTREAM}
}
`

const monitorWindow = 2 * time.Second

// flakyUpstream answers 200 fast, or, as told, fails 30% of its requests
// (every 3rd, 6th and 9th of ten) or takes 400ms.
type flakyUpstream struct {
	*Upstream
	mode atomic.Value // "ok", "failing", "slow"
	n    atomic.Int64
}

func startFlakyUpstream(t *testing.T) *flakyUpstream {
	f := &flakyUpstream{}
	f.mode.Store("ok")
	f.Upstream = StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch f.mode.Load() {
		case "failing":
			if n := f.n.Add(1) % 10; n == 3 || n == 6 || n == 9 {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
		case "slow":
			time.Sleep(400 * time.Millisecond)
		}
		w.Write([]byte(`{"ok":true}`)) //nolint:errcheck
	})
	return f
}

// traffic sends requests to the gateways, in turn, from 4 clients, until the
// test ends or the function it returns is called.
func traffic(t *testing.T, gs ...*Gateway) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 5 * time.Second}
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := i; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if resp, err := c.Get(gs[n%len(gs)].URL("/orders")); err == nil {
					resp.Body.Close()
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	end := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(end)
	return end
}

func startMonitorGateway(t *testing.T, hook *Hook, up *Upstream, redisURL string) *Gateway {
	redisLine := ""
	if redisURL != "" {
		redisLine = "redis " + redisURL
	}
	return StartGateway(t, monitorSite, GatewayOptions{Env: []string{"APIGATE_WEBHOOK_SECRET=" + hook.Secret}},
		"{UPSTREAM}", up.Addr, "{HOOK}", hook.URL, "{REDIS}", redisLine)
}

// degradeAndRecover switches the upstream to mode and expects exactly one
// upstream.degraded for reason within a window (plus a tick and the webhook's
// delivery), then, healed, exactly one upstream.recovered.
func degradeAndRecover(t *testing.T, hook *Hook, up *flakyUpstream, mode, reason string) HookMessage {
	time.Sleep(monitorWindow) // a healthy window first
	if n := len(hook.Of("upstream.degraded")); n != 0 {
		t.Fatalf("%d upstream.degraded while healthy", n)
	}
	up.mode.Store(mode)
	began := time.Now()
	// Within one window. A latency change counts once the slow answers
	// complete (400ms each) and outnumber 1% of the window's fast ones: give
	// it the window from the first slow answer, plus a tick and the delivery.
	bound := monitorWindow
	if reason == "latency" {
		bound += time.Second
	}
	Eventually(t, bound, "upstream.degraded", func() bool { return len(hook.Of("upstream.degraded")) > 0 })
	t.Logf("upstream.degraded arrived %s after the upstream turned %s", time.Since(began).Round(time.Millisecond), mode)
	up.mode.Store("ok")
	// The failures leave the window, then the route holds healthy a whole window.
	Eventually(t, 4*monitorWindow, "upstream.recovered", func() bool { return len(hook.Of("upstream.recovered")) > 0 })
	time.Sleep(monitorWindow) // no second event of either kind
	degraded, recovered := hook.Of("upstream.degraded"), hook.Of("upstream.recovered")
	if len(degraded) != 1 || len(recovered) != 1 {
		t.Fatalf("%d upstream.degraded and %d upstream.recovered, want one each", len(degraded), len(recovered))
	}
	d := degraded[0].Data
	if d["route"] != "orders" || d["reason"] != reason || d["window"] != "2s" {
		t.Fatalf("upstream.degraded data: %v", d)
	}
	if r := recovered[0].Data; r["route"] != "orders" || r["reason"] != reason {
		t.Fatalf("upstream.recovered data: %v", r)
	}
	return degraded[0]
}

func TestMonitorErrorRate(t *testing.T) {
	hook := StartHook(t)
	up := startFlakyUpstream(t)
	g := startMonitorGateway(t, hook, up.Upstream, "")
	traffic(t, g)
	m := degradeAndRecover(t, hook, up, "failing", "error_rate")
	// The alarm goes when the window's rate crosses 5%, on its way to 30%.
	if rate, _ := m.Data["observed"].(float64); rate <= 0.05 || rate > 0.4 || m.Data["threshold"] != 0.05 {
		t.Fatalf("observed error rate %v, threshold %v: want past 0.05, at most about 0.3", m.Data["observed"], m.Data["threshold"])
	}

	// The admin API and the CLI show the route live.
	status, body := g.AdminDo("GET", "/api_gateway/routes", nil)
	var routes []struct {
		Route    string  `json:"route"`
		State    string  `json:"state"`
		Requests int64   `json:"requests"`
		Rate     float64 `json:"error_rate"`
		Latency  struct {
			P50, P90, P99 float64
		} `json:"latency_ms"`
	}
	if err := json.Unmarshal(body, &routes); status != 200 || err != nil || len(routes) != 1 {
		t.Fatalf("GET /api_gateway/routes: %d %s", status, body)
	}
	if r := routes[0]; r.Route != "orders" || r.State != "healthy" || r.Requests < 20 || r.Latency.P99 <= 0 {
		t.Fatalf("route: %+v", r)
	}
	cmd := exec.Command(binary(t), "api-gateway", "routes", "--address", g.Admin)
	cmd.Env = append(os.Environ(), "HOME="+g.Dir)
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "ROUTE") || !strings.Contains(string(out), "orders") || !strings.Contains(string(out), "healthy") {
		t.Fatalf("caddy api-gateway routes: %v\n%s", err, out)
	}
}

func TestMonitorLatency(t *testing.T) {
	hook := StartHook(t)
	up := startFlakyUpstream(t)
	g := startMonitorGateway(t, hook, up.Upstream, "")
	traffic(t, g)
	m := degradeAndRecover(t, hook, up, "slow", "latency")
	if p99, _ := m.Data["observed"].(float64); p99 < 0.3 || p99 > 0.6 || m.Data["threshold"] != 0.3 || m.Data["percentile"] != 99.0 {
		t.Fatalf("observed %v, threshold %v, percentile %v", m.Data["observed"], m.Data["threshold"], m.Data["percentile"])
	}
}

func TestMonitorClusterSendsEachEventOnce(t *testing.T) {
	r := StartRedis(t)
	hook := StartHook(t)
	up := startFlakyUpstream(t)
	a := startMonitorGateway(t, hook, up.Upstream, r.URL())
	b := startMonitorGateway(t, hook, up.Upstream, r.URL())
	traffic(t, a, b)
	degradeAndRecover(t, hook, up, "failing", "error_rate")
	for _, g := range []*Gateway{a, b} {
		_, body := g.AdminDo("GET", "/api_gateway/routes", nil)
		var routes []struct{ Cluster bool }
		if err := json.Unmarshal(body, &routes); err != nil || len(routes) != 1 || !routes[0].Cluster {
			t.Fatalf("the routes are not judged on the cluster's counts: %s", body)
		}
	}
}

func TestHealthEventsForwarded(t *testing.T) {
	hook := StartHook(t)
	var healthy atomic.Bool
	up := StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	StartGateway(t, `{
	{ADMIN_OPTIONS}
	api_gateway {
		notify {HOOK} {
			secret {env.APIGATE_WEBHOOK_SECRET}
		}
	}
}
http://127.0.0.1:{PORT} {
	reverse_proxy {UPSTREAM} {
		health_uri /health
		health_interval 100ms
	}
}
`, GatewayOptions{Env: []string{"APIGATE_WEBHOOK_SECRET=" + hook.Secret}}, "{UPSTREAM}", up.Addr, "{HOOK}", hook.URL)
	Eventually(t, 5*time.Second, "upstream.unhealthy", func() bool { return len(hook.Of("upstream.unhealthy")) > 0 })
	healthy.Store(true)
	Eventually(t, 5*time.Second, "upstream.healthy", func() bool { return len(hook.Of("upstream.healthy")) > 0 })
	if h := hook.Of("upstream.unhealthy")[0].Data["host"]; h != up.Addr {
		t.Fatalf("upstream.unhealthy host %v, want %s", h, up.Addr)
	}
}
