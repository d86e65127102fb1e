package main

import "syscall"

// childAttr makes the kernel kill a server process when the bench dies,
// even by SIGKILL, when no deferred clean-up can run. The signal follows
// the death of the thread that started the child; the Go runtime ends a
// thread only when a goroutine that locked it exits locked, which the
// bench never does.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
