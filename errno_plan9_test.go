package tfo

import "syscall"

// The errors the shared tests expect of the system: Plan 9 has no errno, only strings.
var (
	errConnRefused error = syscall.ErrorString("connection refused")
	errNoProtoOpt  error = syscall.ErrorString("protocol not available")
)
