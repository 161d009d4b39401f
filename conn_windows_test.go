package tfo

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// The tests of this file check the Windows connect: first the ConnectEx that sendFirst
// runs, on sockets of the tests' own (it runs under Wine as on Windows), then the conns
// that Dial makes, which need net.FileConn.

// underWine reports whether the tests run under Wine, whose ntdll exports
// wine_get_version.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// testSocket is an overlapped TCP socket, bound to the IPv4 wildcard address, whose
// Control fails once it is closed, as a *net.TCPConn's does.
type testSocket struct {
	mu     sync.RWMutex // held for reading by Control, for writing by Close
	h      windows.Handle
	closed bool
}

func newTestSocket(t testing.TB) *testSocket {
	t.Helper()
	h, err := socket(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.Bind(h, &windows.SockaddrInet4{}); err != nil {
		windows.Closesocket(h)
		t.Fatal(err)
	}
	s := &testSocket{h: h}
	t.Cleanup(func() { s.Close() })
	return s
}

func (s *testSocket) Control(f func(fd uintptr)) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return net.ErrClosed
	}
	f(uintptr(s.h))
	return nil
}

func (*testSocket) Read(func(fd uintptr) bool) error  { return errors.ErrUnsupported }
func (*testSocket) Write(func(fd uintptr) bool) error { return errors.ErrUnsupported }

func (s *testSocket) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	s.closed = true
	return windows.Closesocket(s.h)
}

// boundPort returns the port that the socket is bound to.
func (s *testSocket) boundPort(t testing.TB) int {
	t.Helper()
	var a net.Addr
	var err error
	s.Control(func(fd uintptr) { a, err = localAddr(windows.Handle(fd)) })
	if err != nil {
		t.Fatal(err)
	}
	return a.(*net.TCPAddr).Port
}

// receiver is a fast open server that records what each connection sent until its end.
type receiver struct {
	*server
	got chan []byte
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	got := make(chan []byte, 16)
	s := newServer(t, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		got <- b
	})
	return &receiver{s, got}
}

// receiveOnly checks that the next connection to end sent want, and that no other
// connection has sent anything meanwhile. It closes the server.
func (r *receiver) receiveOnly(t testing.TB, want string) {
	t.Helper()
	select {
	case b := <-r.got:
		r.close()
		if string(b) != want || len(r.got) > 0 {
			t.Errorf("the server received %d bytes, %.20q; want %d bytes, %.20q, once", len(b), b, len(want), want)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("no connection ended; want one that sent %q", want)
	}
}

func (r *receiver) tcpAddr() *net.TCPAddr {
	return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(r.addr))
}

// silentAddr returns an address that does not answer a SYN: where the system drops the
// SYNs that find a listener's queue full, as Linux under Wine does, a listener with a
// full queue; elsewhere, an address of TEST-NET-1 (RFC 5737), if the network drops what
// is sent there.
func silentAddr(t testing.TB) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	rc, _ := ln.(*net.TCPListener).SyscallConn()
	rc.Control(func(fd uintptr) { windows.Listen(windows.Handle(fd), 0) })
	fill, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fill.Close() })
	for _, a := range []string{ln.Addr().String(), "192.0.2.1:443"} {
		c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
		if c != nil {
			c.Close()
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(a))
		}
	}
	t.Skip("no address here leaves a SYN unanswered")
	return nil
}

// TestConnectExSendsFirstBytes checks that connectEx connects with the first bytes,
// which the server receives once, and learns the local address.
func TestConnectExSendsFirstBytes(t *testing.T) {
	verifyNone(t)
	for _, first := range []string{"hello", ""} {
		r := newReceiver(t)
		s := newTestSocket(t)
		port := s.boundPort(t)
		n, laddr, err := connectEx(context.Background(), s, r.tcpAddr(), []byte(first))
		if err != nil {
			t.Fatal(err)
		}
		if n != len(first) {
			t.Errorf("%d bytes sent of %q", n, first)
		}
		if want := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}).String(); laddr == nil || laddr.String() != want {
			t.Errorf("local address %v; want %v, the bound port on the loopback address", laddr, want)
		}
		// The socket knows its peer once SO_UPDATE_CONNECT_CONTEXT is set.
		var peer windows.Sockaddr
		s.Control(func(fd uintptr) { peer, err = windows.Getpeername(windows.Handle(fd)) })
		if p, ok := peer.(*windows.SockaddrInet4); err != nil || !ok || p.Port != r.tcpAddr().Port {
			t.Errorf("getpeername: %#v, %v", peer, err)
		}
		s.Close()
		r.receiveOnly(t, first)
	}
}

