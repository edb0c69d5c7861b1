// Package monitor is api_monitor: per named route, a sliding window of
// requests, upstream failures and latency, judged against an error rate and a
// latency objective, raising upstream.degraded and upstream.recovered events.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// Defaults of api_monitor.
const (
	DefaultWindow      = time.Minute
	DefaultErrorRate   = 0.05
	DefaultMinRequests = 20
	// MinWindow is the shortest window: it slides by a tenth of itself,
	// evaluated at most every 100ms.
	MinWindow = time.Second
)

// Monitor watches the requests of one named route: how many fail upstream
// (a 5xx answer, or a connection that failed or timed out) and how long they
// take. When the window's error rate or latency percentile crosses its
// threshold (on at least min_requests requests) it emits upstream.degraded;
// when the route has held healthy for a whole window, upstream.recovered.
// Evaluation runs on a ticker, never on the request path; with the
// api_gateway app's Redis, the verdict is on the cluster's counts and each
// event goes out once per cluster.
type Monitor struct {
	// Route names the route in metrics, events and the admin API: letters,
	// digits, '.', '_' and '-', at most 64. Handlers with the same name share
	// one window. Required.
	Route string `json:"route"`

	// Window is the length of the sliding window, at least 1s. Default: 1m.
	Window caddy.Duration `json:"window,omitempty"`

	// ErrorRate is the share of failed requests (0 < r <= 1; 0.05 is 5%) past
	// which the route is degraded. Default: 0.05 when no latency objective is
	// set, else off.
	ErrorRate float64 `json:"error_rate,omitempty"`

	// LatencyPercentile (0 < p < 100, e.g. 99) and Latency: the route is
	// degraded when that percentile of the window's latencies passes Latency.
	// Default: off.
	LatencyPercentile float64        `json:"latency_percentile,omitempty"`
	Latency           caddy.Duration `json:"latency,omitempty"`

	// MinRequests is the fewest requests in the window on which a verdict is
	// given. Default: 20.
	MinRequests int `json:"min_requests,omitempty"`

	route    *route
	app      gateway.App
	stopped  chan struct{} // closed when run returns
	release  func() error  // lets go of the app's Redis client
	logger   *zap.Logger
	classes  [numClasses]prometheus.Counter
	duration prometheus.Observer
	routeTag attribute.KeyValue
}

// CaddyModule returns the Caddy module information.
func (Monitor) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.api_monitor",
		New: func() caddy.Module { return new(Monitor) },
	}
}

var routeName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Provision fills the defaults, takes the route's state from the pool and
// starts the evaluator, which ends with ctx.
func (m *Monitor) Provision(ctx caddy.Context) error {
	m.logger = ctx.Logger()
	if err := m.defaults(); err != nil {
		return err
	}
	app, err := gateway.AppFrom(ctx)
	if err != nil {
		return err
	}
	m.app = app
	if err := gateway.RegisterMetrics(ctx, collectors...); err != nil {
		return err
	}
	if err := m.prepare(); err != nil {
		return err
	}
	// The evaluator may be talking to Redis while the config stops: the
	// client stays open until it has returned (Cleanup).
	_, m.release = app.RetainRedis()
	m.stopped = make(chan struct{})
	go m.run(ctx)
	return nil
}

// prepare looks up the metric labels and takes the route from the pool.
func (m *Monitor) prepare() error {
	for i, class := range classNames {
		m.classes[i] = routeRequests.WithLabelValues(m.Route, class)
	}
	m.duration = routeDuration.WithLabelValues(m.Route)
	m.routeTag = attribute.String("apigate.route", m.Route)
	rt, err := loadRoute(m.Route, m.objective())
	if err != nil {
		return fmt.Errorf("api_monitor %s: %w", m.Route, err)
	}
	m.route = rt
	return nil
}

// defaults fills the defaults and validates.
func (m *Monitor) defaults() error {
	if m.Window == 0 {
		m.Window = caddy.Duration(DefaultWindow)
	}
	if m.ErrorRate == 0 && m.Latency == 0 {
		m.ErrorRate = DefaultErrorRate
	}
	if m.MinRequests == 0 {
		m.MinRequests = DefaultMinRequests
	}
	return m.Validate()
}

func (m *Monitor) objective() Objective {
	return Objective{
		ErrorRate: m.ErrorRate, Percentile: m.LatencyPercentile, Latency: time.Duration(m.Latency),
		MinRequests: int64(m.MinRequests), Window: time.Duration(m.Window),
	}
}

// Validate checks the thresholds.
func (m *Monitor) Validate() error {
	switch {
	case !routeName.MatchString(m.Route):
		return fmt.Errorf("api_monitor: route name %q: want 1 to 64 letters, digits, '.', '_' or '-'", m.Route)
	case time.Duration(m.Window) < MinWindow:
		return fmt.Errorf("api_monitor %s: window %s: want at least %s", m.Route, time.Duration(m.Window), MinWindow)
	case m.ErrorRate < 0 || m.ErrorRate > 1:
		return fmt.Errorf("api_monitor %s: error_rate %g: want a share above 0 and at most 1 (0.05 is 5%%)", m.Route, m.ErrorRate)
	case m.Latency < 0 || (m.Latency > 0) != (m.LatencyPercentile != 0):
		return fmt.Errorf("api_monitor %s: latency needs both a percentile and a positive duration", m.Route)
	case m.LatencyPercentile < 0 || m.LatencyPercentile >= 100:
		return fmt.Errorf("api_monitor %s: latency percentile %g: want above 0 and below 100", m.Route, m.LatencyPercentile)
	case m.MinRequests < 0:
		return fmt.Errorf("api_monitor %s: min_requests %d: must not be negative", m.Route, m.MinRequests)
	}
	return nil
}

// run evaluates the route on a ticker until the config stops.
func (m *Monitor) run(ctx caddy.Context) {
	defer close(m.stopped)
	t := time.NewTicker(tickOf(time.Duration(m.Window)))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.route.evaluate(context.WithoutCancel(ctx), now, m.app, m.logger)
		}
	}
}

// Cleanup waits for the evaluator, which ends with the config's context
// (cancelled before Cleanup), then lets go of Redis and releases the route;
// the route's state stays while another config holds it.
func (m *Monitor) Cleanup() error {
	var errs []error
	if m.stopped != nil {
		<-m.stopped
		errs = append(errs, m.release())
	}
	if m.route != nil {
		_, err := routes.Delete(poolKey(m.Route))
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ServeHTTP passes the request on and counts its outcome and latency. It
// takes no lock and does not allocate.
func (m *Monitor) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	sw := getStatusWriter(w)
	err := next.ServeHTTP(sw, r)
	status := sw.status
	putStatusWriter(sw)
	took := time.Since(start)
	class := classOf(status)
	if err != nil {
		class = classOfError(err)
	}
	m.route.window.Load().Add(start.Add(took), class >= class5xx, took)
	m.classes[class].Inc()
	m.duration.Observe(took.Seconds())
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		span.SetAttributes(m.routeTag, attribute.String("apigate.route.state", m.route.status.Load().State))
	}
	return err
}

// classOfError is the class of a request the rest of the chain answered with
// an error: its status if it is a client error, else error (a 502 or 504 of a
// failed or timed-out upstream connection, say).
func classOfError(err error) int {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500 {
		return class4xx
	}
	return classError
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Monitor)(nil)
	_ caddy.Validator             = (*Monitor)(nil)
	_ caddy.CleanerUpper          = (*Monitor)(nil)
	_ caddyhttp.MiddlewareHandler = (*Monitor)(nil)
)
