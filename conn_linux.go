package tfo

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// On Linux a dialing socket gets TCP_FASTOPEN_CONNECT (Linux 4.11). With a cookie cached
// for the server, connect(2) then returns at once without sending anything, and the
// first write(2) sends the SYN carrying the data; without a cookie, connect(2) performs
// an ordinary handshake that asks for one. This was chosen over sendto(2) with
// MSG_FASTOPEN, which needs an unconnected socket that only net.FileConn can wrap: see
// BenchmarkMechanism.

// TCP states of tcpi_state (include/net/tcp_states.h).
const (
	tcpSynSent = 2
	tcpClose   = 7
)

// tcpiOptSynData is TCPI_OPT_SYN_DATA of tcpi_options (include/uapi/linux/tcp.h): the
// data in the SYN was acknowledged (a client) or accepted (a server).
const tcpiOptSynData = 0x20

// dialSocket dials address with d, whose ControlContext enables fast open on the
// socket, and returns the conn and the address it connects to. With a cookie cached for
// that address, the connect is deferred to the first write.
func dialSocket(ctx context.Context, d *net.Dialer, network, address string) (*net.TCPConn, *net.TCPAddr, error) {
	return dialNet(ctx, d, network, address)
}

// dialFastOpen enables fast open on a socket that has not connected yet.
func dialFastOpen(fd uintptr) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT, 1))
}

// fastOpenAfterListen tells whether listenFastOpen applies to a listening socket rather
// than one about to listen.
const fastOpenAfterListen = false

// listenFastOpen enables fast open on a socket that is about to listen, with a queue of
// backlog SYNs carrying data.
func listenFastOpen(c syscall.RawConn, backlog int) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN, backlog)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt", serr)
}

// refusedForGood reports whether a refusal of fast open holds for as long as the system
// runs. ENOPROTOOPT: the kernel predates the option (tcp(7): TCP_FASTOPEN_CONNECT since
// Linux 4.11). EOPNOTSUPP only says that net.ipv4.tcp_fastopen lacks the client bit,
// which may change (net/ipv4/tcp.c, do_tcp_setsockopt).
func refusedForGood(err error) bool {
	return errors.Is(err, unix.ENOPROTOOPT)
}

// deferred reports whether tc's connect was deferred to its first write: the socket is
// in SYN_SENT, which a completed net.Dialer dial leaves only then.
func deferred(tc *net.TCPConn) bool {
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	var state byte
	rc.Control(func(fd uintptr) { state = tcpState(int(fd)) })
	return state == tcpSynSent
}

// tcpState returns tcpi_state, the first byte of struct tcp_info: getsockopt copies no
// more of it than asked for (net/ipv4/tcp.c, do_tcp_getsockopt).
func tcpState(fd int) byte {
	state, err := unix.GetsockoptByte(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return tcpClose
	}
	return state
}

// sendFirst writes b on a socket dialed with TCP_FASTOPEN_CONNECT. If its connect was
// deferred, the first write(2) sends the SYN carrying as much of b as fits, or with an
// empty b a SYN without data (tcp_sendmsg_fastopen in net/ipv4/tcp.c). sendFirst
// returns once b is written and the handshake has completed. A failed connect returns
// an *os.SyscallError for "connect", as net does. tc knows its addresses, so the
// returned local address is nil. The connect waits through tc's poller, so tc's write
// deadline bounds it.
func sendFirst(tc *net.TCPConn, _ *net.TCPAddr, b []byte, _ deadliner) (net.Addr, error) {
	return nil, writeFirst(tc, b)
}

func writeFirst(tc *net.TCPConn, b []byte) error {
	// For a b larger than the SYN carries, Write waits for the handshake and writes the
	// rest.
	n, err := tc.Write(b)
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return connectError(err)
	}
	// Writing the rest of b, or nothing, tells how the handshake went: EAGAIN while it
	// goes on, then the error that ended it, if any (sk_stream_wait_connect). Over
	// loopback it is over already.
	if _, err = tc.Write(b[n:]); !errors.Is(err, unix.EAGAIN) {
		return connectError(err)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	if err := rc.Write(handshakeOver); err != nil {
		return err
	}
	_, err = tc.Write(b[n:])
	return connectError(err)
}

// handshakeOver reports whether the socket has left SYN_SENT. It is a function of its
// own so that waiting allocates nothing.
func handshakeOver(fd uintptr) bool {
	return tcpState(int(fd)) != tcpSynSent
}

