package tfo

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fastopen/tfo/internal/tcpmetrics"
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

// tryFirst writes b, the first bytes of tc, whose socket dialSocket made, without
// waiting. If the connect was deferred, the write sends the SYN with as much of b as it
// holds (tcp_sendmsg_fastopen in net/ipv4/tcp.c); an empty b sends a SYN without data.
// Over loopback the handshake is over when the write returns. A socket that connected
// during the dial just writes b.
//
// tryFirst returns how many bytes of b the socket took, and whether the connect is
// over. If it is, err says how it went, as sendFirst's does, and o what became of fast
// open, from the struct tcp_info that told that the connect was over.
func tryFirst(tc *net.TCPConn, b []byte) (n int, done bool, o Outcome, err error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, true, OutcomePending, err
	}
	if cerr := rc.Control(func(fd uintptr) { n, done, o, err = firstWrite(int(fd), b) }); cerr != nil {
		return 0, true, OutcomePending, cerr
	}
	return n, done, o, err
}

// firstWrite is tryFirst's work on socket fd.
func firstWrite(fd int, b []byte) (n int, done bool, o Outcome, err error) {
	n, werr := unix.Write(fd, b)
	n = max(n, 0)
	switch werr {
	case nil, unix.EINPROGRESS, unix.EAGAIN:
		// EINPROGRESS: the SYN left without data; EAGAIN: no room in the socket yet.
	case unix.EOPNOTSUPP:
		// net.ipv4.tcp_fastopen lost its client bit since the dial: nothing was sent.
		return 0, true, OutcomePending, errFastOpenRefused
	}
	info, ierr := tcpInfo(fd)
	if ierr != nil {
		info.State = tcpClose
	}
	switch {
	case info.State == tcpSynSent && (werr == nil || werr == unix.EINPROGRESS || werr == unix.EAGAIN):
		return n, false, OutcomePending, nil
	case info.State == tcpSynSent:
		// The write failed before the SYN left.
		return 0, true, OutcomePending, os.NewSyscallError("connect", werr)
	case info.State != tcpClose:
		return n, true, dialOutcome(&info), nil
	}
	return n, true, dialOutcome(&info), connectResult(fd, &info, werr)
}

// connectResult returns the error of a connect on socket fd that is over and closed,
// whose struct tcp_info is info: nil if the handshake had completed (the server
// acknowledged the SYN: tcpi_bytes_acked counts it), so that what ended the conn is the
// stream's to report, or else the connect's error, from SO_ERROR or from werr, the
// error of the write that consumed it.
func connectResult(fd int, info *unix.TCPInfo, werr error) error {
	if info.Bytes_acked > 0 {
		if werr == unix.ECONNRESET || werr == unix.EPIPE {
			// The write found the stream's error, and took it from the socket.
			return os.NewSyscallError("write", werr)
		}
		return nil
	}
	errno := unix.ECONNABORTED
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
		errno = unix.Errno(v)
	} else if e, ok := werr.(unix.Errno); ok && e != unix.EAGAIN && e != unix.EINPROGRESS {
		errno = e
	}
	return os.NewSyscallError("connect", errno)
}

// closedResult is connectResult for a socket that no write has found closed.
func closedResult(fd int) error {
	info, err := tcpInfo(fd)
	if err != nil {
		return err
	}
	return connectResult(fd, &info, nil)
}

// sendFirst writes b, the first bytes of tc, whose socket dialSocket made, as tryFirst
// does, then waits for the handshake through tc's poller, until ctx ends. It returns how
// many bytes of b the socket took; the caller writes the rest. A connect that failed
// returns an *os.SyscallError for "connect", as net does; an error of the stream, once
// the handshake has completed, one for "write". tc knows its addresses, so the local
// address is nil.
func sendFirst(ctx context.Context, tc *net.TCPConn, _ *net.TCPAddr, b []byte) (int, net.Addr, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, nil, err
	}
	var (
		n    int
		done bool
	)
	if cerr := rc.Control(func(fd uintptr) {
		switch tcpState(int(fd)) {
		case tcpSynSent:
			n, done, _, err = firstWrite(int(fd), b)
		case tcpClose:
			done, err = true, closedResult(int(fd))
		default:
			done = true // connected during the dial
		}
	}); cerr != nil {
		return 0, nil, cerr
	}
	if done {
		return n, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		tc.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { tc.SetWriteDeadline(aLongTimeAgo) })
	werr := rc.Write(handshakeOver)
	if !stop() {
		return 0, nil, ctx.Err()
	}
	tc.SetWriteDeadline(time.Time{})
	if werr != nil {
		return 0, nil, werr
	}
	if cerr := rc.Control(func(fd uintptr) {
		err = nil
		if tcpState(int(fd)) == tcpClose {
			err = closedResult(int(fd))
		}
	}); cerr != nil {
		return 0, nil, cerr
	}
	return n, nil, err
}