// TestConnectExPostsNoCompletion checks that the completion of connectEx's ConnectEx
// does not reach the completion port of its socket, where Go's poller would take it.
func TestConnectExPostsNoCompletion(t *testing.T) {
	verifyNone(t)
	r := newReceiver(t)
	s := newTestSocket(t)
	port, err := windows.CreateIoCompletionPort(s.h, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(port)
	if _, _, err := connectEx(context.Background(), s, r.tcpAddr(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	var (
		n   uint32
		key uintptr
		o   *windows.Overlapped
	)
	if err := windows.GetQueuedCompletionStatus(port, &n, &key, &o, 100); err != windows.WAIT_TIMEOUT {
		t.Errorf("GetQueuedCompletionStatus: %v, overlapped %p; want no completion", err, o)
	}
}

// TestConnectExRefused checks the error of a connect to a port where nothing listens:
// net's, and one after which the next address may be tried.
func TestConnectExRefused(t *testing.T) {
	verifyNone(t)
	addr := closedPort(t)
	_, _, err := connectEx(context.Background(), newTestSocket(t), net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr)), []byte("x"))
	var se *os.SyscallError
	if !errors.As(err, &se) || se.Syscall != "connectex" || !errors.Is(err, windows.WSAECONNREFUSED) {
		t.Fatalf("error %#v; want connectex's WSAECONNREFUSED", err)
	}
	if !unreachable(se.Err) || !retryable(err) {
		t.Error("a refused connect does not let the next address be tried")
	}
	_, nerr := net.Dial("tcp", addr)
	if nse := new(os.SyscallError); !errors.As(nerr, &nse) || nse.Syscall != se.Syscall || nse.Err != se.Err {
		t.Errorf("net.Dial: %v; connectEx: %v", nerr, err)
	}
}

// TestConnectExDeadline checks that the end of the context ends a connect that gets no
// answer: its deadline, set before the connect or passed already, in which case nothing
// is sent, or its cancellation while the connect waits.
func TestConnectExDeadline(t *testing.T) {
	verifyNone(t)
	silent := silentAddr(t)
	for _, tt := range []struct {
		name     string
		set      time.Duration // the deadline, from the start
		canceled bool          // canceled 50ms after the start
		want     error
	}{
		{"set before", 100 * time.Millisecond, false, context.DeadlineExceeded},
		{"canceled while waiting", 0, true, context.Canceled},
		{"passed", -time.Second, false, context.DeadlineExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			verifyNone(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			start := time.Now()
			if tt.set != 0 {
				ctx, cancel = context.WithDeadline(ctx, start.Add(tt.set))
				defer cancel()
			}
			if tt.canceled {
				timer := time.AfterFunc(50*time.Millisecond, cancel)
				defer timer.Stop()
			}
			s := newTestSocket(t)
			n, _, err := connectEx(ctx, s, silent, []byte("x"))
			if n != 0 || err != tt.want {
				t.Fatalf("connectEx = %d, %v; want %v", n, err, tt.want)
			}
			if e := time.Since(start); e > 900*time.Millisecond {
				t.Errorf("connectEx returned after %v", e)
			}
			if tt.set < 0 {
				// No SYN left: the socket can still connect.
				r := newReceiver(t)
				if _, _, err := connectEx(context.Background(), s, r.tcpAddr(), []byte("y")); err != nil {
					t.Fatalf("connect after a deadline in the past: %v", err)
				}
				s.Close()
				r.receiveOnly(t, "y")
			}
		})
	}
}

// TestConnectExClose checks that closing the socket ends a connect that gets no answer
// with net.ErrClosed, at once.
func TestConnectExClose(t *testing.T) {
	verifyNone(t)
	silent := silentAddr(t)
	s := newTestSocket(t)
	errc := make(chan error, 1)
	go func() {
		_, _, err := connectEx(context.Background(), s, silent, []byte("x"))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case err := <-errc:
		if err != net.ErrClosed {
			t.Errorf("after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the connect")
	}
}

// requireFileConn skips a test of the conns that Dial makes where net.FileConn cannot
// wrap a socket: under Wine, which lacks FileReplaceCompletionInformation. On Windows
// the test fails instead.
func requireFileConn(t testing.TB) {
	t.Helper()
	if fileConnWorks() {
		return
	}
	msg := "net.FileConn cannot wrap a socket here: the system does not take a socket away from a completion port (FileReplaceCompletionInformation)"
	if !underWine() {
		t.Fatal(msg)
	}
	t.Skip(msg + ", which Wine does not implement")
}

// forceConnectEx makes the dials of the test connect at the first write with ConnectEx
// even where the system refuses TCP_FASTOPEN.
func forceConnectEx(t testing.TB) {
	t.Helper()
	requireFileConn(t)
	resetRefusal(t)
	setDialFastOpen = func(fd uintptr) error {
		dialFastOpen(fd)
		return nil
	}
	t.Cleanup(func() { setDialFastOpen = dialFastOpen })
}

// TestFirstWrite checks that the first Write connects with its bytes, which the server
// receives once, and the addresses before and after the connect.
func TestFirstWrite(t *testing.T) {
	verifyNone(t)
	forceConnectEx(t)
	r := newReceiver(t)
	c := dialPendingContext(t, context.Background(), &Dialer{}, r.addr)
	la, ok := c.LocalAddr().(*net.TCPAddr)
	if !ok || !la.IP.IsUnspecified() || la.Port == 0 {
		t.Errorf("LocalAddr before the connect: %v; want the wildcard address and a port", c.LocalAddr())
	}
	if c.RemoteAddr() == nil || c.RemoteAddr().String() != r.addr {
		t.Errorf("RemoteAddr before the connect: %v; want %v", c.RemoteAddr(), r.addr)
	}
	if n, err := c.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if want := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: la.Port}).String(); c.LocalAddr().String() != want {
		t.Errorf("LocalAddr after the connect: %v; want %v", c.LocalAddr(), want)
	}
	if c.RemoteAddr().String() != r.addr {
		t.Errorf("RemoteAddr after the connect: %v", c.RemoteAddr())
	}
	if _, err := c.Write([]byte(" world")); err != nil {
		t.Fatal(err)
	}
	if ok, err := FastOpened(c); ok || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("FastOpened = %v, %v; want an error matching errors.ErrUnsupported", ok, err)
	}
	c.Close()
	r.receiveOnly(t, "hello world")
}

