//go:build !linux

package provider

import "syscall"

// sysProcAttr: only Linux kills children when their parent dies; elsewhere
// Close stops them.
func sysProcAttr() *syscall.SysProcAttr { return nil }
