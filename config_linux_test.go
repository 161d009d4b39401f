package tfo

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDialerFields checks that net.Dialer's fields keep their meaning on a deferred
// connect: LocalAddr binds, Control and ControlContext run, KeepAlive applies.
func TestDialerFields(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	peer := make(chan string, 2)
	s := newServer(t, func(c *net.TCPConn) {
		peer <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		answer(c)
	})

	var controls, contextControls int
	d := &Dialer{Dialer: net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 5)},
		KeepAlive: -1,
		Control: func(network, address string, c syscall.RawConn) error {
			controls++
			if network != "tcp4" || address != s.addr {
				t.Errorf("Control(%q, %q)", network, address)
			}
			return nil
		},
	}}
	// Cookies are kept per source and destination: fetch one from 127.0.0.5.
	warm, err := d.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, warm, "warm")
	warm.Close()
	<-peer
	controls = 0

	c := dialPending(t, d, s.addr)
	if controls != 1 {
		t.Errorf("Control ran %d times", controls)
	}
	if ip := c.LocalAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.5" {
		t.Errorf("LocalAddr %v before the connect", c.LocalAddr())
	}
	if ka := mustSockInt(t, c, unix.SOL_SOCKET, unix.SO_KEEPALIVE); ka != 0 {
		t.Errorf("KeepAlive -1: SO_KEEPALIVE is %d", ka)
	}
	exchange(t, c, "x")
	if ip := <-peer; ip != "127.0.0.5" {
		t.Errorf("the server saw %v", ip)
	}
	checkFastOpened(t, c)

	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		contextControls++
		return nil
	}
	controls = 0
	dialPending(t, d, s.addr)
	if contextControls != 1 || controls != 0 {
		t.Errorf("ControlContext ran %d times, Control %d times", contextControls, controls)
	}

	errControl := errors.New("control refuses")
	d.ControlContext = func(context.Context, string, string, syscall.RawConn) error { return errControl }
	if c, err := d.Dial("tcp", s.addr); c != nil || !errors.Is(err, errControl) {
		t.Errorf("Dial with a failing Control = %v, %v", c, err)
	}
}

// TestListenConfig checks the listener side: DisableTFO gives a plain listener, and
// Backlog and Control are honoured.
func TestListenConfig(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	for _, tt := range []struct {
		lc   ListenConfig
		qlen int // TCP_FASTOPEN read back from the listener
	}{
		{ListenConfig{}, DefaultBacklog},
		{ListenConfig{Backlog: 7}, 7},
		{ListenConfig{DisableTFO: true}, 0},
	} {
		var controls int
		lc := tt.lc
		lc.Control = func(string, string, syscall.RawConn) error { controls++; return nil }
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		qlen, _ := sockInt(t, ln.(*net.TCPListener), unix.IPPROTO_TCP, unix.TCP_FASTOPEN)
		if qlen != tt.qlen || controls != 1 {
			t.Errorf("%+v: fast open queue %d, Control ran %d times; want %d, once", tt.lc, qlen, controls, tt.qlen)
		}
		opened := make(chan bool, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				opened <- false
				return
			}
			defer c.Close()
			ok, _ := FastOpened(c)
			answer(c.(*net.TCPConn))
			opened <- ok
		}()
		c, err := Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		exchange(t, c, "x")
		c.Close()
		if ok := <-opened; ok != !tt.lc.DisableTFO {
			t.Errorf("%+v: fast-opened %v", tt.lc, ok)
		}
		ln.Close()
	}
}

// TestMultipath checks a Dialer with MultipathTCP: where the system takes fast open on
// an MPTCP socket, as this kernel does, the conn is MPTCP and fast-opened; where it
// refuses it, the conn connects as net's does, the refusal is not remembered for plain
// TCP, and Report says why.
func TestMultipath(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	resetRefusal(t)
	s := newServer(t, answer)
	d := &Dialer{}
	d.SetMultipathTCP(true)
	c := dialPending(t, d, s.addr)
	checkAnswer(t, c, "x")
	if mp, err := c.MultipathTCP(); !mp || err != nil {
		t.Errorf("MultipathTCP() = %v, %v; want an MPTCP conn", mp, err)
	}
	checkFastOpened(t, c)
	if o, _ := Report(c); o != OutcomeFastOpened {
		t.Errorf("Report = %q", o)
	}

	setDialFastOpen = func(uintptr) error { return os.NewSyscallError("setsockopt", errNoProtoOpt) }
	t.Cleanup(func() { setDialFastOpen = dialFastOpen })
	nc, err := d.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if !deferred(nc.(*Conn).tc) && onWire {
		// Without the option, the connect happened during the dial.
		checkAnswer(t, nc, "y")
		if o, _ := Report(nc); o != OutcomeMultipath {
			t.Errorf("Report of a refused MPTCP conn = %q", o)
		}
	} else {
		t.Error("the connect was deferred without the option")
	}
	if !clientRefusal.allowed() {
		t.Error("a refusal on an MPTCP socket stopped fast open for TCP")
	}
}