// TestLargeFirstWriteWindows checks that a first Write larger than ConnectEx sends
// arrives whole and in order.
func TestLargeFirstWriteWindows(t *testing.T) {
	verifyNone(t)
	forceConnectEx(t)
	r := newReceiver(t)
	c := dialPendingContext(t, context.Background(), &Dialer{}, r.addr)
	data := pattern(8 << 20)
	if n, err := c.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	c.Close()
	r.receiveOnly(t, string(data))
}

// TestFastOpenOptions checks that dialed and listening sockets carry TCP_FASTOPEN.
func TestFastOpenOptions(t *testing.T) {
	verifyNone(t)
	requireFileConn(t)
	resetRefusal(t)
	r := newReceiver(t)
	c := dialPendingContext(t, context.Background(), &Dialer{}, r.addr)
	for name, sc := range map[string]syscall.Conn{"dialed": c, "listening": r.ln.(*net.TCPListener)} {
		rc, err := sc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		rc.Control(func(fd uintptr) {
			v, err = windows.GetsockoptInt(windows.Handle(fd), windows.IPPROTO_TCP, windows.TCP_FASTOPEN)
		})
		if refusedForGood(err) && underWine() {
			t.Skip("Wine does not know TCP_FASTOPEN")
		}
		if err != nil || v != 1 {
			t.Errorf("%s socket: TCP_FASTOPEN = %d, %v", name, v, err)
		}
	}
}

