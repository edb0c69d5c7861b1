package caddytest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of three masters (no replicas) started for
// a test with redis-server --cluster-enabled yes and redis-cli --cluster
// create, on free ports of 127.0.0.1.
type RedisCluster struct {
	Nodes []*Redis
}

// StartRedisCluster starts the three nodes, joins them into a cluster with
// every slot covered, and waits until each says the cluster is ok.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	needCommand(t, "redis-cli")
	c := &RedisCluster{}
	create := []string{"--cluster", "create"}
	for range 3 {
		n := startRedisWith(t, "", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", fmt.Sprint(freePort(t)), "--cluster-node-timeout", "2000")
		c.Nodes = append(c.Nodes, n)
		create = append(create, n.Addr)
	}
	create = append(create, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", create...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		Eventually(t, 20*time.Second, "cluster state ok on "+n.Addr, func() bool {
			out, _ := exec.Command("redis-cli", "-p", fmt.Sprint(n.Port), "cluster", "info").Output()
			return strings.Contains(string(out), "cluster_state:ok")
		})
	}
	return c
}

// URL names every node: the api_gateway redis form of a cluster.
func (c *RedisCluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return "redis://" + strings.Join(addrs, ",")
}

// RedisSentinel is a master and one sentinel monitoring it as "mymaster".
type RedisSentinel struct {
	Master   *Redis
	Sentinel *Redis
}

// StartRedisSentinel starts a master and a sentinel (redis-server --sentinel)
// and waits until the sentinel names the master.
func StartRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	m := StartRedis(t)
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor mymaster 127.0.0.1 %d 1\nsentinel down-after-milliseconds mymaster 2000\nsentinel failover-timeout mymaster 4000\n", m.Port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startRedisWith(t, conf, "--sentinel")
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	Eventually(t, 10*time.Second, "the sentinel names the master", func() bool {
		addr, err := c.GetMasterAddrByName(context.Background(), "mymaster").Result()
		return err == nil && len(addr) == 2 && addr[1] == fmt.Sprint(m.Port)
	})
	return &RedisSentinel{Master: m, Sentinel: s}
}

// URL is the api_gateway redis form of the sentinel's master.
func (s *RedisSentinel) URL() string { return "redis+sentinel://" + s.Sentinel.Addr + "/mymaster" }

// checkRedisTopology runs what the gateways share through Redis against the
// Redis at url: key changes over pub/sub, the events that go out once per
// cluster, a rate limit (exact and with leases), and the lockout.
func checkRedisTopology(t *testing.T, url string) {
	hook := StartHook(t)
	up := StartUpstream(t, nil)
	storage := t.TempDir()
	a := startLifecycleGateway(t, hook, up, storage, url)
	b := startLifecycleGateway(t, hook, up, storage, url)
	checkPropagation(t, a, b, 2*time.Second)
	checkEventsOncePerCluster(t, hook, a, b)

	ra := StartGateway(t, clusterSite, GatewayOptions{}, "{REDIS}", url)
	rb := StartGateway(t, clusterSite, GatewayOptions{}, "{REDIS}", url)
	if n := allowedBetween(t, "/local", 12, ra, rb); n != 4 {
		t.Fatalf("%d allowed across two gateways, want 4 combined", n)
	}
	la := StartGateway(t, leaseSite, GatewayOptions{}, "{REDIS}", url, "{RATE}", "100/1h", "{LEASE}", "1s")
	lb := StartGateway(t, leaseSite, GatewayOptions{}, "{REDIS}", url, "{RATE}", "100/1h", "{LEASE}", "1s")
	if n := allowedBetween(t, "/lease", 150, la, lb); n < 100 || n > 105 {
		t.Fatalf("leases: %d allowed across two gateways of 100/1h", n)
	}
	checkLockoutShared(t, url)
}

func TestRedisSingleServerTopology(t *testing.T) {
	checkRedisTopology(t, StartRedis(t).URL())
}

func TestRedisClusterTopology(t *testing.T) {
	checkRedisTopology(t, StartRedisCluster(t).URL())
}

func TestRedisSentinelTopology(t *testing.T) {
	checkRedisTopology(t, StartRedisSentinel(t).URL())
}

