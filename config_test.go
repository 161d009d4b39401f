package tfo

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestDialerDialTCP(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, answer)
	c, err := (&Dialer{}).DialTCP(context.Background(), "tcp", netip.AddrPort{}, netip.MustParseAddrPort(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkAnswer(t, c, "x")
	checkFastOpened(t, c)
	c2, err := DialTCP("tcp", nil, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s.addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	checkAnswer(t, c2, "y")
}

// TestMultipathDialsLikeNet checks that a Dialer with MultipathTCP connects at Dial.
func TestListenErrors(t *testing.T) {
	verifyNone(t)
	for _, tt := range []struct{ network, address string }{
		{"tcp", "127.0.0.1:99999"},
		{"tcp", "no-such-host.invalid:0"},
		{"tcp9", ":0"},
	} {
		ln, err := Listen(tt.network, tt.address)
		_, nerr := net.Listen(tt.network, tt.address)
		if ln != nil || err == nil || nerr == nil || err.Error() != nerr.Error() {
			t.Errorf("Listen(%q, %q) = %v, %v; net.Listen's error: %v", tt.network, tt.address, ln, err, nerr)
		}
	}
	if ln, err := ListenTCP("udp", nil); ln != nil || !errors.As(err, new(net.UnknownNetworkError)) {
		t.Errorf("ListenTCP(udp) = %v, %v", ln, err)
	}
	ln, err := ListenTCP("tcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

func TestFastOpenedErrors(t *testing.T) {
	verifyNone(t)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := FastOpened(a); err == nil {
		t.Error("FastOpened on a net.Pipe conn: no error")
	}
	var nilConn *Conn
	if _, err := FastOpened(nilConn); err == nil {
		t.Error("FastOpened on a nil *Conn: no error")
	}
}
