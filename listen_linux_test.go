package tfo

import (
	"context"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mptcpInfo is MPTCP_INFO (include/uapi/linux/mptcp.h), which an MPTCP socket answers
// while its connection uses MPTCP, and refuses once it has fallen back to TCP.
const mptcpInfo = 1

// sockInt returns the socket option level, opt of c.
func sockInt(t testing.TB, c syscall.Conn, level, opt int) (int, error) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var (
		v    int
		serr error
	)
	rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), level, opt) })
	return v, serr
}

// protocol returns the protocol of c's socket: IPPROTO_TCP or IPPROTO_MPTCP.
func protocol(t testing.TB, c syscall.Conn) int {
	t.Helper()
	p, err := sockInt(t, c, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fastOpenQueue returns the fast open queue of ln, TCP_FASTOPEN read back.
func fastOpenQueue(t testing.TB, ln net.Listener) int {
	t.Helper()
	q, err := sockInt(t, ln.(*net.TCPListener), unix.IPPROTO_TCP, unix.TCP_FASTOPEN)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// multipathDialer returns a net.Dialer that dials MPTCP with TCP_FASTOPEN_CONNECT, as a
// client of the kernel's own would.
func multipathDialer() *net.Dialer {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT, 1) })
		return serr
	}}
	d.SetMultipathTCP(true)
	return d
}

// TestListenMultipath checks listeners that Go makes MPTCP by default. On this kernel
// MPTCP takes fast open: the listener stays MPTCP, with its queue and keys, and both a
// TCP client and an MPTCP one fast-open to it, the latter over MPTCP. Where MPTCP refuses
// fast open, as Linux before 6.2 does (injected here), the listener is made again as a
// plain TCP one that fast-opens, Control running once on each socket; DisableTFO keeps
// Go's MPTCP listener, and an MPTCP listener the caller turned off stays off.
func TestListenMultipath(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	} else {
		p := protocol(t, ln.(*net.TCPListener))
		ln.Close()
		if p != unix.IPPROTO_MPTCP {
			if os.Getenv("CI") == "true" {
				t.Fatal("net.Listen made no MPTCP listener: the kernel lacks MPTCP, or net.mptcp.enabled is 0")
			}
			t.Skip("net.Listen made no MPTCP listener: the kernel lacks MPTCP, or net.mptcp.enabled is 0")
		}
	}
	refuseMultipath := func(c syscall.RawConn, backlog int) error {
		if isMultipath(c) {
			return os.NewSyscallError("setsockopt", unix.ENOPROTOOPT) // mptcp_setsockopt, Linux 5.14 to 6.1
		}
		return listenFastOpen(c, backlog)
	}
	k := testKey(0x70)
	for _, tt := range []struct {
		name      string
		refuse    bool // MPTCP refuses fast open
		lc        ListenConfig
		noMPTCP   bool // SetMultipathTCP(false)
		protocol  int
		controls  int
		fastOpens bool
	}{
		{"MPTCP takes fast open", false, ListenConfig{Backlog: 9, Keys: []Key{k}}, false, unix.IPPROTO_MPTCP, 1, true},
		{"MPTCP refuses fast open", true, ListenConfig{Backlog: 9, Keys: []Key{k}}, false, unix.IPPROTO_TCP, 2, true},
		{"MPTCP refuses fast open, DisableTFO", true, ListenConfig{DisableTFO: true}, false, unix.IPPROTO_MPTCP, 1, false},
		{"MPTCP turned off", true, ListenConfig{Backlog: 9, Keys: []Key{k}}, true, unix.IPPROTO_TCP, 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			if tt.refuse {
				setListenFastOpen = refuseMultipath
				t.Cleanup(func() { setListenFastOpen = listenFastOpen })
			}
			refusals := listenRefusals.Load()
			lc := tt.lc
			var controls []int
			lc.Control = func(_, _ string, c syscall.RawConn) error {
				p, _ := sockOption(c, unix.SOL_SOCKET, unix.SO_PROTOCOL)
				controls = append(controls, p)
				return nil
			}
			if tt.noMPTCP {
				lc.SetMultipathTCP(false)
			}
			ln, err := lc.Listen(context.Background(), "tcp", freshHost()+":0")
			if err != nil {
				t.Fatal(err)
			}
			arrivals, multipath := make(chan arrival, 4), make(chan bool, 4)
			rec := record(t, arrivals)
			s := serveListener(t, ln, func(c *net.TCPConn) {
				multipath <- isMultipathConn(c)
				rec(c)
			})
			tl := ln.(*net.TCPListener)
			if p := protocol(t, tl); p != tt.protocol || len(controls) != tt.controls {
				t.Errorf("listener of protocol %d after %d Controls (on %v); want %d after %d", p, len(controls), controls, tt.protocol, tt.controls)
			}
			if tt.controls == 2 && (controls[0] != unix.IPPROTO_MPTCP || controls[1] != unix.IPPROTO_TCP) {
				t.Errorf("Control ran on sockets of protocols %v; want MPTCP, then TCP", controls)
			}
			if n := listenRefusals.Load() - refusals; n != 0 {
				t.Errorf("%d listener refusals counted", n)
			}
			if !tt.fastOpens {
				if q := fastOpenQueue(t, ln); q != 0 {
					t.Errorf("DisableTFO: fast open queue %d", q)
				}
				return
			}
			if q := fastOpenQueue(t, ln); q != lc.Backlog {
				t.Errorf("fast open queue %d; want %d", q, lc.Backlog)
			}
			checkKeys(t, ln, k)

			send(t, dialZero, s.addr, "warm")
			sendCounted(t, dialZero, s.addr, "from a TCP client", openedWithKey)
			want := []arrival{{"warm", false}, {"from a TCP client", true}}
			if tt.protocol == unix.IPPROTO_MPTCP {
				checkMultipathClient(t, s.addr)
				want = append(want, arrival{"from an MPTCP client", true})
			}
			checkArrivals(t, s, arrivals, want...)
			for i, a := range want {
				if mp := <-multipath; mp != (a.data == "from an MPTCP client") {
					t.Errorf("accepted conn %d (%q): MPTCP %v", i, a.data, mp)
				}
			}
		})
	}
}

