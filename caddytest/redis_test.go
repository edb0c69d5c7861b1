package caddytest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Redis is a real redis-server started for a test on a free port of 127.0.0.1,
// with persistence off. It is killed when the test ends.
type Redis struct {
	t    testing.TB
	Addr string
	Port int
	cmd  *exec.Cmd
	// conf, when set, is the config file the server starts with; args are
	// more arguments (cluster or sentinel mode).
	conf string
	args []string
	dir  string
}

// StartRedis starts redis-server. Without one on the PATH the test is skipped,
// except in CI (CI=true), where a missing part is a failure.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return startRedisWith(t, "")
}

// needCommand skips the test when the command name is not on the PATH, or
// fails it in CI (CI=true), where a missing part is a failure.
func needCommand(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (scripts/test.sh installs it)", name)
		}
		t.Skipf("%s is not installed: run scripts/test.sh, which installs it", name)
	}
}

// startRedisWith starts redis-server with a config file (none when empty)
// and more arguments.
func startRedisWith(t testing.TB, conf string, args ...string) *Redis {
	t.Helper()
	needCommand(t, "redis-server")
	r := &Redis{t: t, Port: freePort(t), conf: conf, args: args, dir: t.TempDir()}
	r.Addr = fmt.Sprintf("127.0.0.1:%d", r.Port)
	r.start()
	t.Cleanup(r.Kill)
	return r
}

func (r *Redis) start() {
	r.t.Helper()
	var args []string
	if r.conf != "" {
		args = append(args, r.conf)
	}
	args = append(args, "--port", fmt.Sprint(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", r.dir)
	cmd := exec.Command("redis-server", append(args, r.args...)...)
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.cmd = cmd
	go cmd.Wait() //nolint:errcheck
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", r.Addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not start on %s", r.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Kill stops the server at once, losing its data.
func (r *Redis) Kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		for i := 0; i < 100; i++ {
			if c, err := net.Dial("tcp", r.Addr); err != nil {
				break
			} else {
				c.Close()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	r.cmd = nil
}

// Restart starts a new, empty server on the same port.
func (r *Redis) Restart() {
	r.Kill()
	r.start()
}
