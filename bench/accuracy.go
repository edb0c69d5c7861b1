package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// accuracyResult is what the gateways admitted of one key hammered for a time.
type accuracyResult struct {
	admitted, other int64
	span            time.Duration
}

// runAccuracy starts one Redis and three Caddy processes on it, each serving
// one key limited to n per window, with leases and with sync exact, hammers
// the key on all three for -accuracy, and prints the admitted count beside
// the exact GCRA figure (burst + span/interval) and the stated bound (plus
// one lease per gateway: 5% of n·W/W + burst in all).
func runAccuracy(ctx context.Context, o options, n int, window time.Duration) error {
	tmp, err := os.MkdirTemp("", "apigate-accuracy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin, err := caddyBinary(ctx, o, tmp)
	if err != nil {
		return err
	}
	env, stopRedis, err := startRedis(ctx, tmp)
	if err != nil {
		return err
	}
	defer stopRedis()
	var vs []variant
	for _, sync := range []string{"lease 50ms", "exact"} {
		name := "accuracy_" + sync[:5]
		vs = append(vs, variant{name: name, global: redisGlobal, site: fmt.Sprintf(`api_rate_limit {
	zone %s {
		key one
		rate %d/%s
	}
	backend redis
	sync %s
}
respond ok`, name, n, window, sync)})
	}
	var procs []*caddyProcess
	for i := range 3 {
		dir := filepath.Join(tmp, fmt.Sprint("gateway", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		c, err := startCaddy(ctx, bin, dir, "127.0.0.1:1", vs, env)
		if err != nil {
			return err
		}
		defer c.stop()
		procs = append(procs, c)
	}
	client := newClient(3*o.concurrency, o.timeout)
	defer client.CloseIdleConnections()
	iv := window / time.Duration(n)
	leases := 3 * int(0.05*float64(2*n)/3)
	for k, v := range vs {
		var urls []string
		for _, c := range procs {
			urls = append(urls, c.sites[k].url)
		}
		r := hammerAll(ctx, client, urls, o.concurrency, o.accuracy)
		exact := int64(n) + int64(r.span/iv)
		fmt.Printf("%s: %d admitted in %v by 3 gateways; exact GCRA %d; bound %d (+%d: one lease per gateway); overshoot %+d (%+.2f%%); %d other answers\n",
			v.name, r.admitted, r.span.Round(time.Millisecond), exact, exact+int64(leases), leases,
			r.admitted-exact, 100*float64(r.admitted-exact)/float64(exact), r.other)
	}
	return nil
}

// hammerAll sends GETs to every URL from workers loops each for d.
func hammerAll(ctx context.Context, client *http.Client, urls []string, workers int, d time.Duration) accuracyResult {
	var admitted, other atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for _, u := range urls {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) && ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
					resp, err := client.Do(req)
					if err != nil {
						other.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusOK:
						admitted.Add(1)
					case http.StatusTooManyRequests:
					default:
						other.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	return accuracyResult{admitted: admitted.Load(), other: other.Load(), span: time.Since(start)}
}
