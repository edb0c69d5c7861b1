package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxRequestsPerWorker bounds one worker's requests in one round, whatever the
// duration, so a round always ends.
const maxRequestsPerWorker = 1 << 24

// job is a variant ready to be loaded: Caddy serves it and its setup has run.
type job struct {
	name   string
	url    string
	method string
	body   []byte
	header http.Header
	target float64
	zone   string // the variant's redisZone
}

// newClient returns the one client every worker shares: keep-alive with an idle
// connection per worker and per site, no proxy, no compression, no redirects.
func newClient(workers int, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        0, // no limit across sites; MaxIdleConnsPerHost bounds each
			MaxIdleConnsPerHost: workers,
			IdleConnTimeout:     2 * time.Minute,
			DisableCompression:  true,
		},
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// prepare runs the variant's setup, then sends it one request, which must answer 200.
func prepare(ctx context.Context, client *http.Client, adminURL string, s site) (*job, error) {
	j := &job{name: s.v.name, url: s.url, method: s.v.method, body: s.v.body, target: s.v.target, header: http.Header{}, zone: s.v.redisZone}
	if j.method == "" {
		j.method = http.MethodGet
	}
	if s.v.setup != nil {
		setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		h, err := s.v.setup(setupCtx, setupEnv{client: client, adminURL: adminURL})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		for k, vs := range h {
			j.header[k] = append(j.header[k], vs...)
		}
	}
	req, err := j.request(ctx, j.header)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("first request: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("first request: status %d, want 200: %s", resp.StatusCode, snippet(answer))
	}
	return j, nil
}

// request builds one request of the job, with header as its (shared, unmodified) headers.
func (j *job) request(ctx context.Context, header http.Header) (*http.Request, error) {
	var body io.Reader
	if j.body != nil {
		body = bytes.NewReader(j.body)
	}
	req, err := http.NewRequestWithContext(ctx, j.method, j.url, body)
	if err != nil {
		return nil, err
	}
	req.Header = header
	return req, nil
}

// roundResult is what one variant did in one round.
type roundResult struct {
	ok       int64         // responses with status 200
	errors   int64         // other statuses and transport errors
	firstErr string        // the first error, for the report
	elapsed  time.Duration // from the first request sent to the last answer read
	hist     histogram     // latencies of the 200 responses
	// caddyCPU and selfCPU are the CPU time Caddy and this process (load
	// generator and upstream) used during the round; zero where not measured.
	caddyCPU, selfCPU time.Duration
}

// rps is the round's rate of 200 responses per second.
func (r *roundResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// runLoad sends the job's request from workers concurrent loops for d: each loop sends
// its next request as soon as the previous one is answered. Requests started before d
// is over are waited for and counted.
func runLoad(ctx context.Context, client *http.Client, j *job, workers int, d time.Duration) (*roundResult, error) {
	perWorker := make([]roundResult, workers)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range perWorker {
		wg.Add(1)
		go func(r *roundResult) {
			defer wg.Done()
			header := j.header.Clone()
			for range maxRequestsPerWorker {
				if time.Now().After(deadline) || ctx.Err() != nil {
					return
				}
				sent := time.Now()
				status, err := j.do(ctx, client, header)
				took := time.Since(sent)
				switch {
				case err != nil && ctx.Err() != nil:
					return
				case err != nil:
					r.fail(err.Error())
				case status != http.StatusOK:
					r.fail(fmt.Sprintf("status %d", status))
				default:
					r.ok++
					r.hist.add(took)
				}
			}
		}(&perWorker[w])
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	total := &roundResult{elapsed: time.Since(start)}
	for i := range perWorker {
		total.merge(&perWorker[i])
	}
	return total, nil
}

// do sends one request and reads the whole answer, so the connection is reused.
func (j *job) do(ctx context.Context, client *http.Client, header http.Header) (int, error) {
	req, err := j.request(ctx, header)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, nil
}

func (r *roundResult) fail(msg string) {
	if r.errors == 0 {
		r.firstErr = msg
	}
	r.errors++
}

func (r *roundResult) merge(o *roundResult) {
	r.ok += o.ok
	if r.errors == 0 {
		r.firstErr = o.firstErr
	}
	r.errors += o.errors
	r.hist.merge(&o.hist)
}

// variantStats gathers a variant's counted rounds.
type variantStats struct {
	rounds   []float64 // requests/s of each round
	ok       int64
	errors   int64
	firstErr string
	hist     histogram
	calls    float64 // Redis calls of the variant's zone in the counted rounds
	// caddyCPU and selfCPU are each measured round's CPU microseconds per
	// request (every answer, 200 or not) of Caddy and of this process.
	caddyCPU, selfCPU []float64
}

func (s *variantStats) add(r *roundResult) {
	s.rounds = append(s.rounds, r.rps())
	s.ok += r.ok
	if s.errors == 0 {
		s.firstErr = r.firstErr
	}
	s.errors += r.errors
	s.hist.merge(&r.hist)
	if n := r.ok + r.errors; n > 0 && r.caddyCPU > 0 {
		s.caddyCPU = append(s.caddyCPU, float64(r.caddyCPU.Microseconds())/float64(n))
		s.selfCPU = append(s.selfCPU, float64(r.selfCPU.Microseconds())/float64(n))
	}
}

// Latencies are counted in buckets of 1/64 of their power of two (HDR-style), so a
// quantile read back is within 1.6% of the true one, in fixed memory whatever the
// number of requests. Durations from 2^47 ns (39 hours) up share the last bucket.
const (
	subBits     = 6
	subBuckets  = 1 << subBits
	maxLatency  = 1<<47 - 1
	histBuckets = (47 - subBits + 1) * subBuckets
)

// histogram counts latencies. The zero value is empty; it is not safe for concurrent use.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
}

func (h *histogram) add(d time.Duration) {
	v := uint64(min(max(d, 0), maxLatency))
	h.counts[bucketOf(v)]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the latency below which a share q (0 < q <= 1) of the counted
// latencies fall, or zero when none was counted.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(h.n))), 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, width := bucketRange(i)
			return time.Duration(lo + width/2)
		}
	}
	return maxLatency
}

// bucketOf returns the bucket of v nanoseconds: v itself below subBuckets, then
// subBuckets buckets per power of two.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)<<subBits + int(v>>shift-subBuckets)
}

// bucketRange returns the lowest value of bucket i and the bucket's width.
func bucketRange(i int) (lo, width uint64) {
	if i < subBuckets {
		return uint64(i), 1
	}
	shift := i>>subBits - 1
	return uint64(i&(subBuckets-1)+subBuckets) << shift, 1 << shift
}