// aLongTimeAgo is a deadline that has passed, to end a wait at once.
var aLongTimeAgo = time.Unix(1, 0)

// handshakeOver reports whether the socket has left SYN_SENT. It is a function of its
// own so that waiting allocates nothing.
func handshakeOver(fd uintptr) bool {
	return tcpState(int(fd)) != tcpSynSent
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

// Values of tcpi_fastopen_client_fail (include/uapi/linux/tcp.h, Linux 5.5), which the
// kernel sets on a socket with TCP_FASTOPEN_CONNECT: it asked for a cookie, having none
// (tcp_fastopen_cookie_check in net/ipv4/tcp_fastopen.c); the SYN-ACK acknowledged
// the SYN but not its data; or the SYN was sent again, without the data, and the
// SYN-ACK did not acknowledge it (tcp_rcv_fastopen_synack in net/ipv4/tcp_input.c).
const (
	tfoCookieUnavailable = 1
	tfoDataNotAcked      = 2
	tfoSYNRetransmitted  = 3
)

// tcpInfo returns the socket's struct tcp_info, without allocating.
func tcpInfo(fd int) (info unix.TCPInfo, err error) {
	n := uint32(unsafe.Sizeof(info))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return info, os.NewSyscallError("getsockopt", e)
	}
	return info, nil
}

// clientFail returns tcpi_fastopen_client_fail, the 2-bit field after the 1-bit
// tcpi_delivery_rate_app_limited in the 8th byte of struct tcp_info; kernels older than
// 5.5 leave that byte's bits zero. Bit-fields are laid out from the low bit on
// little-endian machines, from the high bit on big-endian ones.
func clientFail(info *unix.TCPInfo) uint8 {
	b := (*[8]byte)(unsafe.Pointer(info))[7]
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return b >> 5 & 3
	}
	return b >> 1 & 3
}

// synDataLost reports whether tc's SYN carried data that was lost, and was sent again
// without it.
func synDataLost(tc *net.TCPConn) bool {
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	var fail uint8
	rc.Control(func(fd uintptr) {
		if info, err := tcpInfo(int(fd)); err == nil {
			fail = clientFail(&info)
		}
	})
	return fail == tfoSYNRetransmitted
}

// fastOpenOutcome tells what became of fast open on the connection behind tc, which
// was dialed to raddr, or accepted if raddr is nil: from TCPI_OPT_SYN_DATA and
// tcpi_fastopen_client_fail in its struct tcp_info. A SYN that carried no data leaves
// both unset, whether or not TCP_FASTOPEN_CONNECT was set on the socket.
func fastOpenOutcome(tc *net.TCPConn, raddr *net.TCPAddr) (Outcome, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return OutcomeUnknown, err
	}
	var (
		info unix.TCPInfo
		serr error
	)
	if err := rc.Control(func(fd uintptr) { info, serr = tcpInfo(int(fd)) }); err != nil {
		return OutcomeUnknown, err
	}
	if serr != nil {
		return OutcomeUnknown, serr
	}
	switch {
	case raddr == nil && info.Options&tcpiOptSynData != 0:
		return OutcomeAcceptedFastOpen, nil
	case raddr == nil:
		return OutcomeAcceptedPlain, nil
	}
	return dialOutcome(&info), nil
}

// dialOutcome tells what became of fast open on a dialed connection whose struct
// tcp_info is info.
func dialOutcome(info *unix.TCPInfo) Outcome {
	if info.Options&tcpiOptSynData != 0 {
		return OutcomeFastOpened
	}
	switch clientFail(info) {
	case tfoCookieUnavailable:
		return outcomeCookieAsked
	case tfoDataNotAcked:
		return OutcomeDataRefused
	case tfoSYNRetransmitted:
		return OutcomeSYNLost
	}
	return outcomeNotTried
}

// cookieCached reports whether the kernel's tcp_metrics cache holds a fast open cookie
// for ip.
func cookieCached(ip netip.Addr) bool {
	e, err := tcpmetrics.Get(ip, netip.Addr{})
	return err == nil && len(e.Cookie) > 0
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

// synData returns how many bytes the SYN of c, an accepted connection, carried. The
// fast open child takes the SYN's data as its first segment, and tcpi_bytes_received
// is its length (tcp_fastopen_add_skb in net/ipv4/tcp_fastopen.c); it stays so while
// tcpi_data_segs_in is 1.
func synData(c syscall.RawConn) (int, error) {
	var (
		info unix.TCPInfo
		serr error
	)
	if err := c.Control(func(fd uintptr) { info, serr = tcpInfo(int(fd)) }); err != nil {
		return 0, err
	}
	switch {
	case serr != nil:
		return 0, serr
	case info.Options&tcpiOptSynData == 0:
		return 0, nil
	case info.Data_segs_in > 1:
		return 0, ErrSYNDataUnknown
	}
	return int(info.Bytes_received), nil
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
