//go:build darwin || freebsd

package tfo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// On darwin and FreeBSD the dial makes a socket that has not connected, and its first
// write connects it with a single call that carries the bytes: connectx(2) on darwin,
// sendto(2) on FreeBSD. The kernel queues the bytes, sends a SYN that carries them when
// fast open is on and it holds a cookie for the server, and sends whatever the SYN did
// not carry after the handshake.

// dialSocket resolves address for a dial with d and returns a conn around a socket that
// has not connected, and the address to connect it to. d's ControlContext runs on the
// socket before it is bound.
func dialSocket(ctx context.Context, d *net.Dialer, network, address string) (*net.TCPConn, *net.TCPAddr, error) {
	tc, ra, err := dialUnconnected(ctx, d, network, address)
	if err == nil && ra.Port == 0 {
		// A connect to port 0 fails at once (in_pcbconnect_setup in FreeBSD's
		// sys/netinet/in_pcb.c, in_pcbladdr in darwin's bsd/netinet/in_pcb.c): fail the
		// dial, as net's does.
		tc.Close()
		return nil, nil, dialOpError(d, network, ra, os.NewSyscallError("connect", unix.EADDRNOTAVAIL))
	}
	return tc, ra, err
}

// newSocket makes the socket of a dial to ra, runs d's ControlContext on it, binds it
// to la, d's LocalAddr, if not nil, and wraps it in a *net.TCPConn.
func newSocket(ctx context.Context, d *net.Dialer, network string, la, ra *net.TCPAddr) (*net.TCPConn, error) {
	fam := family(ra)
	// The socket is made blocking: net.FileConn makes it non-blocking, and until then
	// os.NewFile has no poller registration to make for it.
	fd, err := sysSocket(fam)
	if err != nil {
		return nil, err
	}
	if d.ControlContext != nil {
		if err := d.ControlContext(ctx, ctrlNetwork(network, fam == unix.AF_INET), ra.String(), rawSocket(fd)); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	if la != nil {
		sa, err := sockaddr(la, fam)
		if err == nil {
			err = os.NewSyscallError("bind", unix.Bind(fd, sa))
		}
		if err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	f := os.NewFile(uintptr(fd), "")
	c, err := net.FileConn(f) // a duplicate of the socket
	f.Close()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, errors.New("tfo: not a TCP socket")
	}
	// As with net.Dialer, a keep-alive that cannot be set does not fail the dial.
	setKeepAlive(tc, d)
	return tc, nil
}

// listenFastOpen enables fast open on a listener. darwin and FreeBSD take only on or
// off: the number of connections that carried data in their SYN and wait for their
// handshake is net.inet.tcp.fastopen_backlog on darwin (default 10) and half the listen
// backlog on FreeBSD (sys/netinet/tcp_fastopen.c), so backlog is not used.
func listenFastOpen(c syscall.RawConn, _ int) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN, 1)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt", serr)
}

// deferred reports whether tc's socket has not connected yet: it has no peer.
func deferred(tc *net.TCPConn) bool {
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	var perr error
	rc.Control(func(fd uintptr) { _, perr = unix.Getpeername(int(fd)) })
	return perr == unix.ENOTCONN
}

// tryFirst leaves the connect to sendFirst: the call that carries the bytes waits for
// the handshake. A socket that connected during the dial needs no connect. It tells no
// outcome: fastOpenOutcome does.
func tryFirst(tc *net.TCPConn, _ []byte) (n int, done bool, o Outcome, err error) {
	return 0, !deferred(tc), OutcomePending, nil
}

