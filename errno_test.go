//go:build !plan9 && !windows

package tfo

import "syscall"

// The errors the shared tests expect of the system.
var (
	errConnRefused error = syscall.ECONNREFUSED
	errNoProtoOpt  error = syscall.ENOPROTOOPT
)
