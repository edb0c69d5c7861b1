// Command bench is a side-by-side load benchmark of the whole gateway against
// plain reverse_proxy. From the repository root:
//
//	go run ./bench                                   # every variant, 5 rounds of 3s, 32 workers
//	go run ./bench -variants plain,api_key -rounds 3 -d 2s
//	go run ./bench -caddy /tmp/caddy -json results.json   # reuse a binary; -json - for stdout
//	go run ./bench -write docs/benchmarks.md              # the figures the docs show
//	go run ./bench -variants plain,monitor -profile /tmp/prof  # and Caddy's profiles, for
//	go tool pprof -top -diff_base '/tmp/prof/plain.*.cpu.pb.gz' /tmp/prof/monitor.*.cpu.pb.gz
//
// It builds Caddy with this plugin (`go build ./cmd/caddy`) unless -caddy names a binary,
// serves a small JSON upstream from this process, and starts one Caddy process with one
// site per variant, every listener on 127.0.0.1. Each round runs every variant for -d
// with -c keep-alive workers; rounds are interleaved (and each starts at a different
// variant) so machine noise hits every variant alike, and a first warm-up round is not
// counted. It prints requests/s (median over rounds), p50 and p99 latency of the 200
// responses, errors, the ratio to plain and, where a variant has one, its target ratio
// with PASS or BELOW. It is a measurement, not a test: it exits 0 whatever the figures.
// With -write it also replaces the generated block of a Markdown page with the results,
// the date, the machine (CPU model, cores, Go, OS/arch) and the commit.
// On Linux it also prints the CPU time per request of Caddy and of its own
// process (load generator and upstream): on a shared machine, where req/s
// moves with the other load, these compare variants more steadily.
//
// To add a variant, add one entry to the variants table in variants.go: a name, the site
// body (the Caddyfile inside the site block, with {$BENCH_UPSTREAM} for the upstream
// address), and where needed a setup function that runs once Caddy is up and returns the
// headers to send, a target ratio, and a request method and body.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// options are the command-line settings of one benchmark run.
type options struct {
	caddyBin    string
	concurrency int
	duration    time.Duration
	rounds      int
	variants    string
	jsonOut     string
	mdOut       string
	timeout     time.Duration
	keep        bool
	accuracy    time.Duration
	profileDir  string
}

func main() {
	var o options
	flag.StringVar(&o.caddyBin, "caddy", "", "use this Caddy binary instead of building ./cmd/caddy")
	flag.IntVar(&o.concurrency, "c", 32, "concurrent keep-alive workers")
	flag.DurationVar(&o.duration, "d", 3*time.Second, "duration of each variant in each round")
	flag.IntVar(&o.rounds, "rounds", 5, "counted rounds, after one warm-up round")
	flag.StringVar(&o.variants, "variants", "", "comma-separated variants to run (default all: "+strings.Join(variantNames(), ",")+")")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file (- for stdout; the table then goes to stderr)")
	flag.StringVar(&o.mdOut, "write", "", "also write the results, with date, machine and commit, between the bench:begin and bench:end markers of this Markdown page (docs/benchmarks.md)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of one request")
	flag.DurationVar(&o.accuracy, "accuracy", 0, "instead of the variants, run the accuracy check for this long: three gateways on one Redis hammer one key limited to 600/1m, with leases and with sync exact")
	flag.StringVar(&o.profileDir, "profile", "", "also fetch Caddy's CPU and allocation profiles of every counted round from its admin API into this directory (VARIANT.rROUND.{cpu,allocs}.pb.gz), for go tool pprof -diff_base")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (Caddyfile, Caddy's log, binary) for inspection")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "bench: interrupted")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.concurrency < 1 || o.duration <= 0 || o.rounds < 1 || o.timeout <= 0 {
		return errors.New("-c and -rounds must be at least 1, -d and -timeout positive")
	}
	if o.accuracy > 0 {
		return runAccuracy(ctx, o, 600, time.Minute)
	}
	selected, err := selectVariants(o.variants)
	if err != nil {
		return err
	}
	return runVariants(ctx, o, selected)
}

