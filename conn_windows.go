package tfo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/windows"
)

// On Windows a dial makes an overlapped socket with TCP_FASTOPEN, binds it, and wraps it
// in a *net.TCPConn with net.FileConn before it connects. The first write connects it
// with ConnectEx, which sends the bytes in the SYN when the system holds a cookie for
// the server, and after the handshake otherwise (TCP_FASTOPEN in "IPPROTO_TCP socket
// options", Windows 10, version 1607). Go's poller cannot wait for that ConnectEx, so
// it runs with an event of its own whose low-order bit is set, which keeps its
// completion off the completion port that the socket shares with Go's poller
// (GetQueuedCompletionStatus, Remarks).
//
// The socket is wrapped with net.FileConn, which takes an *os.File and owns a duplicate
// of the socket; wrapSocket then closes the original with closesocket (see there).

var errUnsupported = fmt.Errorf("tfo: Windows does not tell whether a connection was fast-opened: %w", errors.ErrUnsupported)

// dialSocket resolves address for a dial with d and returns a conn around a socket that
// has not connected, and the address to connect it to. d's ControlContext runs on the
// socket before it is bound. Where sockets cannot be wrapped, it dials as net does.
func dialSocket(ctx context.Context, d *net.Dialer, network, address string) (*net.TCPConn, *net.TCPAddr, error) {
	if !fileConnWorks() {
		return dialNet(ctx, d, network, address)
	}
	return dialUnconnected(ctx, d, network, address)
}

// newSocket makes the socket of a dial to ra, runs d's ControlContext on it, binds it
// to la, d's LocalAddr, or to the wildcard address (ConnectEx takes only a bound socket), and
// wraps it in a *net.TCPConn.
func newSocket(ctx context.Context, d *net.Dialer, network string, la, ra *net.TCPAddr) (*net.TCPConn, error) {
	if la == nil {
		la = &net.TCPAddr{}
	}
	ip4 := ra.IP.To4() != nil
	lsa, err := sockaddr(la, ip4)
	if err != nil {
		return nil, err
	}
	h, err := socket(ip4)
	if err != nil {
		return nil, err
	}
	if d.ControlContext != nil {
		if err := d.ControlContext(ctx, ctrlNetwork(network, ip4), ra.String(), rawSocket(h)); err != nil {
			windows.Closesocket(h)
			return nil, err
		}
	}
	if err := windows.Bind(h, lsa); err != nil {
		windows.Closesocket(h)
		return nil, os.NewSyscallError("bind", err)
	}
	tc, err := wrapSocket(h)
	if err != nil {
		return nil, err
	}
	// As with net.Dialer, a keep-alive that cannot be set does not fail the dial.
	setKeepAlive(tc, d)
	return tc, nil
}

// socket returns an overlapped TCP socket that child processes do not inherit, as
// package net makes them.
func socket(ip4 bool) (windows.Handle, error) {
	family := int32(windows.AF_INET6)
	if ip4 {
		family = windows.AF_INET
	}
	h, err := windows.WSASocket(family, windows.SOCK_STREAM, windows.IPPROTO_TCP, nil, 0, windows.WSA_FLAG_OVERLAPPED|windows.WSA_FLAG_NO_HANDLE_INHERIT)
	if err != nil {
		return windows.InvalidHandle, os.NewSyscallError("socket", err)
	}
	return h, nil
}

