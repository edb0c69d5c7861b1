package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// The markers around the block of a Markdown page that -write replaces. What
// stands outside them is the page's own text and is kept as it is.
const (
	blockBegin = "<!-- bench:begin -->"
	blockEnd   = "<!-- bench:end -->"
)

// machine says where and from what a run was made, so that written figures
// carry their context.
type machine struct {
	// Date is when the run ended, in UTC.
	Date string `json:"date"`
	// CPU is the processor's model name, from /proc/cpuinfo where there is one.
	CPU string `json:"cpu"`
	// Go is the toolchain that built the benchmark (and, with go build, Caddy).
	Go string `json:"go"`
	// Commit is the checkout's short commit, with "-dirty" when the tree holds
	// changes; "unknown" outside a Git checkout.
	Commit string `json:"commit"`
}

// describeMachine fills a machine from the running system and the Git
// checkout in the working directory.
func describeMachine(ctx context.Context, now time.Time) machine {
	return machine{
		Date:   now.UTC().Format("2006-01-02 15:04 MST"),
		CPU:    cpuModel(),
		Go:     runtime.Version(),
		Commit: gitCommit(ctx),
	}
}

// cpuModel returns the processor model /proc/cpuinfo names, or "unknown".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	return cpuModelFrom(f)
}

// cpuModelFrom reads a /proc/cpuinfo: the first "model name" (x86, most
// others), else "Hardware" or "cpu model" (some ARM and MIPS kernels).
func cpuModelFrom(r io.Reader) string {
	fallback := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		name, val = strings.TrimSpace(name), strings.Join(strings.Fields(val), " ")
		switch {
		case val == "":
		case name == "model name":
			return val
		case fallback == "" && (name == "Hardware" || name == "cpu model"):
			fallback = val
		}
	}
	if fallback == "" {
		return "unknown"
	}
	return fallback
}

// gitCommit returns `git rev-parse --short HEAD`, with "-dirty" when
// `git status --porcelain` lists anything, or "unknown".
func gitCommit(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	status, err := exec.CommandContext(ctx, "git", "status", "--porcelain").Output()
	if err != nil || len(bytes.TrimSpace(status)) > 0 {
		commit += "-dirty"
	}
	return commit
}

// markdown writes the results as the generated block of a Markdown page: what
// was measured where, then one table row per variant.
func (r *report) markdown(out io.Writer) {
	fmt.Fprintf(out, "Run of %s at commit `%s`, written by `go run ./bench -write`.\n\n", r.Machine.Date, r.Machine.Commit)
	fmt.Fprintf(out, "- Machine: %s, %d cores (GOMAXPROCS %d), %s/%s\n", r.Machine.CPU, r.CPUs, r.GOMAXPROCS, r.GOOS, r.GOARCH)
	fmt.Fprintf(out, "- Software: %s, Caddy %s\n", r.Machine.Go, r.Caddy)
	rounds := "rounds"
	if r.Rounds == 1 {
		rounds = "round"
	}
	fmt.Fprintf(out, "- Load: %d keep-alive workers; per variant 1 warm-up round, then %d counted %s of %s; req/s is the median over rounds, latency over every counted 200\n\n",
		r.Concurrency, r.Rounds, rounds, r.Duration)
	fmt.Fprintln(out, "| variant | in front of the upstream | req/s | spread | p50 ms | p99 ms | errors | Caddy CPU µs/req | vs baseline | target | verdict |")
	fmt.Fprintln(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, res := range r.Results {
		about := aboutOf(res.Variant)
		if res.Failure != "" {
			fmt.Fprintf(out, "| `%s` | %s | - | - | - | - | - | - | - | %s | %s |\n", res.Variant, about, fmtTarget(res.Target), res.Verdict)
			continue
		}
		ratio := "-"
		if res.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *res.Ratio)
			if res.Baseline != "" {
				ratio += " (vs `" + res.Baseline + "`)"
			}
		}
		fmt.Fprintf(out, "| `%s` | %s | %.0f | %s | %.2f | %.2f | %d | %s | %s | %s | %s |\n",
			res.Variant, about, res.RPS, spread(res.RoundsRPS), res.P50Ms, res.P99Ms, res.Errors, caddyCPU(r, res), ratio, fmtTarget(res.Target), res.Verdict)
	}
	for _, res := range r.Results {
		switch {
		case res.Failure != "":
			fmt.Fprintf(out, "\n`%s` was not measured: %s\n", res.Variant, oneLine(res.Failure))
		case res.Errors > 0:
			fmt.Fprintf(out, "\n`%s` had %d errors, the first: %s\n", res.Variant, res.Errors, oneLine(res.FirstError))
		}
	}
}

// caddyCPU is Caddy's CPU time per request and, for a variant with a
// baseline, how much more (or less) than the baseline's: the cost of the
// variant's handlers, steadier than req/s on a shared machine.
func caddyCPU(r *report, res result) string {
	if res.CaddyCPUMicros == nil {
		return "-"
	}
	s := fmt.Sprintf("%.1f", *res.CaddyCPUMicros)
	base := res.Baseline
	if base == "" && res.Ratio != nil {
		base = "plain"
	}
	for _, b := range r.Results {
		if base != "" && b.Variant == base && b.Variant != res.Variant && b.CaddyCPUMicros != nil {
			s += fmt.Sprintf(" (%+.1f)", *res.CaddyCPUMicros-*b.CaddyCPUMicros)
		}
	}
	return s
}

// aboutOf returns what the named variant puts in front of the upstream.
func aboutOf(name string) string {
	for _, v := range variants {
		if v.name == name {
			return v.about
		}
	}
	return ""
}

// oneLine keeps a message on one Markdown line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// writeBlock puts block between the markers of the Markdown page at path,
// keeping the rest of the page. A page that does not exist is created with the
// markers and the block alone; a page without both markers, in order, is an
// error rather than overwritten.
func writeBlock(path string, block []byte) error {
	var fresh bytes.Buffer
	fresh.WriteString(blockBegin + "\n")
	fresh.WriteString("<!-- Generated: go run ./bench -write replaces everything up to bench:end. -->\n\n")
	fresh.Write(bytes.TrimRight(block, "\n"))
	fresh.WriteString("\n\n" + blockEnd)

	page, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fresh.WriteString("\n")
		return os.WriteFile(path, fresh.Bytes(), 0o644)
	case err != nil:
		return err
	}
	begin := bytes.Index(page, []byte(blockBegin))
	end := bytes.Index(page, []byte(blockEnd))
	if begin < 0 || end < begin {
		return fmt.Errorf("%s has no %s ... %s block to replace", path, blockBegin, blockEnd)
	}
	var out bytes.Buffer
	out.Write(page[:begin])
	out.Write(fresh.Bytes())
	out.Write(page[end+len(blockEnd):])
	return os.WriteFile(path, out.Bytes(), 0o644)
}
