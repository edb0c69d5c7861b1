package caddytest

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// failoverSite is one gateway of a pair on a Sentinel-managed Redis: rate
// limits with each on_backend_error behaviour that needs Redis (4/1h per
// X-Who, the exact path) and one with leases (100/1h), a lockout on /login,
// and api keys elsewhere. The storage refresh is an hour, so key changes
// reach the other gateway through Redis pub/sub or not at all.
const failoverSite = `{
	{ADMIN_OPTIONS}
	log {
		level DEBUG
		output file {DIR}/caddy.log
	}
	api_gateway {
		redis {REDIS}
		keys {
			refresh 1h
		}
	}
}

http://127.0.0.1:{PORT} {
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
	handle /lease {
		api_rate_limit {
			zone lease {
				key {http.request.header.X-Who}
				rate 100/1h
			}
			backend redis
			on_backend_error deny
			sync lease 1s
		}
		respond ok
	}
	handle /login {
		api_auth {
			api_key
			lockout 3/1m 2s
		}
		respond "hello {http.auth.user.id}"
	}
	handle {
		api_auth
		respond "hello {http.auth.user.id}"
	}
}
`

func who(name string) map[string]string { return map[string]string{"X-Who": name} }

// TestRedisSentinelFailover: two gateways on a redis+sentinel:// URL; the
// master dies; while there is no master on_backend_error applies; once the
// sentinel has promoted the replica, the rate limits, the lockout and key
// changes over pub/sub work again, through the new master, without a
// restart or a reload.
func TestRedisSentinelFailover(t *testing.T) {
	f := StartRedisFailover(t)
	a := StartGateway(t, failoverSite, GatewayOptions{}, "{REDIS}", f.URL())
	b := StartGateway(t, failoverSite, GatewayOptions{Storage: a.Storage}, "{REDIS}", f.URL())
	checkPropagation(t, a, b, 10*time.Second) // refresh 1h: only pub/sub is this fast
	if n := allowedWith(t, "/allow", who("before"), 12, a, b); n != 4 {
		t.Fatalf("%d allowed across two gateways before the failover, want 4 combined", n)
	}

	// No master: the sentinel names the dead one and cannot promote the
	// replica (priority 0). Each route meets its on_backend_error.
	f.Master.Kill()
	killed := time.Now()
	for i, g := range []*Gateway{a, b} {
		Eventually(t, 30*time.Second, "deny answers 503 without a master", func() bool {
			status, _, _ := g.Do("GET", "/deny", who("down"), "")
			return status == http.StatusServiceUnavailable
		})
		if n := allowedWith(t, "/allow", who("down"), 10, g); n != 10 {
			t.Fatalf("gateway %d, allow without a master: %d of 10 allowed", i, n)
		}
	}

	// The sentinel promotes the replica.
	f.AllowPromotion(t)
	Eventually(t, 60*time.Second, "the sentinel names the replica master", func() bool {
		return f.MasterPort() == fmt.Sprint(f.Replica.Port)
	})
	t.Logf("the sentinel promoted the replica %v after the master died", time.Since(killed))
	for _, g := range []*Gateway{a, b} {
		Eventually(t, 30*time.Second, "deny answers again", func() bool {
			status, _, _ := g.Do("GET", "/deny", who("after"), "")
			return status == 200
		})
	}
	// One limit across both gateways again: the new master keeps it. (A
	// gateway still on on_backend_error allow would let all 12 through.)
	attempt := 0
	Eventually(t, 30*time.Second, "one exact limit across both gateways", func() bool {
		attempt++
		return allowedWith(t, "/allow", who(fmt.Sprint("after-", attempt)), 12, a, b) == 4
	})
	t.Logf("one limit again %v after the master died (attempt %d)", time.Since(killed), attempt)
	if n := allowedWith(t, "/deny", who("after-deny"), 12, a, b); n != 4 {
		t.Fatalf("deny after the failover: %d allowed across two gateways, want 4", n)
	}
	if n := allowedWith(t, "/lease", who("after-lease"), 150, a, b); n < 100 || n > 105 {
		t.Fatalf("leases after the failover: %d allowed across two gateways of 100/1h", n)
	}

	// Key changes: go-redis subscribes again on the new master; a change
	// announced before it did is lost (the refresh would heal it in an hour),
	// so a new key is tried until one arrives through pub/sub.
	Eventually(t, 30*time.Second, "a key created on a works on b through the new master", func() bool {
		k := a.CreateKey(map[string]any{"consumer": "after"})
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if usable(b, k.Key) {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	})
	checkPropagation(t, b, a, 10*time.Second)

	checkLockoutBetween(t, "/login", a, b)
}