// wrapSocket returns a *net.TCPConn around a duplicate of socket h, which it closes.
//
// net.FileConn takes an *os.File, which only os.NewFile makes. That file's Close calls
// CloseHandle: internal/poll's FD.destroy calls closesocket only for package net's own
// kinds. A socket must be closed with closesocket instead ("Do not use the CloseHandle
// function to close a socket", CloseHandle, Remarks), which does Winsock's bookkeeping.
//
// So h is marked HANDLE_FLAG_PROTECT_FROM_CLOSE (SetHandleInformation takes socket
// handles) before the file closes, and the file's Close leaves it open. Then h is
// unmarked and closed with closesocket. The file closes right after net.FileConn has
// duplicated h (WSADuplicateSocket), before any I/O. Until then h stays open, so no
// other handle can take its value.
//
// In a process being debugged, closing a protected handle raises an exception, on
// which Go's runtime would crash. There the file closes h with CloseHandle.
func wrapSocket(h windows.Handle) (*net.TCPConn, error) {
	protect := !debugged()
	if protect {
		protect = windows.SetHandleInformation(h, handleFlagProtectFromClose, handleFlagProtectFromClose) == nil
	}
	f := os.NewFile(uintptr(h), "")
	c, err := net.FileConn(f)
	f.Close()
	// Unmarking fails if the file closed h after all: h must not be closed twice.
	if protect && windows.SetHandleInformation(h, handleFlagProtectFromClose, 0) == nil {
		closeSocket(h)
	}
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, errors.New("tfo: not a TCP socket")
	}
	return tc, nil
}

// handleFlagProtectFromClose is HANDLE_FLAG_PROTECT_FROM_CLOSE (SetHandleInformation),
// which golang.org/x/sys/windows does not define.
const handleFlagProtectFromClose = 0x2

// closeSocket is windows.Closesocket; tests count its calls.
var closeSocket = windows.Closesocket

var procIsDebuggerPresent = windows.NewLazySystemDLL("kernel32.dll").NewProc("IsDebuggerPresent")

// debugged reports whether a debugger is attached to the process (IsDebuggerPresent).
func debugged() bool {
	r, _, _ := procIsDebuggerPresent.Call()
	return r != 0
}

// fileConnWorks reports whether net.FileConn can wrap a socket. It fails where the
// system cannot take a socket away from a completion port
// (FileReplaceCompletionInformation, Windows 8.1): os.NewFile attaches the socket to
// Go's, and the duplicate that net.FileConn makes, which shares the socket's file
// object, can then not be attached again.
var fileConnWorks = sync.OnceValue(func() bool {
	h, err := socket(true)
	if err != nil {
		return false
	}
	if err := windows.Bind(h, &windows.SockaddrInet4{}); err != nil {
		windows.Closesocket(h)
		return false
	}
	tc, err := wrapSocket(h)
	if err != nil {
		return false
	}
	tc.Close()
	return true
})

