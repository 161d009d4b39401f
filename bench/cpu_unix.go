//go:build unix

package main

import (
	"syscall"
	"time"
)

// processCPU returns the processor time the process has used so far, in user and
// system mode (getrusage(2), RUSAGE_SELF), or 0 if the system does not tell.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
