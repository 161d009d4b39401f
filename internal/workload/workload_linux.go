package workload

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// KernelFastOpen is a net.Dialer Control function that sets TCP_FASTOPEN_CONNECT: the
// kernel's own fast open, as a program that uses it directly dials, which the package
// is measured against.
func KernelFastOpen(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT, 1)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt", serr)
}
