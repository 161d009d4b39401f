package tfo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkLikeNet checks that err, returned by a tfo call, has the shape of want, returned
// by net for the same call: the same type; for a *net.OpError the same Op and Net, an
// address where net has one, and an Err of the same shape; otherwise the same text; the
// same answer to Timeout; and the same matches for the sentinel errors that callers
// test with errors.Is.
func checkLikeNet(t testing.TB, call string, err, want error) {
	t.Helper()
	if (err == nil) != (want == nil) {
		t.Errorf("%s: error %v; net's: %v", call, err, want)
		return
	}
	if err == nil {
		return
	}
	if msg := unlikeNet(err, want); msg != "" {
		t.Errorf("%s: error %v; net's: %v: %s", call, err, want, msg)
	}
	var ne, wne net.Error
	if errors.As(err, &ne) != errors.As(want, &wne) || (ne != nil && ne.Timeout() != wne.Timeout()) {
		t.Errorf("%s: error %v is a timeout unlike net's %v", call, err, want)
	}
	for _, target := range []error{net.ErrClosed, os.ErrDeadlineExceeded, context.Canceled, context.DeadlineExceeded, syscall.EINVAL, io.EOF} {
		if errors.Is(err, target) != errors.Is(want, target) {
			t.Errorf("%s: errors.Is(%v, %v) = %v; for net's %v: %v", call, err, target, errors.Is(err, target), want, !errors.Is(err, target))
		}
	}
}

// unlikeNet says how err differs in shape from want, or returns "". The addresses of two
// *net.OpErrors need not be the same, since two conns have different ports.
func unlikeNet(err, want error) string {
	if fmt.Sprintf("%T", err) != fmt.Sprintf("%T", want) {
		return fmt.Sprintf("type %T; net's %T", err, want)
	}
	oe, ok := err.(*net.OpError)
	if !ok {
		if err.Error() != want.Error() {
			return "different text"
		}
		return ""
	}
	woe := want.(*net.OpError)
	switch {
	case oe.Op != woe.Op:
		return fmt.Sprintf("Op %q; net's %q", oe.Op, woe.Op)
	case oe.Net != woe.Net:
		return fmt.Sprintf("Net %q; net's %q", oe.Net, woe.Net)
	case (oe.Source == nil) != (woe.Source == nil):
		return fmt.Sprintf("Source %v; net's %v", oe.Source, woe.Source)
	case (oe.Addr == nil) != (woe.Addr == nil):
		return fmt.Sprintf("Addr %v; net's %v", oe.Addr, woe.Addr)
	case (oe.Err == nil) != (woe.Err == nil):
		return fmt.Sprintf("Err %v; net's %v", oe.Err, woe.Err)
	case oe.Err == nil:
		return ""
	}
	if msg := unlikeNet(oe.Err, woe.Err); msg != "" {
		return "Err: " + msg
	}
	return ""
}

// badAddresses are network and address pairs that every dial and listen function
// refuses before it sends anything.
// (An empty port is port 0, which the kernel refuses at the connect, so a conn whose
// connect is deferred learns of it at its first Write.)
var badAddresses = []struct{ network, address string }{
	{"tcp", ""},
	{"tcp", "127.0.0.1"},
	{"tcp", "127.0.0.1:99999"},
	{"tcp", "127.0.0.1:-1"},
	{"tcp", "127.0.0.1:no-such-service"},
	{"tcp", "[::1:80"},
	{"tcp", "[::1]"},
	{"tcp", "::1:80"},
	{"tcp", "1.2.3.4:80:90"},
	{"tcp", "[127.0.0.1%lo]:80"},
	{"tcp4", "[::1]:80"},
	{"tcp6", "127.0.0.1:80"},
	{"tcp7", "127.0.0.1:80"},
	{"TCP", "127.0.0.1:80"},
	{"", "127.0.0.1:80"},
}

