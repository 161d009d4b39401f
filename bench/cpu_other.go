//go:build !unix

package main

import "time"

// processCPU returns 0: the benchmark reads the process's processor time on Unix
// systems alone.
func processCPU() time.Duration { return 0 }
