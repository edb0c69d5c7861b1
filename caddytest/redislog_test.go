package caddytest

import (
	"strings"
	"testing"
	"time"
)

// TestRedisLogsThroughCaddy: when Redis goes away, what go-redis has to say
// comes out as Caddy's structured log lines (logger api_gateway.redis, warn),
// never as raw lines beside them.
func TestRedisLogsThroughCaddy(t *testing.T) {
	r := StartRedis(t)
	g := StartGateway(t, `{
	{ADMIN_OPTIONS}
	api_gateway {
		redis {REDIS}
	}
}
:{PORT} {
	bind 127.0.0.1
	api_rate_limit 1000/1m {
		backend redis
		on_backend_error local
	}
	respond "ok"
}`, GatewayOptions{}, "{REDIS}", r.URL())
	if status, _, _ := g.Do("GET", "/", nil, ""); status != 200 {
		t.Fatalf("with Redis: %d", status)
	}
	r.Kill()
	Eventually(t, 60*time.Second, "go-redis's complaint about the lost connection", func() bool {
		g.Do("GET", "/", nil, "")
		return strings.Contains(g.Output(), "connection pool")
	})
	for _, line := range strings.Split(g.Output(), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "{") {
			t.Errorf("a raw line in Caddy's output: %q", line)
		}
		if strings.Contains(line, "connection pool") && !strings.Contains(line, `"logger":"api_gateway.redis"`) {
			t.Errorf("go-redis's line is not from logger api_gateway.redis: %s", line)
		}
		if strings.Contains(line, `"logger":"api_gateway.redis"`) && !strings.Contains(line, `"level":"warn"`) {
			t.Errorf("not at warn level: %s", line)
		}
	}
}
