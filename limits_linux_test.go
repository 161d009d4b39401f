package tfo

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestControlSetsUserTimeout checks the way around code that sets TCP_USER_TIMEOUT only
// on a *net.TCPConn, as grpc-go's keepalive does: Dialer.Control sets it on the socket
// before the connect, and the conn still fast-opens.
func TestControlSetsUserTimeout(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	const timeout = 12345 // milliseconds
	d := &Dialer{Dialer: net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, timeout)
		}); err != nil {
			return err
		}
		return os.NewSyscallError("setsockopt", serr)
	}}}
	s := newServer(t, answer)
	c := dialPending(t, d, s.addr)
	before := readTCPExt(t)
	checkAnswer(t, c, "hello")
	if got := mustSockInt(t, c, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); got != timeout {
		t.Errorf("TCP_USER_TIMEOUT %d ms, want %d", got, timeout)
	}
	checkFastOpened(t, c)
	if d := readTCPExt(t).since(before, "TCPFastOpenActive"); d["TCPFastOpenActive"] != 1 {
		t.Errorf("TcpExt %v; want one active fast open", d)
	}
}

// TestKeepAliveConfigOnDialer checks the way around code that calls SetKeepAlive only
// on a *net.TCPConn, as go-sql-driver/mysql does: the Dialer's KeepAliveConfig sets
// keep-alive on the conn, and the conn still fast-opens.
func TestKeepAliveConfigOnDialer(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	d := &Dialer{Dialer: net.Dialer{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 37 * time.Second, Interval: 7 * time.Second, Count: 3,
	}}}
	s := newServer(t, answer)
	c := dialPending(t, d, s.addr)
	before := readTCPExt(t)
	checkAnswer(t, c, "hello")
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 37},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 7},
		{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 3},
	} {
		if got := mustSockInt(t, c, o.level, o.opt); got != o.want {
			t.Errorf("%s %d, want %d", o.name, got, o.want)
		}
	}
	checkFastOpened(t, c)
	if d := readTCPExt(t).since(before, "TCPFastOpenActive"); d["TCPFastOpenActive"] != 1 {
		t.Errorf("TcpExt %v; want one active fast open", d)
	}
}