// sockaddr returns a as a socket address of the IPv4 family, or else of the IPv6 one.
// A nil IP is the wildcard address.
func sockaddr(a *net.TCPAddr, ip4 bool) (windows.Sockaddr, error) {
	if ip4 {
		sa := &windows.SockaddrInet4{Port: a.Port}
		if a.IP != nil {
			ip := a.IP.To4()
			if ip == nil {
				return nil, &net.AddrError{Err: "non-IPv4 address", Addr: a.IP.String()}
			}
			copy(sa.Addr[:], ip)
		}
		return sa, nil
	}
	sa := &windows.SockaddrInet6{Port: a.Port}
	if a.IP != nil {
		ip := a.IP.To16()
		if ip == nil {
			return nil, &net.AddrError{Err: "non-IPv6 address", Addr: a.IP.String()}
		}
		copy(sa.Addr[:], ip)
	}
	if a.Zone != "" {
		if n, err := strconv.Atoi(a.Zone); err == nil {
			sa.ZoneId = uint32(n)
		} else if ifi, err := net.InterfaceByName(a.Zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, nil
}

// dialFastOpen enables fast open on a socket that has not connected yet.
func dialFastOpen(fd uintptr) error {
	return os.NewSyscallError("setsockopt", windows.SetsockoptInt(windows.Handle(fd), windows.IPPROTO_TCP, windows.TCP_FASTOPEN, 1))
}

// fastOpenAfterListen is false: Windows takes TCP_FASTOPEN on a socket before listen.
const fastOpenAfterListen = false

// listenFastOpen enables fast open on a socket that is about to listen. Windows takes
// only on or off, so backlog is not used.
func listenFastOpen(c syscall.RawConn, _ int) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = windows.SetsockoptInt(windows.Handle(fd), windows.IPPROTO_TCP, windows.TCP_FASTOPEN, 1)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt", serr)
}

// refusedForGood reports whether a refusal of fast open holds for as long as the system
// runs: WSAENOPROTOOPT, from a system that predates TCP_FASTOPEN (Windows 10, version
// 1607).
func refusedForGood(err error) bool {
	return errors.Is(err, windows.WSAENOPROTOOPT)
}

// deferred reports whether tc's socket has not connected yet. net.FileConn found no
// peer on it, and tc keeps the addresses it found.
func deferred(tc *net.TCPConn) bool {
	return tc.RemoteAddr() == nil
}

// tryFirst leaves the connect to sendFirst: ConnectEx is waited for where it started.
// A socket that connected during the dial, where sockets cannot be wrapped, needs no
// connect. It tells no outcome: fastOpenOutcome does.
func tryFirst(tc *net.TCPConn, _ []byte) (n int, done bool, o Outcome, err error) {
	return 0, !deferred(tc), OutcomePending, nil
}

// sendFirst connects tc's socket, made by dialSocket, to raddr with b as its first
// bytes, and returns once the handshake has completed, with how many bytes of b it sent
// (the caller writes the rest) and the local address, which tc does not know. With an
// empty b the socket connects without data. The connect ends when ctx ends, or when tc
// is closed. A failed connect returns an *os.SyscallError for "connectex", as net does.
func sendFirst(ctx context.Context, tc *net.TCPConn, raddr *net.TCPAddr, b []byte) (int, net.Addr, error) {
	if !deferred(tc) {
		return 0, nil, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, nil, err
	}
	return connectEx(ctx, rc, raddr, b)
}

// connectEx connects the socket behind rc, bound and not connected, to ra with
// ConnectEx, which sends b once the SYN has left: in it, where fast open allows. It
// returns how many bytes of b were sent and the local address. The end of ctx cancels
// the connect, with ctx's error; a socket closed meanwhile ends it with net.ErrClosed.
func connectEx(ctx context.Context, rc syscall.RawConn, ra *net.TCPAddr, b []byte) (int, net.Addr, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	sa, err := sockaddr(ra, ra.IP.To4() != nil)
	if err != nil {
		return 0, nil, err
	}
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return 0, nil, os.NewSyscallError("createevent", err)
	}
	// The event is closed, and o and b unpinned, only once the connect has completed:
	// until then the system may write to them.
	defer windows.CloseHandle(ev)
	o := new(windows.Overlapped)
	o.HEvent = ev | 1
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(o)
	var p *byte
	if len(b) > 0 {
		p = &b[0]
		pin.Pin(p)
	}

	var serr error
	if err := rc.Control(func(fd uintptr) {
		// The count of bytes sent comes with the result below: with an OVERLAPPED,
		// ConnectEx ignores lpdwBytesSent.
		serr = windows.ConnectEx(windows.Handle(fd), sa, p, uint32(len(b)), nil, o)
	}); err != nil {
		return 0, nil, net.ErrClosed
	}
	if serr != nil && serr != windows.ERROR_IO_PENDING {
		return 0, nil, os.NewSyscallError("connectex", serr)
	}
	canceled := serr != nil && waitConnect(ctx, rc, ev, o)

	var (
		n     uint32
		flags uint32
		laddr net.Addr
	)
	if err := rc.Control(func(fd uintptr) {
		h := windows.Handle(fd)
		if serr = windows.WSAGetOverlappedResult(h, o, &n, false, &flags); serr != nil {
			return
		}
		// Until this option is set, the socket knows neither its peer nor the options set
		// before the connect (ConnectEx, Remarks).
		if serr = windows.Setsockopt(h, windows.SOL_SOCKET, windows.SO_UPDATE_CONNECT_CONTEXT, nil, 0); serr != nil {
			serr = os.NewSyscallError("setsockopt", serr)
			return
		}
		laddr, serr = localAddr(h)
	}); err != nil {
		return 0, nil, net.ErrClosed
	}
	switch {
	case serr == windows.ERROR_OPERATION_ABORTED && canceled:
		return 0, nil, ctx.Err()
	case serr != nil:
		if _, ok := serr.(syscall.Errno); ok {
			serr = os.NewSyscallError("connectex", serr)
		}
		return 0, nil, serr
	}
	return int(n), laddr, nil
}

