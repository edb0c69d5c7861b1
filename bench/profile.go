package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profiler fetches Caddy's profiles from its admin API (/debug/pprof/) while a
// variant is loaded, one file per variant, round and kind, so that
//
//	go tool pprof -top -diff_base 'DIR/plain.*.cpu.pb.gz' DIR/monitor.*.cpu.pb.gz
//
// shows where a variant's CPU goes beyond its baseline's (pprof merges the
// rounds' files). The profiles cover d rounded down to whole seconds (at
// least one), from the start of the round.
type profiler struct {
	dir      string
	adminURL string
	client   *http.Client
}

// newProfiler returns the profiler writing into dir, created if need be, or
// nil (no profiles) when dir is empty.
func newProfiler(dir, adminURL string) (*profiler, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &profiler{dir: dir, adminURL: adminURL, client: &http.Client{Timeout: time.Minute}}, nil
}

// profileKinds are the profiles taken in each round: the CPU, and the
// allocations made during the round (a delta of the allocs profile).
var profileKinds = []struct{ name, path string }{
	{"cpu", "/debug/pprof/profile"},
	{"allocs", "/debug/pprof/allocs"},
}

// start fetches the profiles of variant in round in the background; the
// returned function waits for them and reports their errors.
func (p *profiler) start(ctx context.Context, variant string, round int, d time.Duration) func() error {
	if p == nil {
		return func() error { return nil }
	}
	secs := max(int(d/time.Second), 1)
	errs := make(chan error, len(profileKinds))
	for _, k := range profileKinds {
		go func() {
			file := filepath.Join(p.dir, fmt.Sprintf("%s.r%d.%s.pb.gz", variant, round, k.name))
			errs <- p.fetch(ctx, fmt.Sprintf("%s%s?seconds=%d", p.adminURL, k.path, secs), file)
		}()
	}
	return func() error {
		var all []error
		for range profileKinds {
			all = append(all, <-errs)
		}
		return errors.Join(all...)
	}
}

func (p *profiler) fetch(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("profile %s: status %d: %s", url, resp.StatusCode, snippet(b))
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", url, err)
	}
	return f.Close()
}