// checkEventsOncePerCluster: on two gateways sharing a storage and a Redis,
// the scheduled events (key.expiring, key.expired: under the record's storage
// lock) and key.used_in_grace (claimed in Redis with SET NX) each go out once.
func checkEventsOncePerCluster(t *testing.T, hook *Hook, a, b *Gateway) {
	t.Helper()
	short := a.CreateKey(map[string]any{"consumer": "short", "ttl": "3s"})
	old := a.CreateKey(map[string]any{"consumer": "rotated"})
	if status, body := a.AdminDo("POST", "/api_gateway/keys/"+old.ID+"/rotate", nil); status != 201 {
		t.Fatalf("rotate: %d %s", status, body)
	}
	// Both gateways see the old key in grace, so each tries to send the event.
	for _, g := range []*Gateway{b, a} {
		Eventually(t, 10*time.Second, "the rotated key in grace", func() bool {
			status, h, _ := g.Do("GET", "/x", map[string]string{"X-API-Key": old.Key}, "")
			return status == 200 && h.Get("Deprecation") != ""
		})
	}
	count := func(typ, id string) int {
		n := 0
		for _, m := range hook.Of(typ) {
			if m.Data["id"] == id {
				n++
			}
		}
		return n
	}
	// The rotated key ends with its grace (1h, within warn_before 1h): it is
	// expiring at once. The short key expires after 3s.
	want := []struct{ typ, id string }{
		{"key.expiring", old.ID}, {"key.used_in_grace", old.ID}, {"key.expired", short.ID},
	}
	Eventually(t, 30*time.Second, "key.expiring, key.used_in_grace and key.expired", func() bool {
		for _, e := range want {
			if count(e.typ, e.id) == 0 {
				return false
			}
		}
		return true
	})
	// A duplicate would come from the other gateway within a refresh (300ms)
	// or its Redis call (1s at most): give it the time to arrive. This wait
	// can only miss a duplicate, never fail a correct gateway.
	time.Sleep(2 * time.Second)
	for _, e := range want {
		if n := count(e.typ, e.id); n != 1 {
			t.Fatalf("%s of %s sent %d times across two gateways", e.typ, e.id, n)
		}
	}
	// The short key's key.expiring goes out once if a refresh saw it before
	// it expired (likely, not certain on a loaded machine), never twice.
	if n := count("key.expiring", short.ID); n > 1 {
		t.Fatalf("key.expiring of the short key sent %d times", n)
	}
}

// RedisFailover is a master, one replica of it and one sentinel monitoring
// the master as "mymaster" (quorum 1), for a failover test. The replica
// starts with replica-priority 0, which the sentinel never promotes: after
// the master dies there is no master until the test calls AllowPromotion, so
// the time without one does not depend on how fast the machine is.
type RedisFailover struct {
	Master   *Redis
	Replica  *Redis
	Sentinel *Redis
}

// StartRedisFailover starts the three servers and waits until the sentinel
// knows the replica, its priority 0 and its link to the master.
func StartRedisFailover(t testing.TB) *RedisFailover {
	t.Helper()
	f := &RedisFailover{Master: StartRedis(t)}
	// The replica has a config file, which the sentinel rewrites when it
	// promotes it.
	replicaConf := filepath.Join(t.TempDir(), "replica.conf")
	if err := os.WriteFile(replicaConf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f.Replica = startRedisWith(t, replicaConf, "--replicaof", "127.0.0.1", fmt.Sprint(f.Master.Port), "--replica-priority", "0")
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor mymaster 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 3000\n", f.Master.Port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f.Sentinel = startRedisWith(t, conf, "--sentinel")
	c := redis.NewSentinelClient(&redis.Options{Addr: f.Sentinel.Addr})
	defer c.Close()
	Eventually(t, 60*time.Second, "the sentinel knows the replica, linked, priority 0", func() bool {
		replicas, err := c.Replicas(context.Background(), "mymaster").Result()
		if err != nil || len(replicas) != 1 {
			return false
		}
		r := replicas[0]
		return r["port"] == fmt.Sprint(f.Replica.Port) && r["flags"] == "slave" &&
			r["master-link-status"] == "ok" && r["slave-priority"] == "0"
	})
	return f
}

// URL is the api_gateway redis form of the sentinel's master.
func (f *RedisFailover) URL() string { return "redis+sentinel://" + f.Sentinel.Addr + "/mymaster" }

// AllowPromotion gives the replica a priority the sentinel promotes.
func (f *RedisFailover) AllowPromotion(t testing.TB) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: f.Replica.Addr})
	defer c.Close()
	if err := c.ConfigSet(context.Background(), "replica-priority", "100").Err(); err != nil {
		t.Fatal(err)
	}
}

// MasterPort returns the port of the master the sentinel names.
func (f *RedisFailover) MasterPort() string {
	c := redis.NewSentinelClient(&redis.Options{Addr: f.Sentinel.Addr})
	defer c.Close()
	addr, err := c.GetMasterAddrByName(context.Background(), "mymaster").Result()
	if err != nil || len(addr) != 2 {
		return ""
	}
	return addr[1]
}
