package tfo

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On darwin the first write connects with connectx(2), passing the bytes and
// CONNECT_DATA_IDEMPOTENT, which tells the kernel that they may be replayed: that flag
// is what enables fast open for the connect, when net.inet.tcp.fastopen has its client
// bit (tcp_usr_connectx_common in bsd/netinet/tcp_usrreq.c). connectx also queues the
// bytes when fast open is off or no cookie is cached: the connect is then an ordinary
// one (soconnectxlocked in bsd/kern/uipc_socket.c).
//
// TCP_FASTOPEN_FORCE_ENABLE (0x218) is not set. That option, private to the kernel
// (bsd/netinet/tcp_private.h), skips the heuristics with which darwin stops fast open
// on a network (tcp_tfo_check in bsd/netinet/tcp_output.c): after two SYNs carrying
// data or a cookie request were lost or reset on it, it sends none there for some
// minutes, then for twice as long after each further failure (TFO_MAX_COOKIE_LOSS,
// tcp_ecn_timeout and tcp_backoff_maximum in bsd/netinet/tcp_cache.c). Those failures
// are what a middlebox that drops such SYNs causes, and forcing fast open through it
// would cost every connection a SYN retransmission timeout, a second or more, for the
// round trip that fast open saves.

// tcpFastOpenClient is the client bit of net.inet.tcp.fastopen, TCP_FASTOPEN_CLIENT in
// bsd/netinet/tcp_var.h; 0x1 is the server's. Both are on by default.
const tcpFastOpenClient = 0x2

// The word after tcpi_rttvar of struct tcp_connection_info holds the tcpi_tfo_*
// bit-fields (bsd/netinet/tcp.h), which golang.org/x/sys leaves out. Bit-fields are
// allocated from the least significant bit on darwin's little-endian targets.
const (
	tcpiTFOSynDataAcked = 1 << 4 // tcpi_tfo_syn_data_acked: our SYN's data was acknowledged
	tcpiTFOSynDataRcv   = 1 << 5 // tcpi_tfo_syn_data_rcv: a SYN with data and a valid cookie came in
)

// sysSocket returns a close-on-exec TCP socket of family.
func sysSocket(family int) (int, error) {
	// darwin has no SOCK_CLOEXEC: hold ForkLock, as package net does.
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, unix.SOCK_STREAM, unix.IPPROTO_TCP)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	return fd, os.NewSyscallError("socket", err)
}

// dialFastOpen reports whether the system lets a connect fast-open. darwin has no
// option for it on the socket: connectx asks for it on each connect, and the kernel
// allows it when net.inet.tcp.fastopen has the client bit. A sysctl that cannot be
// read, as in a sandbox, is taken as its default.
func dialFastOpen(uintptr) error {
	if v, err := unix.SysctlUint32("net.inet.tcp.fastopen"); err == nil && v&tcpFastOpenClient == 0 {
		return errClientOff
	}
	return nil
}

var errClientOff = errors.New("tfo: net.inet.tcp.fastopen lacks the client bit")

// connectData starts connecting socket fd to sa with b, and returns how many bytes of b
// it queued. On a non-blocking socket the error is EINPROGRESS while the handshake goes
// on.
func connectData(fd int, sa unix.Sockaddr, b []byte) (int, error) {
	iov := [1]unix.Iovec{{Base: &b[0]}}
	iov[0].SetLen(len(b))
	n, err := unix.Connectx(fd, 0, nil, sa, unix.SAE_ASSOCID_ANY, unix.CONNECT_DATA_IDEMPOTENT, iov[:], nil)
	return int(n), err
}

// softConnectError reports whether errno, read from SO_ERROR of a socket that is
// connecting, leaves the connect going on. ENODATA is darwin's notice that a SYN with
// data went unanswered three times, which it takes for a middlebox that drops fast
// open; it goes on with plain SYNs (tcp_timers in bsd/netinet/tcp_timer.c).
func softConnectError(errno unix.Errno) bool {
	return errno == unix.ENODATA
}

// fastOpenAfterListen is true: darwin takes TCP_FASTOPEN only on a socket that listens,
// and refuses it with ENOTSUP without the server bit of net.inet.tcp.fastopen
// (tcp_ctloutput in bsd/netinet/tcp_usrreq.c).
const fastOpenAfterListen = true

// refusedForGood reports whether a refusal of fast open holds for as long as the system
// runs. On darwin only net.inet.tcp.fastopen refuses it, which may change; every
// version that Go supports has fast open (OS X 10.11 and iOS 9 brought it).
func refusedForGood(error) bool { return false }

