package monitor

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/apigate/caddy-apigate/internal/gateway"
)

// routes holds every named route's window and state, so that both survive a
// config reload; handlers naming the same route share them.
var routes = caddy.NewUsagePool()

// route is one named route: its window, written by requests, and its state,
// moved by the evaluator of each config that names it.
type route struct {
	name   string
	window atomic.Pointer[Window]
	status atomic.Pointer[Status]

	mu        sync.Mutex // held by the evaluators, never by requests
	objective Objective
	machine   Machine
	sent      sentCounts
	lastEval  time.Time
}

// Destruct implements caddy.Destructor: a route holds no resource.
func (*route) Destruct() error { return nil }

// loadRoute returns the route of name from the pool, with the objective o.
// A route whose window length changes starts a new, empty window. The caller
// releases it with routes.Delete(poolKey(name)).
func loadRoute(name string, o Objective) (*route, error) {
	v, _, err := routes.LoadOrNew(poolKey(name), func() (caddy.Destructor, error) {
		return &route{name: name}, nil
	})
	if err != nil {
		return nil, err
	}
	rt := v.(*route)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if w := rt.window.Load(); w == nil || w.Length() != o.Window {
		rt.window.Store(NewWindow(o.Window))
		rt.sent = sentCounts{}
	}
	rt.objective = o
	if rt.status.Load() == nil {
		rt.status.Store(&Status{Route: name, State: Healthy, Window: o.Window.String()})
	}
	return rt, nil
}

func poolKey(name string) string { return "api_monitor/" + name }

// tickOf is how often a window of length is evaluated: a tenth of it, within
// 100ms and 1s.
func tickOf(length time.Duration) time.Duration {
	return min(max(length/Slices, 100*time.Millisecond), time.Second)
}

// evaluate judges the window ending at now (the cluster's with Redis) and
// announces a change of state. Several configs may call it during a reload:
// it does the work at most once per half tick.
func (rt *route) evaluate(ctx context.Context, now time.Time, app gateway.App, logger *zap.Logger) {
	rt.mu.Lock()
	w := rt.window.Load()
	if now.Sub(rt.lastEval) < tickOf(w.Length())/2 {
		rt.mu.Unlock()
		return
	}
	rt.lastEval = now
	w.Prepare(now)
	var c Counts
	rdb := app.RedisClient()
	cluster := rdb != nil
	if cluster {
		if err := rt.exchange(ctx, rdb, w, now, &c); err != nil {
			if ce := logger.Check(zap.WarnLevel, "api_monitor: Redis unavailable, judging this instance's counts"); ce != nil {
				ce.Write(zap.String("route", rt.name), zap.Error(err))
			}
			c, cluster = Counts{}, false
			w.Sum(now, &c)
		}
	} else {
		w.Sum(now, &c)
	}
	o := rt.objective
	v := o.Judge(&c)
	was := rt.machine.Reason
	tr := rt.machine.Step(now, v, o.Window)
	st := describe(rt.name, rt.machine, o, &c, cluster, now)
	rt.status.Store(st)
	rt.mu.Unlock()

	switch tr {
	case BecameDegraded:
		data := map[string]any{"route": rt.name, "reason": v.Reason, "observed": v.Observed,
			"threshold": v.Threshold, "window": o.Window.String(), "requests": c.Requests}
		if v.Reason == ReasonLatency {
			data["percentile"] = o.Percentile
		}
		rt.announce(ctx, app, rdb, logger, EventDegraded, Degraded, data)
	case Recovered:
		data := map[string]any{"route": rt.name, "reason": was, "window": o.Window.String(),
			"requests": c.Requests, "error_rate": st.ErrorRate}
		if o.Latency > 0 {
			data["latency"] = c.Quantile(o.Percentile / 100).Seconds()
			data["percentile"] = o.Percentile
		}
		rt.announce(ctx, app, rdb, logger, EventRecovered, Healthy, data)
	}
}

// The events api_monitor emits.
const (
	EventDegraded  = "upstream.degraded"
	EventRecovered = "upstream.recovered"
)

// announce emits event for the route's new state. With Redis, the instance
// that moves the cluster's state (SET ... GET) emits and the others, reaching
// the same verdict on the same counts, stay silent; if Redis fails, this
// instance emits: an event twice is better than none.
func (rt *route) announce(ctx context.Context, app gateway.App, rdb redis.UniversalClient, logger *zap.Logger, event, state string, data map[string]any) {
	if rdb != nil {
		first, err := firstToSay(ctx, rdb, "apigate:monitor:"+rt.name+":state", state)
		if err != nil {
			logger.Warn("api_monitor: Redis unavailable, announcing from this instance", zap.String("route", rt.name), zap.Error(err))
		}
		if !first {
			return // another instance announced it
		}
	}
	logger.Info("api_monitor: route "+state, zap.String("route", rt.name), zap.Any("data", data))
	app.Emit(event, data)
}

// Status is a route as the admin API shows it (GET /api_gateway/routes).
type Status struct {
	Route string `json:"route"`
	// State is healthy or degraded; Reason says why it is degraded.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Window string `json:"window"`
	// Requests, Errors and ErrorRate are those of the window; with Redis,
	// the cluster's (Cluster).
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	// Latency holds the window's p50, p90 and p99 in milliseconds.
	Latency   Percentiles `json:"latency_ms"`
	Cluster   bool        `json:"cluster"`
	UpdatedAt time.Time   `json:"updated_at,omitzero"`
}

// Percentiles of latency, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

func describe(name string, m Machine, o Objective, c *Counts, cluster bool, now time.Time) *Status {
	ms := func(q float64) float64 { return float64(c.Quantile(q).Microseconds()) / 1000 }
	return &Status{
		Route: name, State: m.State, Reason: m.Reason, Window: o.Window.String(),
		Requests: c.Requests, Errors: c.Errors, ErrorRate: c.ErrorRate(),
		Latency: Percentiles{P50: ms(.50), P90: ms(.90), P99: ms(.99)},
		Cluster: cluster, UpdatedAt: now.UTC(),
	}
}

// Snapshot lists every monitored route of the running configs, by name, as
// last evaluated (at most a second ago).
func Snapshot() []Status {
	out := []Status{}
	routes.Range(func(_, v any) bool {
		if st := v.(*route).status.Load(); st != nil {
			out = append(out, *st)
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Route < out[j].Route })
	return out
}