// TestFirstWriteDeadline checks that Dialer.Timeout bounds a connect that gets no
// answer, and that a deadline set before the first Write ends the Write, which reports
// the bytes that the connect carries, and not the connect.
func TestFirstWriteDeadline(t *testing.T) {
	verifyNone(t)
	forceConnectEx(t)
	silent := silentAddr(t).String()
	for _, d := range []*Dialer{{}, {Dialer: net.Dialer{Timeout: 100 * time.Millisecond}}} {
		c := dialPendingContext(t, context.Background(), d, silent)
		if d.Timeout == 0 {
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		}
		start := time.Now()
		n, err := c.Write([]byte("x"))
		if d.Timeout == 0 {
			if n != 1 || err != nil || c.state.Load() != statePending {
				t.Errorf("Write = %d, %v, with the conn in state %d; want the byte taken, the connect going on", n, err, c.state.Load())
			}
		} else {
			checkDialError(t, err, context.DeadlineExceeded)
		}
		if e := time.Since(start); e > 900*time.Millisecond {
			t.Errorf("the Write returned after %v", e)
		}
	}
}

// TestCloseDuringFirstWrite checks that Close ends a first Write that is connecting.
func TestCloseDuringFirstWrite(t *testing.T) {
	verifyNone(t)
	forceConnectEx(t)
	c := dialPendingContext(t, context.Background(), &Dialer{}, silentAddr(t).String())
	closeEnds(t, c, 50*time.Millisecond, func() error {
		_, err := c.Write([]byte("x"))
		return err
	})
}

// TestRefusedAtFirstWriteWindows checks that a refused connect is net's dial error.
func TestRefusedAtFirstWriteWindows(t *testing.T) {
	verifyNone(t)
	forceConnectEx(t)
	addr := closedPort(t)
	c := dialPendingContext(t, context.Background(), &Dialer{}, addr)
	_, err := c.Write([]byte("x"))
	checkDialError(t, err, windows.WSAECONNREFUSED)
	if _, nerr := net.Dial("tcp", addr); nerr == nil || err.Error() != nerr.Error() {
		t.Errorf("error %q; net.Dial's: %q", err, nerr)
	}
}

// TestDialContextCanceled checks that the cancellation of a dial's context, while its
// name resolves or before it starts, ends the dial with net's error. Neither dial gets
// to make a socket, so the test runs where sockets cannot be wrapped as well.
func TestDialContextCanceled(t *testing.T) {
	verifyNone(t)
	probe := fileConnWorks
	fileConnWorks = func() bool { return true }
	t.Cleanup(func() { fileConnWorks = probe })

	resolving := make(chan struct{})
	var once sync.Once
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			once.Do(func() { close(resolving) })
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		c, err := (&Dialer{Dialer: net.Dialer{Resolver: r}}).DialContext(ctx, "tcp", "slow.tfo.test:80")
		if c != nil {
			c.Close()
		}
		errc <- err
	}()
	<-resolving
	cancel()
	select {
	case err := <-errc:
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" || !errors.Is(err, context.Canceled) {
			t.Errorf("DialContext canceled while resolving: %v; want a dial error matching context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("canceling the context did not end the dial")
	}

	addr := closedPort(t)
	c, err := (&Dialer{}).DialContext(ctx, "tcp", addr)
	var oe *net.OpError
	if c != nil || !errors.As(err, &oe) || oe.Op != "dial" || oe.Addr == nil || oe.Addr.String() != addr || !errors.Is(err, context.Canceled) {
		t.Errorf("DialContext with a canceled context = %v, %v; want a dial error for %s matching context.Canceled", c, err, addr)
	}
}

// TestDialWithoutFileConn checks that where sockets cannot be wrapped, a dial connects
// as net's does, and the conn works.
func TestDialWithoutFileConn(t *testing.T) {
	verifyNone(t)
	probe := fileConnWorks
	fileConnWorks = func() bool { return false }
	t.Cleanup(func() { fileConnWorks = probe })
	accepted := make(chan bool, 1)
	s := newServer(t, func(c *net.TCPConn) {
		accepted <- true
		answer(c)
	})
	c, err := Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the dial did not connect")
	}
	checkAnswer(t, c, "x")
}
