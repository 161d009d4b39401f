package tfo

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestErrorsAfterFirstWriteConnect checks that a conn whose socket package net wrapped
// before it connected, as dialSocket leaves it on darwin, FreeBSD and Windows, reports
// its real addresses in the errors of its calls, not those net saw when it wrapped the
// socket. The platform's part is played here by connect(2) on a socket net.FileConn
// wrapped unconnected.
func TestErrorsAfterFirstWriteConnect(t *testing.T) {
	verifyNone(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ra := ln.Addr().(*net.TCPAddr)

	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	tc := nc.(*net.TCPConn)
	var sa unix.Sockaddr
	rc, _ := tc.SyscallConn()
	rc.Control(func(fd uintptr) {
		err = unix.Connect(int(fd), &unix.SockaddrInet4{Port: ra.Port, Addr: [4]byte{127, 0, 0, 1}})
	})
	if errors.Is(err, unix.EINPROGRESS) {
		err = rc.Write(func(fd uintptr) bool {
			_, perr := unix.Getpeername(int(fd))
			return perr == nil
		})
	}
	if err == nil {
		rc.Control(func(fd uintptr) { sa, err = unix.Getsockname(int(fd)) })
	}
	if err != nil {
		tc.Close()
		t.Fatal(err)
	}
	la := &net.TCPAddr{IP: net.IP(sa.(*unix.SockaddrInet4).Addr[:]), Port: sa.(*unix.SockaddrInet4).Port}
	if tc.RemoteAddr() != nil {
		t.Fatalf("net.FileConn learnt the remote address %v of a socket it wrapped unconnected", tc.RemoteAddr())
	}

	pc := newPendingConn(&Dialer{}, "tcp")
	pc.c.tc, pc.p.raddr, pc.p.laddr = tc, ra, la
	c := &pc.c
	c.state.Store(stateConnected)
	defer c.Close()
	if got := c.LocalAddr().String(); got != la.String() {
		t.Errorf("LocalAddr %s, want %s", got, la)
	}
	if got := c.RemoteAddr().String(); got != ra.String() {
		t.Errorf("RemoteAddr %s, want %s", got, ra)
	}
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, err = c.Read(make([]byte, 1))
	var oe *net.OpError
	if !errors.As(err, &oe) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read: %v, want a deadline *net.OpError", err)
	}
	if oe.Source == nil || oe.Source.String() != la.String() || oe.Addr == nil || oe.Addr.String() != ra.String() {
		t.Errorf("Read's error %q has the addresses %v and %v, want %v and %v", err, oe.Source, oe.Addr, la, ra)
	}
}
