//go:build darwin || freebsd

package tfo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

// On darwin and FreeBSD every dial defers its connect to the first write, with or
// without a cookie, so that these tests need no cookie; only TestFastOpenLoopback needs
// listeners to accept fast open.

// TestDialDefersConnect checks that a dial to a port where nothing listens succeeds
// without sending anything, and that the first Write reports the refusal as net.Dial
// does.
func TestDialDefersConnect(t *testing.T) {
	verifyNone(t)
	addr := closedPort(t)
	nc, err := Dial("tcp", addr)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c := nc.(*Conn)
	defer c.Close()
	if !deferred(c.tc) {
		t.Fatal("the dial connected")
	}
	if got := c.RemoteAddr().String(); got != addr {
		t.Errorf("RemoteAddr before the connect = %s; want %s", got, addr)
	}
	_, err = c.Write([]byte("x"))
	checkDialError(t, err, syscall.ECONNREFUSED)
	if _, nerr := net.Dial("tcp", addr); nerr == nil || err.Error() != nerr.Error() {
		t.Errorf("error %q; net.Dial's: %q", err, nerr)
	}
}

// TestDialPortZero checks that a dial to port 0, which no connect reaches, fails at the
// dial as net's does.
func TestDialPortZero(t *testing.T) {
	verifyNone(t)
	c, err := Dial("tcp", "127.0.0.1:0")
	_, nerr := net.Dial("tcp", "127.0.0.1:0")
	if c != nil || err == nil || nerr == nil || err.Error() != nerr.Error() {
		t.Errorf("Dial to port 0 = %v, %v; net.Dial's error: %v", c, err, nerr)
	}
}

// TestFirstWriteAddrs checks the addresses of a conn whose socket connected at its
// first Write: the local one is the one the server sees, and the one the Dialer's
// LocalAddr binds.
func TestFirstWriteAddrs(t *testing.T) {
	verifyNone(t)
	peer := make(chan net.Addr, 1)
	s := newServer(t, func(c *net.TCPConn) {
		peer <- c.RemoteAddr()
		answer(c)
	})
	la, err := net.ResolveTCPAddr("tcp", closedPort(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Dialer{{}, {Dialer: net.Dialer{LocalAddr: la}}} {
		nc, err := d.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, nc, "addrs")
		got, want := nc.LocalAddr().String(), (<-peer).String()
		if got != want || (d.LocalAddr != nil && got != la.String()) {
			t.Errorf("LocalAddr = %s; the server sees %s; Dialer.LocalAddr %v", got, want, d.LocalAddr)
		}
		if got := nc.RemoteAddr().String(); got != s.addr {
			t.Errorf("RemoteAddr = %s; want %s", got, s.addr)
		}
		nc.Close()
	}
}

// TestFirstWriteLarge checks that a first Write far larger than what the connect
// carries arrives whole and in order.
func TestFirstWriteLarge(t *testing.T) {
	verifyNone(t)
	data := pattern(4 << 20)
	got := make(chan []byte, 1)
	s := newServer(t, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		got <- b
	})
	nc, err := Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if n, err := nc.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(data))
	}
	nc.(*Conn).CloseWrite()
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("the server received %d bytes, not the %d written", len(b), len(data))
	}
}

// TestReadConnectsWithoutData checks that a Read before any Write connects without
// data, so that a server that speaks first is heard.
func TestReadConnectsWithoutData(t *testing.T) {
	verifyNone(t)
	received := make(chan []byte, 1)
	s := newServer(t, func(c *net.TCPConn) {
		c.Write([]byte("banner"))
		b, _ := io.ReadAll(c)
		received <- b
	})
	nc, err := (&Dialer{ReadWait: -1}).Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	n, err := nc.Read(b)
	if err != nil || string(b[:n]) != "banner" {
		t.Errorf("Read = %q, %v; want the banner", b[:n], err)
	}
	nc.Close()
	if b := <-received; len(b) != 0 {
		t.Errorf("the server received %q", b)
	}
}

// TestControlOnDeferredSocket checks that the Dialer's ControlContext sees the socket
// as net.Dialer shows it, and that its error fails the dial as it does with net.
func TestControlOnDeferredSocket(t *testing.T) {
	verifyNone(t)
	addr := closedPort(t)
	errControl := errors.New("control says no")
	var got []string
	control := func(_ context.Context, network, address string, c syscall.RawConn) error {
		got = append(got, network, address)
		return errControl
	}
	_, err := (&Dialer{Dialer: net.Dialer{ControlContext: control}}).Dial("tcp", addr)
	_, nerr := (&net.Dialer{ControlContext: control}).Dial("tcp", addr)
	if !errors.Is(err, errControl) || nerr == nil || err.Error() != nerr.Error() {
		t.Errorf("Dial with a failing Control: %v; net's: %v", err, nerr)
	}
	if len(got) != 4 || got[0] != got[2] || got[1] != got[3] {
		t.Errorf("Control saw network and address %q; net's Control saw %q", got[:2], got[2:])
	}
}

// TestFastOpenLoopback checks that a connection to a fast open listener over loopback,
// after one that fetched the cookie, carries its data in the SYN: the server reports
// that the SYN's data was accepted, and on darwin the client that it was acknowledged.
// FreeBSD's listener needs net.inet.tcp.fastopen.server_enable=1.
func TestFastOpenLoopback(t *testing.T) {
	verifyNone(t)
	requireServerFastOpen(t)
	opened := make(chan bool, 2)
	s := newServer(t, func(c *net.TCPConn) {
		ok, err := FastOpened(c)
		if err != nil {
			t.Error(err)
		}
		opened <- ok
		answer(c)
	})
	for i := range 2 {
		nc, err := Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, nc, "fast")
		client, err := FastOpened(nc)
		nc.Close()
		if err != nil {
			t.Fatal(err)
		}
		server := <-opened
		if i == 0 {
			continue // it may have fetched the cookie
		}
		if !server {
			t.Error("the server did not accept the SYN's data")
		}
		if clientReportsSynData && !client {
			t.Error("the client did not see the SYN's data acknowledged")
		}
	}
}

// requireServerFastOpen skips a test that needs listeners to accept fast open, unless
// the system lets them; with CI=true it fails instead.
func requireServerFastOpen(t *testing.T) {
	t.Helper()
	if err := serverFastOpen(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}
