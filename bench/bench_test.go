package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestBucketsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 123456, 1e9, 5e9 + 7, maxLatency} {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, i)
		}
		lo, width := bucketRange(i)
		if v < lo || v >= lo+width {
			t.Errorf("bucketOf(%d) = %d covers [%d, %d)", v, i, lo, lo+width)
		}
		if v >= subBuckets && float64(width)/float64(lo) > 1.0/subBuckets+1e-9 {
			t.Errorf("bucket %d is %d wide at %d, coarser than 1/%d", i, width, lo, subBuckets)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h histogram
	if got := h.quantile(0.5); got != 0 {
		t.Errorf("empty quantile = %v, want 0", got)
	}
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		got := h.quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -0.02 || d > 0.02 {
			t.Errorf("quantile(%v) = %v, want %v within 2%%", c.q, got, c.want)
		}
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd = %v", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median even = %v", got)
	}
}

func TestSelectVariants(t *testing.T) {
	t.Parallel()
	all, err := selectVariants("")
	if err != nil || len(all) != len(variants) {
		t.Fatalf("selectVariants(\"\") = %d variants, %v", len(all), err)
	}
	got, err := selectVariants(" api_key , plain ")
	if err != nil || len(got) != 2 || got[0].name != "plain" {
		t.Errorf("selectVariants keeps table order: got %v, %v", got, err)
	}
	if _, err := selectVariants("plain,nope"); err == nil {
		t.Error("unknown variant accepted")
	}
}

func TestAPIKeySetup(t *testing.T) {
	t.Parallel()
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Consumer string   `json:"consumer"`
			Scopes   []string `json:"scopes"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/api_gateway/keys" || r.Header.Get("Origin") != "" ||
			json.NewDecoder(r.Body).Decode(&body) != nil || body.Consumer != "bench" || strings.Join(body.Scopes, ",") != "orders:read" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":"k1","key":"agk_k1_secret","consumer":"bench"}`))
	}))
	defer admin.Close()
	h, err := apiKeySetup("orders:read")(context.Background(), setupEnv{client: admin.Client(), adminURL: admin.URL})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Get("X-API-Key"); got != "agk_k1_secret" {
		t.Errorf("X-API-Key = %q", got)
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	r := report{Results: []result{
		{Variant: "plain", RPS: 1000},
		{Variant: "a", RPS: 950, Target: 0.9},
		{Variant: "b", RPS: 800, Target: 0.9},
		{Variant: "c", RPS: 990, Target: 0.9, Errors: 1},
		{Variant: "d", Target: 0.9, Failure: "setup"},
	}}
	r.compare()
	for i, want := range []string{"", "PASS", "BELOW", "ERRORS", "FAILED"} {
		if got := r.Results[i].Verdict; got != want {
			t.Errorf("%s: verdict %q, want %q", r.Results[i].Variant, got, want)
		}
	}
}

func TestRenderCaddyfile(t *testing.T) {
	t.Parallel()
	got := renderCaddyfile(2999, "/tmp/s", []site{{v: variants[0], url: "http://127.0.0.1:8001/"}})
	for _, want := range []string{"admin 127.0.0.1:2999", "default_bind 127.0.0.1", `storage file_system "/tmp/s"`, "http://127.0.0.1:8001 {\n\treverse_proxy {$BENCH_UPSTREAM}\n}"} {
		if !strings.Contains(got, want) {
			t.Errorf("Caddyfile lacks %q:\n%s", want, got)
		}
	}
}