// fastOpened reports whether the connection behind c was fast-opened, from
// TCP_CONNECTION_INFO: on a dialed connection tcpi_tfo_syn_data_acked, set when the
// SYN-ACK acknowledged the data of the SYN; on an accepted one tcpi_tfo_syn_data_rcv,
// set when its SYN carried data and a valid cookie (tcp_connection_fill_info in
// bsd/netinet/tcp_usrreq.c).
func fastOpened(c syscall.RawConn) (bool, error) {
	var (
		info *unix.TCPConnectionInfo
		serr error
	)
	if err := c.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPConnectionInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_CONNECTION_INFO)
	}); err != nil {
		return false, err
	}
	if serr != nil {
		return false, os.NewSyscallError("getsockopt", serr)
	}
	return synDataDone(info), nil
}

// synDataDone reports whether info has tcpi_tfo_syn_data_acked or
// tcpi_tfo_syn_data_rcv. Their word is the padding between Rttvar and Txpackets of
// unix.TCPConnectionInfo.
func synDataDone(info *unix.TCPConnectionInfo) bool {
	bits := *(*uint32)(unsafe.Add(unsafe.Pointer(info), tfoBitsOffset))
	return bits&(tcpiTFOSynDataAcked|tcpiTFOSynDataRcv) != 0
}

const tfoBitsOffset = unsafe.Offsetof(unix.TCPConnectionInfo{}.Rttvar) + unsafe.Sizeof(unix.TCPConnectionInfo{}.Rttvar)

// The bits of tcpi_tfo_* that fastOpenOutcome reads, after the two above.
const (
	tcpiTFOCookieReq         = 1 << 0  // tcpi_tfo_cookie_req: the SYN asked for a cookie
	tcpiTFOCookieRcv         = 1 << 1  // tcpi_tfo_cookie_rcv: the SYN-ACK carried one
	tcpiTFOSynLoss           = 1 << 2  // tcpi_tfo_syn_loss: the SYN with data was lost
	tcpiTFOSynDataSent       = 1 << 3  // tcpi_tfo_syn_data_sent: the SYN carried data
	tcpiTFOHeuristicsDisable = 1 << 11 // tcpi_tfo_heuristics_disable: the system's heuristics turned it off
)

// fastOpenOutcome tells what became of fast open on the connection behind c, which was
// dialed to raddr, or accepted if raddr is nil, from the tcpi_tfo_* bits of
// TCP_CONNECTION_INFO (tcp_connection_fill_info in bsd/netinet/tcp_usrreq.c).
func fastOpenOutcome(tc *net.TCPConn, raddr *net.TCPAddr) (Outcome, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return OutcomeUnknown, err
	}
	var (
		info *unix.TCPConnectionInfo
		serr error
	)
	if err := rc.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPConnectionInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_CONNECTION_INFO)
	}); err != nil {
		return OutcomeUnknown, err
	}
	if serr != nil {
		return OutcomeUnknown, os.NewSyscallError("getsockopt", serr)
	}
	bits := *(*uint32)(unsafe.Add(unsafe.Pointer(info), tfoBitsOffset))
	switch {
	case raddr == nil && bits&tcpiTFOSynDataRcv != 0:
		return OutcomeAcceptedFastOpen, nil
	case raddr == nil:
		return OutcomeAcceptedPlain, nil
	case bits&tcpiTFOSynDataAcked != 0:
		return OutcomeFastOpened, nil
	case bits&tcpiTFOSynLoss != 0:
		return OutcomeSYNLost, nil
	case bits&tcpiTFOSynDataSent != 0:
		return OutcomeDataRefused, nil
	case bits&tcpiTFOCookieReq != 0 && bits&tcpiTFOCookieRcv != 0:
		return OutcomeCookieReceived, nil
	case bits&tcpiTFOCookieReq != 0:
		return OutcomeNoCookie, nil
	case bits&tcpiTFOHeuristicsDisable != 0:
		return OutcomePaused, nil
	}
	return outcomeNotTried, nil
}

// cookieCached reports false: fastOpenOutcome tells whether a cookie came.
func cookieCached(netip.Addr) bool { return false }

// setListenKeys fails: darwin has one fast open key for the whole system, which only
// the sysctl net.inet.tcp.fastopen_key sets (tcp_sysctl_fastopenkey in
// bsd/netinet/tcp_subr.c).
func setListenKeys(syscall.RawConn, []Key) error {
	return keysUnsupported("darwin has one key, the system's", nil)
}

// isMultipath reports false: Go makes MPTCP sockets on Linux only.
func isMultipath(syscall.RawConn) bool { return false }