// TestBadDialArguments checks that every dial function refuses a malformed network or
// address with net's error.
func TestBadDialArguments(t *testing.T) {
	verifyNone(t)
	ctx := context.Background()
	for _, tt := range badAddresses {
		for _, call := range []struct {
			name    string
			tfo, nt func() (net.Conn, error)
		}{
			{"Dial",
				func() (net.Conn, error) { return Dial(tt.network, tt.address) },
				func() (net.Conn, error) { return net.Dial(tt.network, tt.address) }},
			{"DialTimeout",
				func() (net.Conn, error) { return DialTimeout(tt.network, tt.address, time.Second) },
				func() (net.Conn, error) { return net.DialTimeout(tt.network, tt.address, time.Second) }},
			{"Dialer.DialContext",
				func() (net.Conn, error) { return (&Dialer{}).DialContext(ctx, tt.network, tt.address) },
				func() (net.Conn, error) { return (&net.Dialer{}).DialContext(ctx, tt.network, tt.address) }},
		} {
			c, err := call.tfo()
			nc, nerr := call.nt()
			name := fmt.Sprintf("%s(%q, %q)", call.name, tt.network, tt.address)
			if c != nil || nc != nil {
				closeAll(c, nc)
				t.Errorf("%s: a conn; the test needs an address every system refuses", name)
				continue
			}
			checkLikeNet(t, name, err, nerr)
		}
	}
}

// closeAll closes the conns that are not nil.
func closeAll(conns ...net.Conn) {
	for _, c := range conns {
		if c != nil && !isNil(c) {
			c.Close()
		}
	}
}

// isNil reports whether c holds a nil pointer, as a failed DialTCP returns.
func isNil(c net.Conn) bool {
	switch c := c.(type) {
	case *Conn:
		return c == nil
	case *net.TCPConn:
		return c == nil
	}
	return false
}

// TestBadDialTCPArguments checks DialTCP and Dialer.DialTCP against net's with missing
// addresses, networks that are not TCP, and addresses of the wrong family.
func TestBadDialTCPArguments(t *testing.T) {
	verifyNone(t)
	v4 := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	v6 := &net.TCPAddr{IP: net.IPv6loopback, Port: 1}
	for _, tt := range []struct {
		network      string
		laddr, raddr *net.TCPAddr
	}{
		{"tcp", nil, nil},
		{"tcp", v4, nil},
		{"udp", nil, v4},
		{"ip", v4, v4},
		{"tcp9", nil, nil},
		{"tcp4", nil, v6},
		{"tcp6", nil, v4},
		{"tcp", v6, v4},
		{"tcp4", v6, v4},
	} {
		name := fmt.Sprintf("DialTCP(%q, %v, %v)", tt.network, tt.laddr, tt.raddr)
		c, err := DialTCP(tt.network, tt.laddr, tt.raddr)
		nc, nerr := net.DialTCP(tt.network, tt.laddr, tt.raddr)
		if c != nil || nc != nil {
			closeAll(c, nc)
			t.Errorf("%s: a conn; the test needs arguments every system refuses", name)
			continue
		}
		checkLikeNet(t, name, err, nerr)
	}

	zero := netip.AddrPort{}
	ap4, ap6 := netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("[::1]:1")
	for _, tt := range []struct {
		network      string
		laddr, raddr netip.AddrPort
	}{
		{"udp", zero, ap4},
		{"tcp9", zero, zero},
		{"tcp4", zero, ap6},
		{"tcp6", zero, ap4},
		{"tcp4", ap6, ap4},
	} {
		name := fmt.Sprintf("Dialer.DialTCP(%q, %v, %v)", tt.network, tt.laddr, tt.raddr)
		ctx := context.Background()
		c, err := (&Dialer{}).DialTCP(ctx, tt.network, tt.laddr, tt.raddr)
		// net.Dialer.DialTCP (Go 1.26) is net.DialTCP of the addresses as *net.TCPAddr.
		nc, nerr := net.DialTCP(tt.network, net.TCPAddrFromAddrPort(tt.laddr), net.TCPAddrFromAddrPort(tt.raddr))
		if c != nil || nc != nil {
			closeAll(c, nc)
			t.Errorf("%s: a conn; the test needs arguments every system refuses", name)
			continue
		}
		checkLikeNet(t, name, err, nerr)
	}
}

