package main

import (
	"net"

	"github.com/fastopen/tfo/internal/workload"
)

// kernelDial dials with the kernel's fast open mechanism alone: a net.Dialer that sets
// TCP_FASTOPEN_CONNECT.
var kernelDial workload.Dial = (&net.Dialer{Control: workload.KernelFastOpen}).Dial
