//go:build !linux

package main

import "github.com/fastopen/tfo/internal/workload"

// kernelDial is nil: the loopback table compares tfo with the kernel's mechanism on
// Linux alone.
var kernelDial workload.Dial
