package monitor

import (
	"testing"
	"time"
)

func counts(requests, errors int64, latency time.Duration) *Counts {
	c := &Counts{Requests: requests, Errors: errors}
	c.Bins[binOf(latency.Microseconds())] = requests
	return c
}

func TestJudge(t *testing.T) {
	o := Objective{ErrorRate: 0.05, Percentile: 99, Latency: 800 * time.Millisecond, MinRequests: 20, Window: time.Minute}
	for _, tc := range []struct {
		name   string
		c      *Counts
		enough bool
		reason string
	}{
		{"too few", counts(19, 19, time.Second), false, ""},
		{"healthy", counts(100, 5, 100*time.Millisecond), true, ""},
		{"errors", counts(100, 30, 100*time.Millisecond), true, ReasonErrorRate},
		{"slow", counts(100, 0, 2*time.Second), true, ReasonLatency},
		{"both: error rate first", counts(100, 30, 2*time.Second), true, ReasonErrorRate},
	} {
		v := o.Judge(tc.c)
		if v.Enough != tc.enough || v.Reason != tc.reason {
			t.Errorf("%s: got %+v", tc.name, v)
		}
	}
	if v := o.Judge(counts(100, 30, 0)); v.Observed != 0.3 || v.Threshold != 0.05 {
		t.Errorf("error_rate verdict: %+v", v)
	}
	if v := o.Judge(counts(100, 0, 2*time.Second)); v.Observed < 1.9 || v.Observed > 2.3 || v.Threshold != 0.8 {
		t.Errorf("latency verdict: %+v", v)
	}
	off := Objective{Percentile: 99, Latency: time.Second, MinRequests: 1}
	if v := off.Judge(counts(10, 10, time.Millisecond)); v.Reason != "" {
		t.Errorf("error_rate off still judged: %+v", v)
	}
}

func TestMachineHysteresis(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	window := 10 * time.Second
	bad := Verdict{Enough: true, Reason: ReasonErrorRate}
	good := Verdict{Enough: true}
	few := Verdict{}
	steps := []struct {
		at   time.Duration
		v    Verdict
		want Transition
	}{
		{0, good, None},
		{1 * time.Second, bad, BecameDegraded},
		{2 * time.Second, bad, None}, // still bad: no second event
		{3 * time.Second, good, None},
		{8 * time.Second, bad, None}, // the streak breaks: no flapping pair
		{9 * time.Second, good, None},
		{12 * time.Second, few, None}, // too few requests: no verdict
		{18 * time.Second, good, None},
		{19 * time.Second, good, Recovered}, // healthy since 9s: a whole window
		{20 * time.Second, good, None},
		{21 * time.Second, bad, BecameDegraded},
	}
	var m Machine
	for _, s := range steps {
		if got := m.Step(t0.Add(s.at), s.v, window); got != s.want {
			t.Fatalf("at %s: transition %d, want %d (state %s)", s.at, got, s.want, m.State)
		}
	}
	if m.State != Degraded || m.Reason != ReasonErrorRate {
		t.Fatalf("state %s %s", m.State, m.Reason)
	}
}
