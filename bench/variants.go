package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// variant is one way of serving the same upstream, measured side by side with the
// others. The zero value of every field but name and site means "not needed".
type variant struct {
	// name is the variant's name in flags and results.
	name string
	// about says what stands in front of the upstream, for the written results.
	about string
	// site is the body of the variant's Caddyfile site block. Caddy replaces
	// {$BENCH_UPSTREAM} with the upstream's host:port when it parses the Caddyfile.
	site string
	// target is the share of plain's requests/s the variant should reach (0.90 means
	// at least 90%); zero means no target.
	target float64
	// baseline names the variant target and the ratio compare with, when it is
	// not plain (a variant that POSTs compares with plain_post).
	baseline string
	// setup runs once Caddy is up, before any request to the variant, and returns the
	// headers every request sends (a credential, say).
	setup func(ctx context.Context, s setupEnv) (http.Header, error)
	// method is the request method; empty means GET.
	method string
	// path is the request path; empty means "/".
	path string
	// body is the request body; nil means none.
	body []byte
	// global is added to the Caddyfile's global options block (identical
	// snippets of several variants once).
	global string
	// services starts what the variant needs besides Caddy (a Redis server, say)
	// before Caddy starts, and returns environment variables for Caddy and a
	// function that stops them.
	services func(ctx context.Context, dir string) (env []string, stop func(), err error)
	// redisZone names the variant's api_rate_limit zone on Redis, whose
	// calls (caddy_apigate_rate_limit_backend_calls_total) are reported per
	// request.
	redisZone string
}

// redisGlobal points the api_gateway app at the benchmark's Redis.
const redisGlobal = "api_gateway {\n\tredis {$BENCH_REDIS}\n}"

// setupEnv is what a variant's setup may use.
type setupEnv struct {
	// client has no Origin header and no cookies, as Caddy's admin API wants.
	client *http.Client
	// adminURL is Caddy's admin endpoint, "http://127.0.0.1:port".
	adminURL string
}

