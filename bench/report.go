package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"
)

// report is the outcome of a run, printed as a table and optionally as JSON.
type report struct {
	Caddy       string   `json:"caddy"`
	GOOS        string   `json:"goos"`
	GOARCH      string   `json:"goarch"`
	CPUs        int      `json:"cpus"`
	GOMAXPROCS  int      `json:"gomaxprocs"`
	Concurrency int      `json:"concurrency"`
	Duration    string   `json:"duration_per_round"`
	Rounds      int      `json:"rounds"`
	Machine     machine  `json:"machine"`
	Results     []result `json:"results"`
}

// result is one variant's figures over the counted rounds.
type result struct {
	Variant string `json:"variant"`
	// RPS is the median over rounds of the 200 responses per second.
	RPS float64 `json:"rps"`
	// RoundsRPS is each counted round's requests per second, in order.
	RoundsRPS []float64 `json:"rounds_rps,omitempty"`
	// P50Ms and P99Ms are latency quantiles of every counted 200 response.
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	// FirstError is an example of the errors, if any.
	FirstError string `json:"first_error,omitempty"`
	// Ratio is RPS divided by the baseline's (plain's, unless Baseline names
	// another variant); absent without it.
	Ratio *float64 `json:"ratio,omitempty"`
	// Baseline is the variant Ratio compares with, when it is not plain.
	Baseline string `json:"baseline,omitempty"`
	// Target is the ratio the variant should reach; absent where it has none.
	Target float64 `json:"target,omitempty"`
	// Verdict is PASS, BELOW or ERRORS against the target, or FAILED; empty without
	// a target.
	Verdict string `json:"verdict,omitempty"`
	// RedisCallsPerRequest is, for a rate limit on Redis, the calls its zone
	// made per request in the counted rounds.
	RedisCallsPerRequest *float64 `json:"redis_calls_per_request,omitempty"`
	// CaddyCPUMicros and BenchCPUMicros are the median over rounds of the
	// CPU time per request of Caddy and of the benchmark's own process (load
	// generator and upstream), in microseconds; absent where not measured
	// (outside Linux).
	CaddyCPUMicros *float64 `json:"caddy_cpu_us_per_request,omitempty"`
	BenchCPUMicros *float64 `json:"bench_cpu_us_per_request,omitempty"`
	// Failure says why a variant was not measured (setup or first request failed).
	Failure string `json:"failure,omitempty"`
}

func (s *variantStats) result(name string, target float64) result {
	res := result{
		Variant:    name,
		RPS:        median(s.rounds),
		RoundsRPS:  s.rounds,
		P50Ms:      ms(s.hist.quantile(0.50)),
		P99Ms:      ms(s.hist.quantile(0.99)),
		Requests:   s.ok,
		Errors:     s.errors,
		FirstError: s.firstErr,
		Target:     target,
	}
	if len(s.caddyCPU) > 0 {
		caddy, self := median(s.caddyCPU), median(s.selfCPU)
		res.CaddyCPUMicros, res.BenchCPUMicros = &caddy, &self
	}
	return res
}

// compare fills every result's ratio to its baseline (plain, unless the variant
// names another) and its verdict against its target.
func (r *report) compare() {
	byName := map[string]*result{}
	for i := range r.Results {
		if r.Results[i].Failure == "" && r.Results[i].RPS > 0 {
			byName[r.Results[i].Variant] = &r.Results[i]
		}
	}
	for i := range r.Results {
		res := &r.Results[i]
		base := baselineOf(res.Variant)
		if base != "plain" {
			res.Baseline = base
		}
		switch {
		case res.Failure != "":
			res.Verdict = "FAILED"
			continue
		case byName[base] != nil:
			ratio := res.RPS / byName[base].RPS
			res.Ratio = &ratio
		}
		switch {
		case res.Target == 0:
		case res.Errors > 0:
			res.Verdict = "ERRORS"
		case res.Ratio == nil:
			res.Verdict = "" // no plain to compare with
		case *res.Ratio >= res.Target:
			res.Verdict = "PASS"
		default:
			res.Verdict = "BELOW"
		}
	}
}

// write prints the table, to stdout or, when the JSON goes to stdout, to stderr,
// writes the JSON where jsonOut says, and the Markdown block into the page
// mdOut names.
func (r *report) write(jsonOut, mdOut string) error {
	if mdOut != "" {
		var block bytes.Buffer
		r.markdown(&block)
		if err := writeBlock(mdOut, block.Bytes()); err != nil {
			return fmt.Errorf("writing the results: %w", err)
		}
		logf("results written to %s", mdOut)
	}
	table := io.Writer(os.Stdout)
	if jsonOut == "-" {
		table = os.Stderr
	}
	r.table(table)
	if jsonOut == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if jsonOut == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	if err := os.WriteFile(jsonOut, b, 0o644); err != nil {
		return fmt.Errorf("writing the results: %w", err)
	}
	logf("results written to %s", jsonOut)
	return nil
}

func (r *report) table(out io.Writer) {
	fmt.Fprintf(out, "\ncaddy %s, %s/%s, %d CPUs; %d workers, %d rounds of %s per variant (median req/s; latency over all counted 200s)\n\n",
		r.Caddy, r.GOOS, r.GOARCH, r.CPUs, r.Concurrency, r.Rounds, r.Duration)
	fmt.Fprintf(out, "%s; %s; commit %s; %s\n\n", r.Machine.CPU, r.Machine.Go, r.Machine.Commit, r.Machine.Date)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "variant\treq/s\tspread\tp50 ms\tp99 ms\trequests\terrors\tvs plain\ttarget\tverdict")
	for _, res := range r.Results {
		if res.Failure != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\t%s\n", res.Variant, fmtTarget(res.Target), res.Verdict)
			continue
		}
		ratio := "-"
		if res.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *res.Ratio)
		}
		if res.Baseline != "" && res.Ratio != nil {
			ratio += " (vs " + res.Baseline + ")"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%.2f\t%.2f\t%d\t%d\t%s\t%s\t%s\n",
			res.Variant, res.RPS, spread(res.RoundsRPS), res.P50Ms, res.P99Ms, res.Requests, res.Errors, ratio, fmtTarget(res.Target), res.Verdict)
	}
	tw.Flush()
	for _, res := range r.Results {
		if res.CaddyCPUMicros != nil {
			fmt.Fprintf(out, "%s: CPU per request %.1fµs in Caddy, %.1fµs in the load generator and upstream\n", res.Variant, *res.CaddyCPUMicros, *res.BenchCPUMicros)
		}
	}
	for _, res := range r.Results {
		if res.RedisCallsPerRequest != nil {
			fmt.Fprintf(out, "%s: %.4f Redis calls per request\n", res.Variant, *res.RedisCallsPerRequest)
		}
	}
	for _, res := range r.Results {
		switch {
		case res.Failure != "":
			fmt.Fprintf(out, "\n%s not measured: %s\n", res.Variant, res.Failure)
		case res.Errors > 0:
			fmt.Fprintf(out, "\n%s had %d errors, the first: %s\n", res.Variant, res.Errors, res.FirstError)
		}
	}
	fmt.Fprintln(out)
}

func fmtTarget(t float64) string {
	if t == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", t)
}

// spread is the range of the rounds' requests/s as a share of their median, ±%.
func spread(rounds []float64) string {
	m := median(rounds)
	if len(rounds) < 2 || m == 0 {
		return "-"
	}
	return fmt.Sprintf("±%.1f%%", (slices.Max(rounds)-slices.Min(rounds))/2/m*100)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
