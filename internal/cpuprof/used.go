package cpuprof

import (
	"syscall"
	"time"
)

// Used is the CPU time (user and system) this process has used so far; 0
// when the system does not say.
func Used() time.Duration {
	user, system := Times()
	return user + system
}

// Times is the CPU time this process has used so far in user space and in
// the kernel on its behalf (system calls, page faults: file creation and
// fsync show up here); zeros when the system does not say.
func Times() (user, system time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
