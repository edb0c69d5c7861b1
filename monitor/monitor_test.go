package monitor

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/apigate/caddy-apigate/internal/gateway/gatewaytest"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
)

func newMonitor(t testing.TB, m Monitor) *Monitor {
	t.Helper()
	if err := m.defaults(); err != nil {
		t.Fatal(err)
	}
	m.app, m.logger = &gatewaytest.App{}, zap.NewNop()
	if err := m.prepare(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Cleanup() })
	return &m
}

func respond(status int) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		if status != 0 {
			w.WriteHeader(status)
		}
		if status != http.StatusNotModified {
			w.Write(okBody) //nolint:errcheck
		}
		return nil
	})
}

func fail(err error) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return err })
}

func TestServeHTTPCountsOutcomes(t *testing.T) {
	m := newMonitor(t, Monitor{Route: "test_outcomes"})
	for _, tc := range []struct {
		next   caddyhttp.Handler
		class  string
		failed bool
	}{
		{respond(0), "2xx", false},
		{respond(201), "2xx", false},
		{respond(304), "3xx", false},
		{respond(404), "4xx", false},
		{respond(503), "5xx", true},
		{fail(caddyhttp.Error(http.StatusBadGateway, errors.New("dial tcp: connection refused"))), "error", true},
		{fail(caddyhttp.Error(http.StatusGatewayTimeout, errors.New("timeout"))), "error", true},
		{fail(caddyhttp.Error(http.StatusNotFound, errors.New("no file"))), "4xx", false},
		{fail(errors.New("plain")), "error", true},
	} {
		before := testutil.ToFloat64(routeRequests.WithLabelValues("test_outcomes", tc.class))
		var c0 Counts
		m.route.window.Load().Sum(time.Now(), &c0)
		err := m.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), tc.next)
		if _, ok := tc.next.(caddyhttp.HandlerFunc); ok && err != nil && tc.class == "2xx" {
			t.Errorf("%s: error %v", tc.class, err)
		}
		if got := testutil.ToFloat64(routeRequests.WithLabelValues("test_outcomes", tc.class)) - before; got != 1 {
			t.Errorf("%s: counted %v", tc.class, got)
		}
		var c1 Counts
		m.route.window.Load().Sum(time.Now(), &c1)
		if c1.Requests-c0.Requests != 1 || (c1.Errors-c0.Errors == 1) != tc.failed {
			t.Errorf("%s: window moved by %d requests, %d errors", tc.class, c1.Requests-c0.Requests, c1.Errors-c0.Errors)
		}
	}
}

func TestEvaluateRaisesOnePairOfEvents(t *testing.T) {
	m := newMonitor(t, Monitor{Route: "test_evaluate", Window: caddy.Duration(10 * time.Second), MinRequests: 10})
	app := m.app.(*gatewaytest.App)
	w := m.route.window.Load()
	t0 := time.Unix(1_700_000_000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	// Healthy traffic, then 30% failures from 10s, healthy again from 20s.
	var now time.Time
	for s := 0.0; s < 45; s += 0.1 {
		now = at(s)
		w.Add(now, s >= 10 && s < 20 && int(s*10)%10 < 3, 20*time.Millisecond)
		if int(s*10)%5 == 0 { // evaluate every 0.5s
			m.route.evaluate(t.Context(), now, app, zap.NewNop())
		}
	}
	events := app.Events()
	if len(events) != 2 || events[0].Name != EventDegraded || events[1].Name != EventRecovered {
		t.Fatalf("events %v, want one degraded, one recovered", events)
	}
	d := events[0].Data
	if d["route"] != "test_evaluate" || d["reason"] != ReasonErrorRate || d["threshold"] != 0.05 || d["window"] != "10s" {
		t.Fatalf("degraded data %v", d)
	}
	if rate := d["observed"].(float64); rate <= 0.05 || rate > 0.3 {
		t.Fatalf("observed %v", rate)
	}
	if st := Snapshot(); len(st) == 0 {
		t.Fatal("Snapshot lists no route")
	}
}

func TestServeHTTPDoesNotAllocate(t *testing.T) {
	m := newMonitor(t, Monitor{Route: "test_allocs"})
	w, r, next := discard{}, httptest.NewRequest("GET", "/", nil), respond(200)
	if n := testing.AllocsPerRun(1000, func() { m.ServeHTTP(w, r, next) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

func BenchmarkMonitor(b *testing.B) {
	m := newMonitor(b, Monitor{Route: "bench"})
	r, next := httptest.NewRequest("GET", "/", nil), respond(200)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := discard{}
		for pb.Next() {
			m.ServeHTTP(w, r, next)
		}
	})
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

var okBody = []byte("ok")
