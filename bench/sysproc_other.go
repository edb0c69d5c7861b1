//go:build !linux

package main

import (
	"syscall"
	"time"
)

// childProcAttr leaves Caddy's process attributes as they are; the benchmark kills
// Caddy on exit and on Ctrl-C.
func childProcAttr() *syscall.SysProcAttr {
	return nil
}

// cpuTimes is not measured outside Linux.
func cpuTimes(int) (caddy, self time.Duration, ok bool) { return 0, 0, false }
