package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// startRedis runs a redis-server without persistence on a free port of
// 127.0.0.1, for the variants that need one, and returns the environment that
// tells Caddy where it is (BENCH_REDIS=redis://host:port/0) and a function
// that stops it.
func startRedis(ctx context.Context, dir string) ([]string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, nil, fmt.Errorf("redis-server is not installed (apt-get install redis-server): %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	rdir := filepath.Join(dir, "redis")
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", rdir)
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			logf("redis-server (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
	}
	deadline := time.Now().Add(startupTimeout)
	for !redisAnswers(addr) {
		select {
		case <-done:
			return nil, nil, fmt.Errorf("redis-server exited at start")
		case <-ctx.Done():
			stop()
			return nil, nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("redis-server did not answer within %v", startupTimeout)
		}
	}
	logf("redis-server is up on %s", addr)
	return []string{"BENCH_REDIS=redis://" + addr + "/0"}, stop, nil
}

// redisAnswers reports whether the server at addr answers PING.
func redisAnswers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// backendCalls reads from Caddy's metrics how many calls the rate limit zone
// made to Redis (0 for no zone, or when the metrics cannot be read).
func backendCalls(ctx context.Context, client *http.Client, adminURL, zone string) float64 {
	if zone == "" {
		return 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/metrics", nil)
	if err != nil {
		return 0
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "caddy_apigate_rate_limit_backend_calls_total{") && strings.Contains(line, `zone="`+zone+`"`) {
			if i := strings.LastIndexByte(line, ' '); i > 0 {
				v, _ := strconv.ParseFloat(line[i+1:], 64)
				total += v
			}
		}
	}
	return total
}