// sendFirst connects tc's socket, made by dialSocket, to raddr with b as its first
// bytes, and returns once the handshake has completed or ctx has ended, with how many
// bytes of b the connect took (the caller writes the rest) and the local address, which
// tc does not know. With an empty b the socket connects without data. A failed connect
// returns an *os.SyscallError for "connect", as net does. The connect waits through tc's
// poller, and Close ends it.
func sendFirst(ctx context.Context, tc *net.TCPConn, raddr *net.TCPAddr, b []byte) (int, net.Addr, error) {
	if !deferred(tc) {
		return 0, nil, nil
	}
	sa, err := sockaddr(raddr, family(raddr))
	if err != nil {
		return 0, nil, err
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		tc.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { tc.SetWriteDeadline(aLongTimeAgo) })
	op := connectOp{sa: sa, b: b}
	werr := rc.Write(op.step)
	if !stop() {
		return 0, nil, ctx.Err()
	}
	tc.SetWriteDeadline(time.Time{})
	if werr != nil {
		return 0, nil, werr
	}
	if op.err != nil {
		return 0, nil, op.err
	}
	var (
		lsa  unix.Sockaddr
		serr error
	)
	if err := rc.Control(func(fd uintptr) { lsa, serr = unix.Getsockname(int(fd)) }); err != nil {
		return 0, nil, err
	}
	if serr != nil {
		return 0, nil, os.NewSyscallError("getsockname", serr)
	}
	return op.n, tcpAddr(lsa), nil
}

// aLongTimeAgo is a deadline that has passed, to end a wait at once.
var aLongTimeAgo = time.Unix(1, 0)

// connectOp is a connect in progress: the poller runs step after each wake-up until it
// reports that the connect is over.
type connectOp struct {
	sa      unix.Sockaddr
	b       []byte
	started bool
	n       int   // bytes of b that the connect queued
	err     error // why the connect failed
}

func (op *connectOp) step(fd uintptr) bool {
	s := int(fd)
	if !op.started {
		op.started = true
		var err error
		if len(op.b) == 0 {
			err = unix.Connect(s, op.sa)
		} else {
			op.n, err = connectData(s, op.sa, op.b)
		}
		if err != nil && err != unix.EINPROGRESS {
			op.err = os.NewSyscallError("connect", err)
			return true
		}
	}
	// As net does after a non-blocking connect: the poller may wake up before the
	// connect is over, so ask the socket.
	nerr, err := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		op.err = os.NewSyscallError("getsockopt", err)
		return true
	}
	errno := unix.Errno(nerr)
	switch {
	case errno == 0:
		_, err := unix.Getpeername(s)
		return err == nil
	case errno == unix.EINPROGRESS, errno == unix.EALREADY, errno == unix.EINTR, softConnectError(errno):
		return false
	}
	op.err = os.NewSyscallError("connect", errno)
	return true
}

// unreachable reports whether a connect that failed with err took no connection at the
// address, so that the next address may be tried with the same data: refused (a RST
// answered the SYN), no route to the network or host, the interface down, no answer
// before the kernel gave up, or no local address for it (connect(2) on macOS and
// FreeBSD), or the host down, when ARP or neighbour discovery got no answer for it
// (arpresolve in FreeBSD's sys/netinet/if_ether.c, nd6_resolve in sys/netinet6/nd6.c).
func unreachable(err error) bool {
	switch err {
	case unix.ECONNREFUSED, unix.ENETUNREACH, unix.EHOSTUNREACH, unix.ENETDOWN,
		unix.EHOSTDOWN, unix.ETIMEDOUT, unix.EADDRNOTAVAIL:
		return true
	}
	return false
}

// synDataLost reports false: darwin keeps its own memory of servers whose SYN data gets
// lost (tcp_heuristics, bsd/netinet/tcp_cache.c in xnu), and FreeBSD does not tell.
func synDataLost(*net.TCPConn) bool { return false }

// synData tells whether the SYN of c, an accepted connection, carried data, as
// fastOpened does, but not how many bytes.
func synData(c syscall.RawConn) (int, error) {
	ok, err := fastOpened(c)
	switch {
	case err != nil:
		return 0, err
	case ok:
		return 0, errSYNDataCount
	}
	return 0, nil
}

// errSYNDataCount is synData's error for an accepted connection whose SYN carried data:
// the system tells that it did, not how many bytes.
var errSYNDataCount = fmt.Errorf("tfo: SYNData: the system tells whether the SYN carried data, not how many bytes: %w", errors.ErrUnsupported)
