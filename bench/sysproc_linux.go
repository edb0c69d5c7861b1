package main

import "syscall"

// childProcAttr puts Caddy in its own process group, so a Ctrl-C reaches only the
// benchmark, which then kills Caddy itself, and has the kernel kill Caddy should the
// benchmark die without cleaning up.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
