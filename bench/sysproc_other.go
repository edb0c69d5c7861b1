//go:build !linux

package main

import "syscall"

// childProcAttr leaves Caddy's process attributes as they are; the benchmark kills
// Caddy on exit and on Ctrl-C.
func childProcAttr() *syscall.SysProcAttr {
	return nil
}