// TestBadListenArguments checks the listen functions against net's.
func TestBadListenArguments(t *testing.T) {
	verifyNone(t)
	ctx := context.Background()
	for _, tt := range badAddresses {
		if tt.address == "" {
			continue // valid to listen on: any address, any port
		}
		for _, call := range []struct {
			name    string
			tfo, nt func() (net.Listener, error)
		}{
			{"Listen",
				func() (net.Listener, error) { return Listen(tt.network, tt.address) },
				func() (net.Listener, error) { return net.Listen(tt.network, tt.address) }},
			{"ListenConfig.Listen",
				func() (net.Listener, error) { return (&ListenConfig{}).Listen(ctx, tt.network, tt.address) },
				func() (net.Listener, error) { return (&net.ListenConfig{}).Listen(ctx, tt.network, tt.address) }},
		} {
			ln, err := call.tfo()
			nln, nerr := call.nt()
			name := fmt.Sprintf("%s(%q, %q)", call.name, tt.network, tt.address)
			if ln != nil || nln != nil {
				for _, l := range []net.Listener{ln, nln} {
					if l != nil {
						l.Close()
					}
				}
				t.Errorf("%s: a listener; the test needs an address every system refuses", name)
				continue
			}
			checkLikeNet(t, name, err, nerr)
		}
	}
	v6 := &net.TCPAddr{IP: net.IPv6loopback}
	for _, tt := range []struct {
		network string
		laddr   *net.TCPAddr
	}{
		{"udp", nil},
		{"tcp9", nil},
		{"tcp4", v6},
		{"tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 99999}},
	} {
		name := fmt.Sprintf("ListenTCP(%q, %v)", tt.network, tt.laddr)
		ln, err := ListenTCP(tt.network, tt.laddr)
		nln, nerr := net.ListenTCP(tt.network, tt.laddr)
		if ln != nil || nln != nil {
			t.Errorf("%s: a listener; the test needs arguments every system refuses", name)
			if ln != nil {
				ln.Close()
			}
			if nln != nil {
				nln.Close()
			}
			continue
		}
		checkLikeNet(t, name, err, nerr)
	}
}

// TestNilContext checks that a nil context panics as it does with net.Dialer.
func TestNilContext(t *testing.T) {
	verifyNone(t)
	recovered := func(f func()) (v any) {
		defer func() { v = recover() }()
		f()
		return nil
	}
	var nilCtx context.Context // the nil context is the point
	got := recovered(func() { (&Dialer{}).DialContext(nilCtx, "tcp", "127.0.0.1:1") })
	want := recovered(func() { (&net.Dialer{}).DialContext(nilCtx, "tcp", "127.0.0.1:1") })
	if want == nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DialContext(nil): panic %v; net's: %v", got, want)
	}
}

// TestNilAndZeroConn checks every method of a nil *Conn and of a zero Conn against a
// zero *net.TCPConn. (A nil *net.TCPConn panics in most methods; a nil *Conn answers
// as net's zero conn does.)
func TestNilAndZeroConn(t *testing.T) {
	verifyNone(t)
	for _, tt := range []struct {
		name string
		c    *Conn
	}{
		{"nil", nil},
		{"zero", &Conn{}},
	} {
		for _, m := range connMethods {
			name := tt.name + " Conn: " + m.name
			err := m.call(tt.c)
			panicked, want := callRecover(m.call, &net.TCPConn{})
			if panicked != nil {
				// Where net panics, Conn answers as net's other methods do.
				want = syscall.EINVAL
			}
			checkLikeNet(t, name, err, want)
		}
		if tt.c.LocalAddr() != nil || tt.c.RemoteAddr() != nil {
			t.Errorf("%s Conn: LocalAddr %v, RemoteAddr %v; want nil as net's", tt.name, tt.c.LocalAddr(), tt.c.RemoteAddr())
		}
		if _, err := FastOpened(tt.c); err == nil {
			t.Errorf("FastOpened on a %s Conn: no error", tt.name)
		}
	}
	if _, err := FastOpened(nil); err == nil {
		t.Error("FastOpened(nil): no error")
	}
}

// callRecover calls call on c, and returns what it panicked with, if it did, and
// otherwise the error it returned.
func callRecover(call func(tcpConn) error, c tcpConn) (panicked any, err error) {
	defer func() { panicked = recover() }()
	return nil, call(c)
}

// tcpConn is the method set that *Conn shares with *net.TCPConn.
type tcpConn interface {
	net.Conn
	io.ReaderFrom
	io.WriterTo
	CloseRead() error
	CloseWrite() error
	SetKeepAlive(bool) error
	SetKeepAlivePeriod(time.Duration) error
	SetKeepAliveConfig(net.KeepAliveConfig) error
	SetLinger(int) error
	SetNoDelay(bool) error
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
	SyscallConn() (syscall.RawConn, error)
	File() (*os.File, error)
	MultipathTCP() (bool, error)
}

