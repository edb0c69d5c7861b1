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
// Redis at url: key changes over pub/sub, a rate limit (exact and with
// leases), and the lockout.
func checkRedisTopology(t *testing.T, url string) {
	hook := StartHook(t)
	up := StartUpstream(t, nil)
	storage := t.TempDir()
	a := startLifecycleGateway(t, hook, up, storage, url)
	b := startLifecycleGateway(t, hook, up, storage, url)
	checkPropagation(t, a, b, 2*time.Second)

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

func TestRedisClusterTopology(t *testing.T) {
	checkRedisTopology(t, StartRedisCluster(t).URL())
}

func TestRedisSentinelTopology(t *testing.T) {
	checkRedisTopology(t, StartRedisSentinel(t).URL())
}
