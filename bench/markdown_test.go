package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCPUModelFrom(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ cpuinfo, want string }{
		{"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R)  Xeon(R) CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: other\n", "Intel(R) Xeon(R) CPU @ 2.20GHz"},
		{"processor\t: 0\nBogoMIPS\t: 108.00\n\nHardware\t: BCM2835\n", "BCM2835"},
		{"processor\t: 0\nmodel name\t:\n", "unknown"},
		{"", "unknown"},
	} {
		if got := cpuModelFrom(strings.NewReader(c.cpuinfo)); got != c.want {
			t.Errorf("cpuModelFrom(%q) = %q, want %q", c.cpuinfo, got, c.want)
		}
	}
}

func TestEveryVariantSaysWhatItIs(t *testing.T) {
	t.Parallel()
	for _, v := range variants {
		if v.about == "" || strings.Contains(v.about, "|") {
			t.Errorf("variant %s: about %q must be set and hold no table separator", v.name, v.about)
		}
	}
}

func sampleReport() report {
	ratio := 0.95
	r := report{
		Caddy: "v2.11.9", GOOS: "linux", GOARCH: "amd64", CPUs: 2, GOMAXPROCS: 2,
		Concurrency: 32, Duration: "3s", Rounds: 5,
		Machine: machine{Date: "2026-01-02 03:04 UTC", CPU: "Test CPU", Go: "go1.26.0", Commit: "abc1234-dirty"},
		Results: []result{
			{Variant: "plain", RPS: 1000, RoundsRPS: []float64{990, 1000, 1010}, P50Ms: 1, P99Ms: 3},
			{Variant: "api_key", RPS: 950, RoundsRPS: []float64{950}, Ratio: &ratio, Target: 0.9, Verdict: "PASS"},
			{Variant: "rate_limit_redis", Target: 0.7, Verdict: "FAILED", Failure: "redis-server:\nnot found"},
		},
	}
	return r
}

func TestMarkdownTable(t *testing.T) {
	t.Parallel()
	r := sampleReport()
	var b bytes.Buffer
	r.markdown(&b)
	got := b.String()
	for _, want := range []string{
		"2026-01-02 03:04 UTC", "`abc1234-dirty`", "Test CPU, 2 cores", "linux/amd64", "go1.26.0", "Caddy v2.11.9",
		"| `plain` | plain `reverse_proxy`, the baseline | 1000 | ±1.0% |",
		"| `api_key` | `api_auth` (API key) + `api_authorize` | 950 |",
		"| 0.95 | 0.90 | PASS |",
		"`rate_limit_redis` was not measured: redis-server: not found",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("markdown lacks %q:\n%s", want, got)
		}
	}
}

func TestWriteBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	page := filepath.Join(dir, "benchmarks.md")
	head := "# Benchmarks\n\nHand-written text.\n\n"
	tail := "\n\nAfter the block.\n"
	if err := os.WriteFile(page, []byte(head+blockBegin+"\nold figures\n"+blockEnd+tail), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 { // replacing twice gives the same page
		if err := writeBlock(page, []byte("new figures\n")); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(page)
		got := string(b)
		if !strings.HasPrefix(got, head+blockBegin+"\n") || !strings.HasSuffix(got, "new figures\n\n"+blockEnd+tail) || strings.Contains(got, "old figures") {
			t.Fatalf("page after writeBlock:\n%s", got)
		}
	}

	fresh := filepath.Join(dir, "new.md")
	if err := writeBlock(fresh, []byte("figures")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fresh); !strings.HasPrefix(string(b), blockBegin) || !strings.HasSuffix(string(b), blockEnd+"\n") {
		t.Errorf("new page:\n%s", b)
	}

	unmarked := filepath.Join(dir, "unmarked.md")
	os.WriteFile(unmarked, []byte("# Someone's notes\n"), 0o644)
	if err := writeBlock(unmarked, []byte("figures")); err == nil {
		t.Error("a page without markers was overwritten")
	}
	if b, _ := os.ReadFile(unmarked); string(b) != "# Someone's notes\n" {
		t.Errorf("unmarked page changed: %q", b)
	}
}