var (
	_ tcpConn = (*Conn)(nil)
	_ tcpConn = (*net.TCPConn)(nil)
)

// connMethod calls a method of a tcpConn and returns its error.
type connMethod struct {
	name string
	call func(tcpConn) error
}

// connMethods calls each method of a tcpConn, in turn, with arguments that are valid,
// zero, or out of range: first those that leave the conn as it is (idleMethods), then
// those that close it. None blocks on a live conn.
var connMethods = append(idleMethods[:len(idleMethods):len(idleMethods)], closingMethods...)

var idleMethods = []connMethod{
	{"Read(nil)", func(c tcpConn) error { _, err := c.Read(nil); return err }},
	{"Write(nil)", func(c tcpConn) error { _, err := c.Write(nil); return err }},
	{"Write([]byte{})", func(c tcpConn) error { _, err := c.Write([]byte{}); return err }},
	{"ReadFrom(empty)", func(c tcpConn) error { _, err := c.ReadFrom(strings.NewReader("")); return err }},
	{"SetDeadline(zero)", func(c tcpConn) error { return c.SetDeadline(time.Time{}) }},
	{"SetReadDeadline(past)", func(c tcpConn) error { return c.SetReadDeadline(time.Unix(-1, 0)) }},
	{"SetWriteDeadline(zero)", func(c tcpConn) error { return c.SetWriteDeadline(time.Time{}) }},
	{"SetKeepAlive", func(c tcpConn) error { return c.SetKeepAlive(true) }},
	{"SetKeepAlivePeriod(-1s)", func(c tcpConn) error { return c.SetKeepAlivePeriod(-time.Second) }},
	{"SetKeepAliveConfig(negative)", func(c tcpConn) error {
		return c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1})
	}},
	{"SetLinger(-1)", func(c tcpConn) error { return c.SetLinger(-1) }},
	{"SetNoDelay", func(c tcpConn) error { return c.SetNoDelay(false) }},
	{"SetReadBuffer(-1)", func(c tcpConn) error { return c.SetReadBuffer(-1) }},
	{"SetWriteBuffer(0)", func(c tcpConn) error { return c.SetWriteBuffer(0) }},
	{"SyscallConn", func(c tcpConn) error { _, err := c.SyscallConn(); return err }},
	{"MultipathTCP", func(c tcpConn) error { _, err := c.MultipathTCP(); return err }},
	{"File", func(c tcpConn) error {
		f, err := c.File()
		if f != nil {
			f.Close()
		}
		return err
	}},
}

var closingMethods = []connMethod{
	{"CloseRead", func(c tcpConn) error { return c.CloseRead() }},
	{"CloseWrite", func(c tcpConn) error { return c.CloseWrite() }},
	{"Close", func(c tcpConn) error { return c.Close() }},
	{"second Close", func(c tcpConn) error { return c.Close() }},
	{"Read after Close", func(c tcpConn) error { _, err := c.Read(make([]byte, 1)); return err }},
	{"Write after Close", func(c tcpConn) error { _, err := c.Write([]byte("x")); return err }},
	{"WriteTo after Close", func(c tcpConn) error { _, err := c.WriteTo(io.Discard); return err }},
	{"SetDeadline after Close", func(c tcpConn) error { return c.SetDeadline(time.Now()) }},
}

// TestPendingConnArguments calls every method, in turn, on a conn whose connect is
// deferred and on a connected *net.TCPConn, and compares the errors. The calls that
// leave net's conn as it is, empty reads and writes among them, must leave the conn
// pending.
func TestPendingConnArguments(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, answer)
	c := dialPending(t, &Dialer{}, s.addr)
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, m := range idleMethods {
		checkLikeNet(t, m.name, m.call(c), m.call(nc.(*net.TCPConn)))
		if c.connected() {
			t.Fatalf("%s connected the conn", m.name)
		}
	}
	for _, m := range closingMethods {
		checkLikeNet(t, m.name, m.call(c), m.call(nc.(*net.TCPConn)))
	}
}
