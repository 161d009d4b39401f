package tfo

import "golang.org/x/sys/windows"

// The errors the shared tests expect of the system: Windows Sockets' own, which net's
// errors match rather than those of package syscall.
var (
	errConnRefused error = windows.WSAECONNREFUSED
	errNoProtoOpt  error = windows.WSAENOPROTOOPT
)