// checkMultipathClient checks that an MPTCP client with a cookie fast-opens to the MPTCP
// listener at address, and that the connection is an MPTCP one at both ends.
func checkMultipathClient(t testing.TB, address string) {
	t.Helper()
	d := multipathDialer()
	before := readTCPExt(t)
	c, err := d.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	if _, err := c.Write([]byte("from an MPTCP client")); err != nil {
		t.Fatal(err)
	}
	tc.CloseWrite()
	if b := readAll(t, c, 5*time.Second); string(b) != "done" {
		t.Fatalf("server answered %q", b)
	}
	if d := readTCPExt(t).since(before, "TCPFastOpenActive", "TCPFastOpenPassive"); d["TCPFastOpenActive"] != 1 || d["TCPFastOpenPassive"] != 1 {
		t.Errorf("MPTCP client: TcpExt %v; want one fast open at each end", d)
	}
	if ok, err := FastOpened(tc); !ok || err != nil {
		t.Errorf("MPTCP client: FastOpened = %v, %v; want true", ok, err)
	}
	if !isMultipathConn(tc) {
		t.Error("MPTCP client: the connection does not use MPTCP")
	}
}

// isMultipathConn reports whether c's connection uses MPTCP: its socket is an MPTCP one
// that has not fallen back to TCP.
func isMultipathConn(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	p, _ := sockOption(rc, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	_, err = sockOption(rc, unix.SOL_MPTCP, mptcpInfo)
	return p == unix.IPPROTO_MPTCP && err == nil
}

// sockOption returns the socket option level, opt of the socket behind c.
func sockOption(c syscall.RawConn, level, opt int) (int, error) {
	var (
		v    int
		serr error
	)
	if err := c.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		return 0, err
	}
	return v, serr
}