// waitConnect waits for the connect started with o, whose completion sets ev, and
// cancels it when ctx ends. It reports whether it canceled the connect. Closing the
// socket cancels the connect as well (closesocket, Remarks). A goroutine waits for ev,
// which holds a thread for as long as the connect lasts.
func waitConnect(ctx context.Context, rc syscall.RawConn, ev windows.Handle, o *windows.Overlapped) bool {
	done := make(chan struct{})
	go func() {
		windows.WaitForSingleObject(ev, windows.INFINITE)
		close(done)
	}()
	select {
	case <-done:
		return false
	case <-ctx.Done():
	}
	// If the socket is closed meanwhile, Control fails and the close cancels the
	// connect.
	rc.Control(func(fd uintptr) { windows.CancelIoEx(windows.Handle(fd), o) })
	<-done
	return true
}

// localAddr returns the local address of socket h.
func localAddr(h windows.Handle) (net.Addr, error) {
	sa, err := windows.Getsockname(h)
	if err != nil {
		return nil, os.NewSyscallError("getsockname", err)
	}
	switch sa := sa.(type) {
	case *windows.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}, nil
	case *windows.SockaddrInet6:
		a := &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
		if sa.ZoneId != 0 {
			a.Zone = zoneName(sa.ZoneId)
		}
		return a, nil
	}
	return nil, syscall.EAFNOSUPPORT
}

// zoneName returns the name of the interface with index id, or id as a number.
func zoneName(id uint32) string {
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		return ifi.Name
	}
	return strconv.Itoa(int(id))
}

// unreachable reports whether a connect that failed with err took no connection at the
// address, so that the next address may be tried with the same data: refused, no
// route, or no answer before the system gave up (Windows Sockets Error Codes).
func unreachable(err error) bool {
	switch err {
	case windows.WSAECONNREFUSED, windows.WSAENETUNREACH, windows.WSAEHOSTUNREACH,
		windows.WSAENETDOWN, windows.WSAEHOSTDOWN, windows.WSAETIMEDOUT, windows.WSAEADDRNOTAVAIL:
		return true
	}
	return false
}

// synDataLost reports false: Windows does not say whether the data of a SYN was lost.
func synDataLost(*net.TCPConn) bool { return false }

// fastOpened returns an error matching errors.ErrUnsupported: Windows keeps no record
// of fast open on a socket that it reports. TCP_INFO_v0 and TCP_INFO_v1 (SIO_TCP_INFO)
// have no such field, and ConnectEx counts the bytes it sent whether or not the SYN
// carried them.
func fastOpened(syscall.RawConn) (bool, error) { return false, errUnsupported }

// fastOpenOutcome returns OutcomeUnknown: Windows does not tell what became of fast
// open on a connection (see fastOpened).
func fastOpenOutcome(*net.TCPConn, *net.TCPAddr) (Outcome, error) { return OutcomeUnknown, nil }

// cookieCached reports false: Windows does not tell.
func cookieCached(netip.Addr) bool { return false }

// synData fails: Windows does not tell whether a SYN carried data.
func synData(syscall.RawConn) (int, error) { return 0, errUnsupported }

// setListenKeys fails: Windows has no option for the keys of fast open cookies.
func setListenKeys(syscall.RawConn, []Key) error {
	return keysUnsupported("Windows has none", nil)
}

// isMultipath reports false: Go makes MPTCP sockets on Linux only.
func isMultipath(syscall.RawConn) bool { return false }
