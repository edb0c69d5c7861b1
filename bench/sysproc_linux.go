package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// childProcAttr puts Caddy in its own process group, so a Ctrl-C reaches only the
// benchmark, which then kills Caddy itself, and has the kernel kill Caddy should the
// benchmark die without cleaning up.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// cpuTimes returns the CPU time (user and system) Caddy (pid) and this process
// have used so far; ok is false when it cannot be read. Caddy's comes from
// /proc/PID/stat in clock ticks (USER_HZ, 100 on Linux), so it is exact to 10ms.
func cpuTimes(pid int) (caddy, self time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	var ru syscall.Rusage
	if err1 != nil || err2 != nil || syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0, false
	}
	const tick = 10 * time.Millisecond
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return time.Duration(utime+stime) * tick, self, true
}
