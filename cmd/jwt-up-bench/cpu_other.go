//go:build !unix

package main

import "time"

// processCPU is unknown here: the ceiling serves no CPU time.
func processCPU() (time.Duration, bool) { return 0, false }
