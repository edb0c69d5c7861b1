package monitor

import "time"

// Objective is what a route is held to. The zero ErrorRate or Latency turns
// that threshold off.
type Objective struct {
	// ErrorRate is the share of failed requests (0 < r <= 1) past which the
	// route is degraded.
	ErrorRate float64
	// Percentile (0 < p < 100) and Latency: the route is degraded when that
	// percentile of its requests' latencies is past Latency.
	Percentile float64
	Latency    time.Duration
	// MinRequests is the fewest requests in the window on which a verdict is
	// given.
	MinRequests int64
	// Window is how long the route must hold healthy before it has recovered.
	Window time.Duration
}

// Reasons of a degraded verdict.
const (
	ReasonErrorRate = "error_rate"
	ReasonLatency   = "latency"
)

// Verdict is what an Objective says of a window's counts.
type Verdict struct {
	// Enough is whether there were MinRequests requests to judge.
	Enough bool
	// Reason is ReasonErrorRate or ReasonLatency when a threshold is crossed
	// (the error rate first), else "".
	Reason string
	// Observed and Threshold are the crossed threshold's values: a share of
	// requests for error_rate, seconds for latency.
	Observed, Threshold float64
}

// Judge gives the verdict on c.
func (o Objective) Judge(c *Counts) Verdict {
	v := Verdict{Enough: c.Requests > 0 && c.Requests >= o.MinRequests}
	if !v.Enough {
		return v
	}
	if rate := c.ErrorRate(); o.ErrorRate > 0 && rate > o.ErrorRate {
		v.Reason, v.Observed, v.Threshold = ReasonErrorRate, rate, o.ErrorRate
		return v
	}
	if o.Latency > 0 {
		if q := c.Quantile(o.Percentile / 100); q > o.Latency {
			v.Reason, v.Observed, v.Threshold = ReasonLatency, q.Seconds(), o.Latency.Seconds()
		}
	}
	return v
}

// States of a route.
const (
	Healthy  = "healthy"
	Degraded = "degraded"
)

// Transition is a change of state a Machine reports.
type Transition int

// The transitions.
const (
	None Transition = iota
	BecameDegraded
	Recovered
)

// Machine is a route's state with hysteresis: it turns degraded on the first
// verdict past a threshold, and healthy again only after every verdict for a
// whole window was healthy, so a route near its threshold raises one pair of
// events, not one per request. Too few requests is no verdict: the state
// stays, and a healthy streak neither starts nor breaks. The zero Machine is
// healthy. It is not safe for concurrent use.
type Machine struct {
	State string
	// Reason is why the route is degraded.
	Reason string
	// healthySince is when a degraded route's healthy streak began.
	healthySince time.Time
}

// Step feeds the verdict v, given at now, to the machine and returns the
// transition it makes.
func (m *Machine) Step(now time.Time, v Verdict, window time.Duration) Transition {
	if m.State == "" {
		m.State = Healthy
	}
	switch {
	case !v.Enough:
		return None
	case v.Reason != "":
		m.healthySince = time.Time{}
		if m.State == Degraded {
			return None
		}
		m.State, m.Reason = Degraded, v.Reason
		return BecameDegraded
	case m.State == Healthy:
		return None
	case m.healthySince.IsZero():
		m.healthySince = now
		return None
	case now.Sub(m.healthySince) >= window:
		m.State, m.Reason, m.healthySince = Healthy, "", time.Time{}
		return Recovered
	}
	return None
}