// runVariants starts the upstream, the services and one Caddy with a site per
// selected variant, measures them in interleaved rounds and writes the report.
func runVariants(ctx context.Context, o options, selected []variant) error {
	tmp, err := os.MkdirTemp("", "apigate-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		defer logf("kept %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin, err := caddyBinary(ctx, o, tmp)
	if err != nil {
		return err
	}
	up, err := startUpstream()
	if err != nil {
		return err
	}
	defer up.Close()

	env, stopServices, err := startServices(ctx, selected, tmp)
	defer stopServices()
	if err != nil {
		return err
	}

	c, err := startCaddy(ctx, bin, tmp, up.addr, selected, env)
	if err != nil {
		return err
	}
	defer c.stop()

	client := newClient(o.concurrency, o.timeout)
	defer client.CloseIdleConnections()

	results, jobs, slots, err := prepareAll(ctx, client, c)
	if err != nil {
		return err
	}

	stats, err := measure(ctx, c, client, jobs, o)
	if err != nil {
		return err
	}
	if err := c.alive(); err != nil {
		return err
	}
	for k, j := range jobs {
		results[slots[k]] = stats[k].result(j.name, j.target)
		if j.zone != "" && stats[k].ok+stats[k].errors > 0 {
			perRequest := stats[k].calls / float64(stats[k].ok+stats[k].errors)
			results[slots[k]].RedisCallsPerRequest = &perRequest
		}
	}

	rep := newReport(ctx, c.version, o, results)
	rep.compare()
	return rep.write(o.jsonOut, o.mdOut)
}

// logf prints progress to stderr, keeping stdout for the results.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// startServices starts the services the selected variants need (a Redis, a
// token endpoint), one per kind, and returns their environment for Caddy and
// the function that stops them all.
func startServices(ctx context.Context, selected []variant, tmp string) (env []string, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	started := map[uintptr]bool{} // variants sharing a service share one
	for _, v := range selected {
		if v.services == nil || started[reflect.ValueOf(v.services).Pointer()] {
			continue
		}
		started[reflect.ValueOf(v.services).Pointer()] = true
		e, stopService, err := v.services(ctx, tmp)
		if err != nil {
			return nil, stop, fmt.Errorf("%s: %w", v.name, err)
		}
		stops = append(stops, stopService)
		env = append(env, e...)
	}
	return env, stop, nil
}

// measure runs the interleaved rounds: one warm-up, then o.rounds counted,
// each round starting at a different variant so none always runs first.
func measure(ctx context.Context, c *caddyProcess, client *http.Client, jobs []*job, o options) ([]variantStats, error) {
	logf("caddy %s, %s/%s, %d CPUs, GOMAXPROCS %d", c.version, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	logf("%d workers, %v per variant per round, 1 warm-up + %d rounds", o.concurrency, o.duration, o.rounds)
	stats := make([]variantStats, len(jobs))
	prof, err := newProfiler(o.profileDir, c.adminURL)
	if err != nil {
		return nil, err
	}
	for round := 0; round <= o.rounds; round++ {
		for k := range jobs {
			// Start each round at a different variant so none always runs first.
			i := (k + round) % len(jobs)
			if err := c.alive(); err != nil {
				return nil, err
			}
			before := backendCalls(ctx, client, c.adminURL, jobs[i].zone)
			var p *profiler
			if round > 0 {
				p = prof
			}
			r, err := runRound(ctx, c, client, jobs[i], o, p, round)
			if err != nil {
				return nil, err
			}
			label := fmt.Sprintf("round %d/%d", round, o.rounds)
			if round == 0 {
				label = "warm-up"
			} else {
				stats[i].calls += backendCalls(ctx, client, c.adminURL, jobs[i].zone) - before
				stats[i].add(r)
			}
			cpu := ""
			if n := r.ok + r.errors; n > 0 && r.caddyCPU > 0 {
				cpu = fmt.Sprintf("  CPU/req %.1fµs caddy, %.1fµs bench", float64(r.caddyCPU.Microseconds())/float64(n), float64(r.selfCPU.Microseconds())/float64(n))
			}
			logf("%-11s %-12s %8.0f req/s  %d errors%s", label, jobs[i].name, r.rps(), r.errors, cpu)
		}
	}
	return stats, nil
}

// runRound loads one job for one round, measuring the CPU time Caddy and this
// process spend on it and, with a profiler, fetching Caddy's profiles of it.
func runRound(ctx context.Context, c *caddyProcess, client *http.Client, j *job, o options, prof *profiler, round int) (*roundResult, error) {
	profiled := prof.start(ctx, j.name, round, o.duration)
	caddy0, self0, cpuOK := cpuTimes(c.cmd.Process.Pid)
	r, err := runLoad(ctx, client, j, o.concurrency, o.duration)
	if caddy1, self1, ok := cpuTimes(c.cmd.Process.Pid); err == nil && ok && cpuOK {
		r.caddyCPU, r.selfCPU = caddy1-caddy0, self1-self0
	}
	if perr := profiled(); err == nil && perr != nil {
		err = perr
	}
	return r, err
}

// prepareAll sets every site's variant up. A variant whose setup or first
// request fails is reported and left out of the rounds, so the others are
// still measured: slots[k] is jobs[k]'s index in results.
func prepareAll(ctx context.Context, client *http.Client, c *caddyProcess) (results []result, jobs []*job, slots []int, err error) {
	results = make([]result, len(c.sites))
	for i, s := range c.sites {
		j, err := prepare(ctx, client, c.adminURL, s)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, nil, ctx.Err()
			}
			logf("%s: %v", s.v.name, err)
			results[i] = result{Variant: s.v.name, Target: s.v.target, Failure: err.Error()}
			continue
		}
		jobs = append(jobs, j)
		slots = append(slots, i)
	}
	return results, jobs, slots, nil
}

// newReport is the report of a run: the machine, the settings and the results.
func newReport(ctx context.Context, caddyVersion string, o options, results []result) report {
	return report{
		Caddy:       caddyVersion,
		GOOS:        runtime.GOOS,
		GOARCH:      runtime.GOARCH,
		CPUs:        runtime.NumCPU(),
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		Concurrency: o.concurrency,
		Duration:    o.duration.String(),
		Rounds:      o.rounds,
		Machine:     describeMachine(ctx, time.Now()),
		Results:     results,
	}
}

// caddyBinary is the Caddy to run: -caddy's, made absolute (Caddy runs in
// tmp), or one built into tmp.
func caddyBinary(ctx context.Context, o options, tmp string) (string, error) {
	if o.caddyBin == "" {
		return buildCaddy(ctx, tmp)
	}
	return filepath.Abs(o.caddyBin)
}
