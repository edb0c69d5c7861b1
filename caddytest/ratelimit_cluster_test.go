package caddytest

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clusterSite is one gateway of a cluster sharing a Redis: three routes, one
// per on_backend_error behaviour, each a zone of 4 requests an hour per
// X-Who header, else per client address.
const clusterSite = `{
	{ADMIN_OPTIONS}
	log {
		level DEBUG
		output file {DIR}/caddy.log
	}
	api_gateway {
		redis {REDIS}
	}
}

http://127.0.0.1:{PORT} {
	handle /local {
		api_rate_limit {
			zone local {
				key {http.request.header.X-Who}
				rate 4/1h
			}
			backend redis
		}
		respond ok
	}
	handle /allow {
		api_rate_limit {
			zone allow {
				key {http.request.header.X-Who}
				rate 4/1h
			}
			backend redis
			on_backend_error allow
		}
		respond ok
	}
	handle /deny {
		api_rate_limit {
			zone deny {
				key {http.request.header.X-Who}
				rate 4/1h
			}
			backend redis
			on_backend_error deny
		}
		respond ok
	}
}
`

// allowedBetween sends requests alternately to the gateways until max are sent
// and returns how many were allowed; every answer must be 200 or 429.
func allowedBetween(t *testing.T, path string, max int, gs ...*Gateway) int {
	t.Helper()
	return allowedWith(t, path, nil, max, gs...)
}

// allowedWith is allowedBetween with headers.
func allowedWith(t *testing.T, path string, headers map[string]string, max int, gs ...*Gateway) int {
	t.Helper()
	n := 0
	for i := 0; i < max; i++ {
		status, _, body := gs[i%len(gs)].Do("GET", path, headers, "")
		switch status {
		case 200:
			n++
		case 429:
		default:
			t.Fatalf("%s on gateway %d: %d %s", path, i%len(gs), status, body)
		}
	}
	return n
}

func TestRateLimitClusterWithRedis(t *testing.T) {
	rd := StartRedis(t)
	a := StartGateway(t, clusterSite, GatewayOptions{}, "{REDIS}", rd.URL())
	b := StartGateway(t, clusterSite, GatewayOptions{}, "{REDIS}", rd.URL())

	// Two gateways, one combined limit.
	for _, path := range []string{"/local", "/allow", "/deny"} {
		if n := allowedBetween(t, path, 12, a, b); n != 4 {
			t.Fatalf("%s: %d allowed across two gateways, want 4 combined", path, n)
		}
	}

	// Redis dies. A key refused before is refused until its Retry-After
	// without Redis; a key Redis must decide meets on_backend_error.
	rd.Kill()
	if status, _, _ := a.Do("GET", "/deny", nil, ""); status != http.StatusTooManyRequests {
		t.Fatalf("a refused key with Redis down: %d, want its cached 429", status)
	}
	fresh := map[string]string{"X-Who": "after"}
	status, h, body := a.Do("GET", "/deny", fresh, "")
	if status != http.StatusServiceUnavailable || h.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("deny with Redis down: %d %s", status, body)
	}
	if n := allowedWith(t, "/allow", fresh, 10, a); n != 10 {
		t.Fatalf("allow with Redis down: %d of 10 allowed", n)
	}
	// local: each gateway decides with its own in-memory buckets.
	if n := allowedWith(t, "/local", fresh, 8, a); n != 4 {
		t.Fatalf("local with Redis down: gateway a allowed %d, want its own 4", n)
	}
	if n := allowedWith(t, "/local", fresh, 8, b); n != 4 {
		t.Fatalf("local with Redis down: gateway b allowed %d, want its own 4", n)
	}
	for _, g := range []*Gateway{a, b} {
		log := readFile(filepath.Join(g.Dir, "caddy.log"))
		if c := strings.Count(log, "rate limit backend redis failed"); c < 1 || c > 3 {
			// Once per outage per handler: at most one per route here.
			t.Fatalf("the outage was logged %d times", c)
		}
	}

	// Redis comes back (empty): the gateways use it again without a restart.
	rd.Restart()
	for _, g := range []*Gateway{a, b} {
		Eventually(t, 15*time.Second, "deny route answering again", func() bool {
			status, _, _ := g.Do("GET", "/deny", fresh, "")
			return status == 200
		})
	}
	// The allow route is limited again, across both gateways: Redis decides.
	Eventually(t, 15*time.Second, "allow route limited by redis again", func() bool {
		return allowedWith(t, "/allow", fresh, 12, a, b) < 12
	})
	Eventually(t, 5*time.Second, "recovery logged", func() bool {
		return strings.Contains(readFile(filepath.Join(a.Dir, "caddy.log")), "rate limit backend redis answers again")
	})
}

func TestRateLimitRedisBackendNeedsRedis(t *testing.T) {
	site := `{
	{ADMIN_OPTIONS}
}

http://127.0.0.1:{PORT} {
	api_rate_limit {
		zone z {
			rate 1/s
		}
		backend redis
	}
	respond ok
}
`
	g := StartGateway(t, strings.Replace(site, "backend redis", "backend memory", 1), GatewayOptions{})
	cfg := strings.Replace(g.config, "backend memory", "backend redis", 1)
	req, _ := http.NewRequest("POST", "http://"+g.Admin+"/load", strings.NewReader(cfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 || !strings.Contains(string(body), "redis option of the api_gateway global option") {
		t.Fatalf("backend redis without redis: %d %s", resp.StatusCode, body)
	}
}