// connectError turns the error of a write during the connect into that of the connect.
func connectError(err error) error {
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err // a deadline, or Close
	}
	if errno == unix.EOPNOTSUPP {
		// net.ipv4.tcp_fastopen lost its client bit after the dial: nothing was sent.
		clientRefusal.refuse(os.NewSyscallError("write", errno))
		return errFastOpenRefused
	}
	return os.NewSyscallError("connect", errno)
}

// unreachable reports whether a connect that failed with err took no connection at the
// address, so that the next address may be tried with the same data: refused (a RST
// answered the SYN), or no route (ICMP unreachable, or none in the routing table), or no
// answer at all before the kernel gave up (tcp(7), tcp_syn_retries).
func unreachable(err error) bool {
	switch err {
	case unix.ECONNREFUSED, unix.ENETUNREACH, unix.EHOSTUNREACH, unix.ENETDOWN,
		unix.EHOSTDOWN, unix.ETIMEDOUT, unix.EADDRNOTAVAIL:
		return true
	}
	return false
}

// tfoSYNRetransmitted is TFO_SYN_RETRANSMITTED of tcpi_fastopen_client_fail
// (include/uapi/linux/tcp.h, Linux 5.5): the SYN-ACK acknowledged no data after the SYN
// was sent again, without it.
const tfoSYNRetransmitted = 3

// synDataLost reports whether tc's SYN carried data that was lost, and was sent again
// without it. tcpi_fastopen_client_fail is the 2-bit field after the 1-bit
// tcpi_delivery_rate_app_limited in the 8th byte of struct tcp_info; kernels older than
// 5.5 leave that byte's bits zero.
func synDataLost(tc *net.TCPConn) bool {
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	var head [8]byte
	rc.Control(func(fd uintptr) {
		v, err := unix.GetsockoptUint64(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil {
			binary.NativeEndian.PutUint64(head[:], v)
		}
	})
	fail := head[7] >> 1 & 3 // bit-fields are laid out from the low bit on little-endian machines
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		fail = head[7] >> 5 & 3
	}
	return fail == tfoSYNRetransmitted
}

// fastOpened reports whether the connection behind c was fast-opened, from
// TCPI_OPT_SYN_DATA in tcpi_options.
func fastOpened(c syscall.RawConn) (bool, error) {
	var (
		info *unix.TCPInfo
		serr error
	)
	if err := c.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return false, err
	}
	if serr != nil {
		return false, os.NewSyscallError("getsockopt", serr)
	}
	return info.Options&tcpiOptSynData != 0, nil
}

// setListenKeys gives the socket behind c, a listener or one about to be, fast open keys
// of its own (TCP_FASTOPEN_KEY): 16 bytes, the key that makes cookies, since Linux 4.15,
// or 32, that key then a backup one whose cookies are accepted too, since Linux 5.3. The
// kernel takes the bytes in order (tcp_fastopen_reset_cipher in net/ipv4/tcp_fastopen.c).
// A kernel that takes one key refuses 32 bytes with EINVAL, and the first key is then set
// alone; one before 4.15 does not know the option: ENOPROTOOPT (do_tcp_setsockopt in
// net/ipv4/tcp.c). An MPTCP listener passes the option to its TCP listener
// (mptcp_setsockopt_first_sf_only in net/mptcp/sockopt.c).
func setListenKeys(c syscall.RawConn, keys []Key) error {
	var b [maxKeys * len(Key{})]byte
	n := 0
	for _, k := range keys {
		n += copy(b[n:], k[:])
	}
	var (
		serr      error
		firstOnly bool
	)
	if err := c.Control(func(fd uintptr) {
		serr = keysSockopt(int(fd), b[:n])
		if serr == unix.EINVAL && n > len(Key{}) {
			firstOnly = keysSockopt(int(fd), b[:len(Key{})]) == nil
		}
	}); err != nil {
		return err
	}
	switch {
	case serr == nil:
		return nil
	case firstOnly:
		return keysUnsupported("a backup key needs Linux 5.3, so the first key was set alone", os.NewSyscallError("setsockopt", serr))
	case serr == unix.ENOPROTOOPT:
		return keysUnsupported("they need Linux 4.15", os.NewSyscallError("setsockopt", serr))
	}
	return os.NewSyscallError("setsockopt", serr)
}

// keysSockopt sets TCP_FASTOPEN_KEY on fd to b; tests replace it.
var keysSockopt = func(fd int, b []byte) error {
	return unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_FASTOPEN_KEY, string(b))
}

// isMultipath reports whether the socket behind c is an MPTCP socket (IPPROTO_MPTCP), as
// Go makes listeners by default since Go 1.24.
func isMultipath(c syscall.RawConn) bool {
	proto := 0
	c.Control(func(fd uintptr) { proto, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL) })
	return proto == unix.IPPROTO_MPTCP
}
