package caddytest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Redis is a real redis-server run for a test on a free port of 127.0.0.1,
// without persistence: a restart starts it empty, as a replaced cache would.
type Redis struct {
	t    testing.TB
	Addr string // host:port
	bin  string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts redis-server and stops it when the test ends. Without
// redis-server installed the test is skipped, except under CI=true where it
// fails.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (apt-get install redis-server)")
		}
		t.Skip("redis-server is not installed")
	}
	r := &Redis{t: t, bin: bin, dir: t.TempDir(), Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	r.start()
	t.Cleanup(r.Kill)
	return r
}

// URL returns the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

func (r *Redis) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	cmd := exec.Command(r.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir)
	out, err := os.OpenFile(r.dir+"/redis.out", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	out.Close()
	r.cmd = cmd
	r.done = make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(r.done) //nolint:errcheck
	deadline := time.Now().Add(10 * time.Second)
	for !r.ping() {
		select {
		case <-r.done:
			b, _ := os.ReadFile(r.dir + "/redis.out")
			r.t.Fatalf("redis-server exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not answer in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping sends PING and reports whether PONG came back.
func (r *Redis) ping() bool {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
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

// Kill kills the server (as a crash would) and waits for it to exit.
func (r *Redis) Kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Errorf("redis-server (pid %d) did not exit", r.cmd.Process.Pid)
	}
	r.cmd = nil
}

// Restart starts the server again on the same port, empty.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	r.start()
}
