package provider

import "syscall"

// sysProcAttr makes the kernel kill a replica when the provider's process
// dies without stopping it (kill -9), so that no replica outlives it; and
// puts the replica in a process group of its own, so that Ctrl-C on a
// terminal reaches the provider, which drains its callers before it stops
// the replicas, and not the replicas first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
