//go:build !linux

package main

import "syscall"

// childAttr has nothing to add outside Linux: server processes are stopped
// by the bench's own clean-up, on return and on SIGINT.
func childAttr() *syscall.SysProcAttr { return nil }
