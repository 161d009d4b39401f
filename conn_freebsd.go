package tfo

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// On FreeBSD (12.0 and later) a dialing socket gets TCP_FASTOPEN while it is closed, and
// the first write connects it with sendto(2): an implied connect that queues the bytes
// and returns their count (tcp_usr_send in sys/netinet/tcp_usrreq.c). With a cookie
// cached for the server the SYN carries them; without one it asks for a cookie and the
// bytes follow the handshake (tcp_fastopen_connect in sys/netinet/tcp_fastopen.c).
// Without the option the same sendto makes an ordinary connect.

// sysSocket returns a close-on-exec TCP socket of family.
func sysSocket(family int) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	return fd, os.NewSyscallError("socket", err)
}

// dialFastOpen enables fast open on a socket that has not connected yet. FreeBSD
// refuses it with EPERM when both net.inet.tcp.fastopen.client_enable and server_enable
// are 0 (tcp_default_ctloutput in sys/netinet/tcp_usrreq.c).
func dialFastOpen(fd uintptr) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN, 1))
}

// connectData starts connecting socket fd to sa with b, and returns how many bytes of b
// it queued; the handshake goes on after it returns.
func connectData(fd int, sa unix.Sockaddr, b []byte) (int, error) {
	return unix.SendmsgN(fd, b, nil, sa, 0)
}

// softConnectError reports whether errno, read from SO_ERROR of a socket that is
// connecting, leaves the connect going on: FreeBSD reports no such error.
func softConnectError(unix.Errno) bool { return false }

// fastOpenAfterListen is false: FreeBSD takes TCP_FASTOPEN before listen(2) as well as
// after it (sys/netinet/tcp_fastopen.c), and set before, it is on for the first SYN. A
// listener accepts fast open connections only while
// net.inet.tcp.fastopen.server_enable is 1 (0 by default).
const fastOpenAfterListen = false

// refusedForGood reports whether a refusal of fast open holds for as long as the system
// runs. ENOPROTOOPT: the kernel does not know the option (before FreeBSD 12.0, kernels
// built without TCP_RFC7413). EPERM only says that the sysctls are off, which may
// change.
func refusedForGood(err error) bool {
	return errors.Is(err, unix.ENOPROTOOPT)
}

// fastOpened reports whether the connection behind c was fast-opened, from the
// TCP_FASTOPEN flag that FreeBSD reads back from a connection (tcp_default_ctloutput).
// On an accepted connection it is set when the connection was made from a SYN with a
// valid cookie, before the handshake completed, so that the SYN's data reached the
// server at once (sys/netinet/tcp_fastopen.c). FreeBSD keeps no record that a dialed
// connection's SYN data was acknowledged: the flag stays set there when the SYN-ACK
// carried a fast open option, as it does for the first connection to a server, which
// only asks for a cookie, and is cleared when it carried none, as a server may answer a
// valid cookie (tcp_do_segment in sys/netinet/tcp_input.c).
func fastOpened(c syscall.RawConn) (bool, error) {
	var (
		v    int
		serr error
	)
	if err := c.Control(func(fd uintptr) {
		v, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN)
	}); err != nil {
		return false, err
	}
	if serr != nil {
		return false, os.NewSyscallError("getsockopt", serr)
	}
	return v != 0, nil
}

// fastOpenOutcome tells what became of fast open on the connection behind c, which was
// dialed to raddr, or accepted if raddr is nil. FreeBSD tells it of an accepted
// connection only, as fastOpened does.
func fastOpenOutcome(tc *net.TCPConn, raddr *net.TCPAddr) (Outcome, error) {
	if raddr != nil {
		return OutcomeUnknown, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return OutcomeUnknown, err
	}
	ok, err := fastOpened(rc)
	switch {
	case err != nil:
		return OutcomeUnknown, err
	case ok:
		return OutcomeAcceptedFastOpen, nil
	}
	return OutcomeAcceptedPlain, nil
}

// cookieCached reports false: FreeBSD does not tell.
func cookieCached(netip.Addr) bool { return false }

// setListenKeys fails: FreeBSD's fast open keys are the system's (per VNET jail), set by
// the sysctl net.inet.tcp.fastopen.setkey (sys/netinet/tcp_fastopen.c).
func setListenKeys(syscall.RawConn, []Key) error {
	return keysUnsupported("FreeBSD's keys are the system's", nil)
}

// isMultipath reports false: Go makes MPTCP sockets on Linux only.
func isMultipath(syscall.RawConn) bool { return false }