// variants is the table of every variant, in the order the results are printed.
var variants = []variant{
	{
		name:  "plain",
		about: "plain `reverse_proxy`, the baseline",
		site:  `reverse_proxy {$BENCH_UPSTREAM}`,
	},
	{
		// The gateway variants put their handlers and reverse_proxy in a
		// route block; this is what the block costs by itself, so that a
		// variant's cost can be split between it and its handlers.
		name:  "plain_route",
		about: "plain `reverse_proxy` inside `route { }`, as the gateway variants have it: what the block costs",
		site:  "route {\n\treverse_proxy {$BENCH_UPSTREAM}\n}",
	},
	{
		// The ceiling of a cache hit: Caddy answering by itself, no upstream.
		// The bench's load generator shares the machine, so cache_hit is best
		// read against this in the same run.
		name:  "respond",
		about: "Caddy answering by itself (`respond`): the ceiling of a cache hit",
		site:  "header Content-Type application/json\nrespond `" + upstreamBody + "` 200",
	},
	{
		name:  "api_key",
		about: "`api_auth` (API key) + `api_authorize`",
		site: `route {
	api_auth {
		api_key
	}
	api_authorize orders:read
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target: 0.90,
		setup:  apiKeySetup("orders:read"),
	},
	{
		name:   "plain_post",
		about:  "plain `reverse_proxy`, 1 KiB JSON POSTs: the baseline of `inspect`",
		site:   `reverse_proxy {$BENCH_UPSTREAM}`,
		setup:  jsonSetup,
		method: http.MethodPost,
		body:   benchJSON1K,
	},
	{
		name:  "inspect",
		about: "`api_inspect` (`json_depth`, `content_types`, `block sqli xss`) on 1 KiB JSON POSTs",
		site: `route {
	api_inspect {
		json_depth 32
		content_types application/json
		block sqli xss
	}
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target:   0.85,
		baseline: "plain_post",
		setup:    jsonSetup,
		method:   http.MethodPost,
		body:     benchJSON1K,
	},
	{
		// A limit no request reaches: every request pays for the decision.
		name:  "rate_limit_memory",
		about: "`api_rate_limit`, in memory",
		site: `route {
	api_rate_limit {
		zone bench_memory {
			rate 1000000/1s
		}
	}
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target: 0.90,
	},
	{
		// The same with the buckets in a Redis the benchmark starts, sync
		// exact: one EVALSHA per request; deny makes a failing Redis show as
		// errors.
		name:  "rate_limit_redis",
		about: "`api_rate_limit` with `backend redis`, `sync exact`: one EVALSHA per request",
		site: `route {
	api_rate_limit {
		zone bench_redis {
			rate 1000000/1s
		}
		backend redis
		on_backend_error deny
		sync exact
	}
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target:    0.70,
		global:    redisGlobal,
		services:  startRedis,
		redisZone: "bench_redis",
	},
	{
		// Leases (the default sync of backend redis) with a realistic limit
		// the load does not reach: 100000/1m per consumer, each keep-alive
		// connection standing for one consumer.
		name:  "rate_limit_redis_lease",
		about: "`api_rate_limit` with `backend redis`, `sync lease` (the default), 100000/1m per consumer",
		site: `route {
	api_rate_limit {
		zone bench_lease {
			key {http.request.remote.port}
			rate 100000/1m
		}
		backend redis
		on_backend_error deny
		sync lease 50ms
	}
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target:    0.90,
		global:    redisGlobal,
		services:  startRedis,
		redisZone: "bench_lease",
	},
	{
		// Leases with one key and a limit so large it never binds.
		name:  "rate_limit_redis_lease_unbound",
		about: "`api_rate_limit` with `backend redis`, `sync lease`, a limit the load never reaches",
		site: `route {
	api_rate_limit {
		zone bench_lease_unbound {
			rate 1000000/1s
		}
		backend redis
		on_backend_error deny
	}
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target:    0.90,
		global:    redisGlobal,
		services:  startRedis,
		redisZone: "bench_lease_unbound",
	},
	{
		// Every request after the first is answered from api_cache's memory:
		// the upstream (which sends no Cache-Control, so ttl applies) is not
		// touched. Caddy answering with respond alone reaches about 3.4x plain.
		name:  "cache_hit",
		about: "`api_auth` + `api_authorize` + `api_cache`, every request a hit",
		site: `route {
	api_auth {
		api_key
	}
	api_authorize orders:read
	api_cache {
		ttl 1h
	}
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target: 2.5,
		setup:  apiKeySetup("orders:read"),
	},
	{
		// api_monitor watching every request: a window, the latency bins and
		// the route's metrics, no decision. Its cost is what it adds to plain.
		name:  "monitor",
		about: "`api_monitor` watching every request (window, latency bins, route metrics)",
		site: `route {
	api_monitor bench {
		window 1m
		error_rate 5%
		latency p99 800ms
	}
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target: 0.98,
	},
	{
		name:  "jwt",
		about: "`api_auth` (JWT, a repeated token) + `api_authorize`",
		site: `route {
	api_auth {
		jwt {
			secret ` + benchJWTSecret + `
			issuer https://idp.bench.example/
			audience orders-api
		}
	}
	api_authorize orders:read
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target: 0.85,
		setup:  jwtSetup,
	},
	{
		// The jwt variant plus a token exchange whose answer is cached: what
		// api_upstream_auth costs in the steady state, measured against jwt.
		name:  "token_exchange_warm",
		about: "`api_auth` (JWT) + `api_upstream_auth` token exchange, the exchanged token cached",
		site: `route {
	api_auth {
		jwt {
			secret ` + benchJWTSecret + `
			issuer https://idp.bench.example/
			audience orders-api
		}
	}
	api_authorize orders:read
	api_upstream_auth {
		token_exchange {$BENCH_TOKEN_URL} {
			client_id bench
			client_secret bench-secret
			audience orders
		}
	}
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target:   0.95,
		baseline: "jwt",
		setup:    jwtSetup,
		services: startTokenEndpoint,
	},
	openapiPostVariant,
	openapiGetVariant,
}

// benchJWTSecret signs the jwt variant's token; it protects nothing.
const benchJWTSecret = "bench-only-secret-0123456789abcdef"

// baselineOf returns the variant a variant compares with.
func baselineOf(name string) string {
	for _, v := range variants {
		if v.name == name && v.baseline != "" {
			return v.baseline
		}
	}
	return "plain"
}

// variantNames lists the table's variant names in order.
func variantNames() []string {
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.name
	}
	return names
}

// selectVariants returns the variants named in the comma-separated list, in table
// order, or every variant when the list is empty.
func selectVariants(list string) ([]variant, error) {
	if strings.TrimSpace(list) == "" {
		return variants, nil
	}
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		found := false
		for _, v := range variants {
			found = found || v.name == name
		}
		if !found {
			return nil, fmt.Errorf("unknown variant %q (have %s)", name, strings.Join(variantNames(), ", "))
		}
		want[name] = true
	}
	var out []variant
	for _, v := range variants {
		if want[v.name] {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-variants %q names no variant", list)
	}
	return out, nil
}
