package tfo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"
	"golang.org/x/net/proxy"
)

var _ proxy.ContextDialer = (*Dialer)(nil)

// TestFastOpenOnWire checks that a repeat connection carries its first bytes in the
// SYN: FastOpened on both ends, and the namespace's TcpExt counters.
func TestFastOpenOnWire(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	opened := make(chan bool, 2)
	s := newServerOn(t, freshHost()+":0", func(c *net.TCPConn) {
		ok, err := FastOpened(c)
		if err != nil {
			t.Error(err)
		}
		opened <- ok
		answer(c)
	})
	for i, want := range []bool{false, true} {
		before := readTCPExt(t)
		c, err := Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, c, "hello")
		client, err := FastOpened(c)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if srv := <-opened; client != want || srv != want {
			t.Errorf("connection %d: FastOpened client %v, server %v; want %v", i, client, srv, want)
		}
		d := readTCPExt(t).since(before, "TCPFastOpenActive", "TCPFastOpenPassive", "TCPFastOpenCookieReqd")
		if want && (d["TCPFastOpenActive"] != 1 || d["TCPFastOpenPassive"] != 1) {
			t.Errorf("connection %d: TcpExt %v; want one active and one passive fast open", i, d)
		}
		if !want && (d["TCPFastOpenActive"] != 0 || d["TCPFastOpenPassive"] != 0) {
			t.Errorf("connection %d without a cookie: TcpExt %v", i, d)
		}
	}
}

// TestReadBeforeWrite checks that a Read issued before the first Write waits for that
// Write, so that its bytes still go out in the SYN, as net/http needs.
func TestReadBeforeWrite(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, answer)
	c := dialPending(t, &Dialer{}, s.addr)
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 64)
		n, err := c.Read(b)
		if err != nil {
			t.Error(err)
		}
		got <- string(b[:n])
	}()
	time.Sleep(20 * time.Millisecond) // let the Read start waiting
	before := readTCPExt(t)
	if _, err := c.Write([]byte("req")); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r != "re:req" {
		t.Fatalf("Read got %q", r)
	}
	if ok, err := FastOpened(c); !ok || err != nil {
		t.Errorf("FastOpened = %v, %v; want true", ok, err)
	}
	if d := readTCPExt(t).since(before, "TCPFastOpenActive"); d["TCPFastOpenActive"] != 1 {
		t.Errorf("TcpExt %v", d)
	}
}

// TestServerSpeaksFirst checks that a Read with no Write connects after ReadWait, so
// that a server banner reaches the reader within a second.
func TestServerSpeaksFirst(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, func(c *net.TCPConn) {
		c.Write([]byte("220 banner\r\n"))
		io.Copy(io.Discard, c)
	})
	c := dialPending(t, &Dialer{}, s.addr)
	start := time.Now()
	c.SetReadDeadline(start.Add(time.Second))
	b := make([]byte, 64)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if string(b[:n]) != "220 banner\r\n" {
		t.Fatalf("Read %q", b[:n])
	}
	if e := time.Since(start); e < DefaultReadWait {
		t.Errorf("banner after %v: the Read did not wait for a Write", e)
	}
	// The conn goes on as usual.
	if _, err := c.Write([]byte("QUIT\r\n")); err != nil {
		t.Fatal(err)
	}
}

func TestReadWaitSetting(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, func(c *net.TCPConn) { c.Write([]byte("hi")) })
	c := dialPending(t, &Dialer{ReadWait: -1}, s.addr)
	start := time.Now()
	b := make([]byte, 8)
	if _, err := c.Read(b); err != nil {
		t.Fatal(err)
	}
	if e := time.Since(start); e >= DefaultReadWait {
		t.Errorf("ReadWait -1: banner after %v", e)
	}
}

// TestRefusedAtFirstWrite checks that a refusal that shows only at the first Write (the
// cookie is cached, so the dial sends nothing) is net's dial error.
func TestRefusedAtFirstWrite(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	addr := closedPort(t)
	c := dialPending(t, &Dialer{}, addr)
	n, err := c.Write([]byte("data"))
	if n != 0 {
		t.Errorf("Write = %d with error %v", n, err)
	}
	checkDialError(t, err, errConnRefused)
	if _, nerr := net.Dial("tcp", addr); nerr == nil || err.Error() != nerr.Error() {
		t.Errorf("error %q; net.Dial's: %q", err, nerr)
	}
	if _, err2 := c.Read(make([]byte, 1)); !errors.Is(err2, errConnRefused) {
		t.Errorf("Read after the failed connect: %v", err2)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestRefusedAtFirstRead(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	c := dialPending(t, &Dialer{ReadWait: time.Millisecond}, closedPort(t))
	_, err := c.Read(make([]byte, 1))
	checkDialError(t, err, errConnRefused)
}

// TestRefusedAtDial checks that without a cookie the refusal shows at Dial, as with net.
func TestRefusedAtDial(t *testing.T) {
	verifyNone(t)
	addr := closedPort(t)
	for _, d := range []*Dialer{{}, {DisableTFO: true}} {
		// 127.0.0.9 has never answered, so no cookie is cached for it.
		_, port, _ := net.SplitHostPort(addr)
		c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.9", port))
		if c != nil {
			t.Fatalf("Dial returned a conn with error %v", err)
		}
		checkDialError(t, err, errConnRefused)
	}
}

// closedPort returns an address on 127.0.0.1 where nothing listens.
func closedPort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestDialErrors(t *testing.T) {
	verifyNone(t)
	c, err := Dial("tcp", "no-such-host.invalid:80")
	if c != nil || err == nil {
		t.Fatalf("Dial to an unknown host = %v, %v", c, err)
	}
	var dnsErr *net.DNSError
	var oe *net.OpError
	if !errors.As(err, &oe) || !errors.As(err, &dnsErr) {
		t.Errorf("unknown host: %v (%T), want a *net.OpError holding a *net.DNSError", err, err)
	}
	for _, tt := range []struct{ network, address string }{
		{"tcp", "127.0.0.1"},
		{"tcp", "127.0.0.1:99999"},
		{"tcp", "[::1:80"},
		{"tcp7", "127.0.0.1:80"},
	} {
		c, err := Dial(tt.network, tt.address)
		_, nerr := net.Dial(tt.network, tt.address)
		if c != nil || err == nil || nerr == nil || err.Error() != nerr.Error() {
			t.Errorf("Dial(%q, %q) = %v, %v; net.Dial's error: %v", tt.network, tt.address, c, err, nerr)
		}
	}
	if _, err := DialTCP("udp", nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}); !errors.As(err, new(net.UnknownNetworkError)) {
		t.Errorf("DialTCP on udp: %v", err)
	}
	if c, err := DialTCP("tcp", nil, nil); c != nil || err == nil {
		t.Errorf("DialTCP with no address = %v, %v", c, err)
	}
	if _, err := DialTimeout("tcp", "127.0.0.1:1", -time.Second); err == nil {
		t.Error("DialTimeout with a negative timeout succeeded")
	}
	var nilConn *Conn
	if _, err := nilConn.Write([]byte("x")); err != syscall.EINVAL {
		t.Errorf("Write on a nil *Conn: %v", err)
	}
}

func TestOtherNetworksPassThrough(t *testing.T) {
	verifyNone(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*net.UDPConn); !ok {
		t.Errorf("Dial udp returned %T", c)
	}
	dir := t.TempDir()
	ln, err := Listen("unix", dir+"/sock")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, ok := ln.(*net.UnixListener); !ok {
		t.Errorf("Listen unix returned %T", ln)
	}
}

// TestDisableTFO checks that DisableTFO connects at Dial, without fast open.
func TestDisableTFO(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	accepted := make(chan bool, 1)
	s := newServer(t, func(c *net.TCPConn) {
		accepted <- true
		answer(c)
	})
	before := readTCPExt(t)
	nc, err := (&Dialer{DisableTFO: true}).Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	select {
	case <-accepted: // connected before any Write, as net does
	case <-time.After(5 * time.Second):
		t.Fatal("DisableTFO: the server accepted nothing before the first Write")
	}
	exchange(t, nc, "x")
	if ok, _ := FastOpened(nc); ok {
		t.Error("DisableTFO: fast-opened")
	}
	if d := readTCPExt(t).since(before, "TCPFastOpenActive", "TCPFastOpenCookieReqd"); d["TCPFastOpenActive"] != 0 || d["TCPFastOpenCookieReqd"] != 0 {
		t.Errorf("DisableTFO: TcpExt %v", d)
	}
}

// TestClientFastOpenOff checks the fallback when the client side of the sysctl is off:
// dials work without fast open, and each asks the system again, so that the setting
// takes effect at the next dial.
func TestClientFastOpenOff(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, answer)
	setSysctl(t, "net/ipv4/tcp_fastopen", "2")
	resetRefusal(t)
	for i := 0; i < 3; i++ {
		c, err := Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, c, "x")
		if ok, _ := FastOpened(c); ok {
			t.Error("fast-opened with the client side off")
		}
		c.Close()
	}
	if n := clientRefusal.count.Load(); n != 3 {
		t.Errorf("refused %d times; want at each of the 3 dials", n)
	}
}

// TestClientFastOpenOffAfterDial checks a conn dialed while fast open was on, whose
// first Write finds it switched off: it connects plainly.
func TestClientFastOpenOffAfterDial(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	resetRefusal(t)
	s := newServer(t, answer)
	c := dialPending(t, &Dialer{}, s.addr)
	setSysctl(t, "net/ipv4/tcp_fastopen", "2")
	checkAnswer(t, c, "late")
	if n := clientRefusal.count.Load(); n != 1 {
		t.Errorf("refusals %d; want 1", n)
	}
}

// TestKernelWithoutOption checks the fallback for a kernel that lacks the option: the
// dial works, and later dials do not try the option again.
func TestKernelWithoutOption(t *testing.T) {
	verifyNone(t)
	resetRefusal(t)
	var calls int
	setDialFastOpen = func(uintptr) error {
		calls++
		return os.NewSyscallError("setsockopt", errNoProtoOpt)
	}
	t.Cleanup(func() { setDialFastOpen = dialFastOpen })
	s := newServer(t, answer)
	for i := 0; i < 3; i++ {
		c, err := Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, c, "x")
		c.Close()
	}
	if calls != 1 {
		t.Errorf("the option was tried %d times; want once", calls)
	}
	if clientRefusal.allowed() {
		t.Error("ENOPROTOOPT: fast open still allowed")
	}
}

func resetRefusal(t testing.TB) {
	reset := func() {
		clientRefusal.forGood.Store(false)
		clientRefusal.count.Store(0)
	}
	reset()
	t.Cleanup(reset)
}

// TestListenerOptionRefused checks that a listener on which the option is refused works
// as a plain listener.
func TestListenerOptionRefused(t *testing.T) {
	verifyNone(t)
	setListenFastOpen = func(syscall.RawConn, int) error {
		return os.NewSyscallError("setsockopt", errNoProtoOpt)
	}
	t.Cleanup(func() { setListenFastOpen = listenFastOpen })
	before := listenRefusals.Load()
	s := newServer(t, answer)
	if listenRefusals.Load() != before+1 {
		t.Fatal("the refusal was not seen")
	}
	c, err := Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkAnswer(t, c, "x")
}

// TestLargeFirstWrite checks that a first Write larger than a SYN carries arrives whole
// and in order, the SYN carrying its start.
func TestLargeFirstWrite(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	data := pattern(4 << 20)
	got := make(chan []byte, 1)
	opened := make(chan bool, 1)
	s := newServer(t, func(c *net.TCPConn) {
		ok, _ := FastOpened(c)
		opened <- ok
		b, _ := io.ReadAll(c)
		got <- b
	})
	c := dialPending(t, &Dialer{}, s.addr)
	n, err := c.Write(data)
	if n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(data))
	}
	c.CloseWrite()
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("server got %d bytes, not the %d written", len(b), len(data))
	}
	if ok, _ := FastOpened(c); !ok || !<-opened {
		t.Error("not fast-opened")
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// TestConcurrentFirstWrites checks that Writes racing on a conn that has not connected
// are serialized, each one's bytes contiguous.
func TestConcurrentFirstWrites(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	const writers, size = 8, 64 << 10
	got := make(chan []byte, 1)
	s := newServer(t, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		got <- b
	})
	c := dialPending(t, &Dialer{}, s.addr)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Write(bytes.Repeat([]byte{byte('a' + i)}, size)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	c.CloseWrite()
	b := <-got
	if len(b) != writers*size {
		t.Fatalf("server got %d bytes; want %d", len(b), writers*size)
	}
	seen := map[byte]bool{}
	for i := 0; i < len(b); i += size {
		chunk := b[i : i+size]
		if !bytes.Equal(chunk, bytes.Repeat(chunk[:1], size)) || seen[chunk[0]] {
			t.Fatalf("the Writes' bytes interleave at offset %d", i)
		}
		seen[chunk[0]] = true
	}
}

// TestReadFromFile checks that io.Copy from a file into a conn that has not connected
// sends the file's start in the SYN and the rest through the *net.TCPConn fast path
// (sendfile), not through reads into a buffer.
func TestReadFromFile(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	data := pattern(8 << 20)
	f, err := os.CreateTemp(t.TempDir(), "src")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Seek(0, io.SeekStart)
	// The server splices into a file, so that it makes no read system calls itself.
	dst, err := os.CreateTemp(t.TempDir(), "dst")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	got := make(chan []byte, 1)
	s := newServer(t, func(c *net.TCPConn) {
		io.Copy(dst, c)
		b, _ := os.ReadFile(dst.Name())
		got <- b
	})
	c := dialPending(t, &Dialer{}, s.addr)
	reads := readSyscalls(t)
	n, err := io.Copy(c, f)
	reads = readSyscalls(t) - reads
	if n != int64(len(data)) || err != nil {
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	checkFastOpened(t, c)
	c.CloseWrite()
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("server got %d bytes, not the file's %d", len(b), len(data))
	}
	// Copying 8 MiB through a 32 KiB buffer takes 256 reads; sendfile takes a few calls.
	if reads > 128 {
		t.Errorf("io.Copy made %d read system calls: the sendfile fast path was not used", reads)
	}
}

// readSyscalls returns syscr of /proc/self/io: the read system calls made so far,
// sendfile counting as one.
func readSyscalls(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skip("no /proc/self/io:", err)
	}
	var v int64
	for _, line := range bytes.Split(b, []byte("\n")) {
		if _, err := fmt.Sscanf(string(line), "syscr: %d", &v); err == nil {
			return v
		}
	}
	t.Fatal("no syscr in /proc/self/io")
	return 0
}

// TestCloseBeforeConnect checks that closing a conn that never connected frees its
// socket, and that later calls report net.ErrClosed.
func TestCloseBeforeConnect(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, answer)
	fds := openFDs(t)
	c := dialPending(t, &Dialer{}, s.addr)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openFDs(t); n > fds {
		t.Errorf("%d open descriptors after Close; %d before Dial", n, fds)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := c.Write(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("empty Write after Close: %v", err)
	}
	var oe *net.OpError
	if _, err := c.Read(nil); !errors.As(err, &oe) || oe.Op != "read" || oe.Net != "tcp" || oe.Addr == nil || oe.Source == nil {
		t.Errorf("empty Read after Close: %#v", err)
	}
	if err := c.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetDeadline after Close: %v", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if c.LocalAddr() == nil || c.RemoteAddr() == nil {
		t.Error("nil address after Close")
	}
}

// TestCloseWakesWaitingRead checks that Close ends a Read waiting for the first Write.
func TestCloseWakesWaitingRead(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, answer)
	c := dialPending(t, &Dialer{ReadWait: time.Hour}, s.addr)
	closeEnds(t, c, 10*time.Millisecond, func() error {
		_, err := c.Read(make([]byte, 1))
		return err
	})
}

// TestDeadlinesBeforeConnect checks that deadlines set before the connect apply: a
// Read waiting for the first Write, and the connect itself.
func TestDeadlinesBeforeConnect(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, answer)

	c := dialPending(t, &Dialer{ReadWait: time.Hour}, s.addr)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read past its deadline: %v", err)
	}
	// A deadline moved while the Read waits is seen.
	errc := make(chan error, 1)
	c.SetReadDeadline(time.Time{})
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	c.SetReadDeadline(time.Now())
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read after moving its deadline: %v", err)
	}
	// The conn is still usable and still pending.
	if c.connected() {
		t.Error("a Read past its deadline connected")
	}
	c.SetReadDeadline(time.Time{})
	checkAnswer(t, c, "x")

	// A Write past its deadline fails as net's does, and sends nothing: the conn is
	// still pending, and works once the deadline is lifted.
	c2 := dialPending(t, &Dialer{}, s.addr)
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	past := time.Now().Add(-time.Second)
	c2.SetWriteDeadline(past)
	nc.SetWriteDeadline(past)
	n, err := c2.Write([]byte("x"))
	nn, nerr := nc.Write([]byte("x"))
	if n != nn {
		t.Errorf("Write past its deadline = %d; net's: %d", n, nn)
	}
	checkLikeNet(t, "Write past its deadline", err, nerr)
	if c2.connected() || !deferred(c2.tc) {
		t.Error("a Write past its deadline started the connect")
	}
	c2.SetWriteDeadline(time.Time{})
	checkAnswer(t, c2, "y")
}

// freshHost returns a loopback address that no test has used, for which no cookie is
// cached.
func freshHost() string {
	hosts++
	return fmt.Sprintf("127.0.2.%d", hosts)
}

var hosts int

// TestCloseDuringConnect checks that Close ends a first Write whose SYN gets no answer.
func TestCloseDuringConnect(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	addr := blackhole(t)
	fds := openFDs(t)
	c := dialPending(t, &Dialer{}, addr)
	closeEnds(t, c, 50*time.Millisecond, func() error {
		_, err := c.Write([]byte("x"))
		return err
	})
	if n := openFDs(t); n > fds {
		t.Errorf("%d open descriptors; %d before", n, fds)
	}
}

// TestTimeoutBoundsDeferredConnect checks that Dialer.Timeout and a write deadline
// bound a connect deferred to the first Write.
func TestTimeoutBoundsDeferredConnect(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	addr := blackhole(t)
	c := dialPending(t, &Dialer{Dialer: net.Dialer{Timeout: 100 * time.Millisecond}}, addr)
	start := time.Now()
	_, err := c.Write([]byte("x"))
	checkDialError(t, err, context.DeadlineExceeded)
	if e := time.Since(start); e > 900*time.Millisecond {
		t.Errorf("Timeout 100ms: the Write returned after %v, past the SYN retransmission", e)
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) || err.Error() != "dial tcp "+addr+": i/o timeout" {
		t.Errorf("error %q: want net's dial timeout", err)
	}

	// Once connected, the conn keeps no trace of the dialer's timeout.
	s := newServer(t, func(c *net.TCPConn) { io.Copy(c, c) })
	c = dialPending(t, &Dialer{Dialer: net.Dialer{Timeout: 50 * time.Millisecond}}, s.addr)
	exchange(t, c, "x")
	time.Sleep(100 * time.Millisecond)
	if got := exchange(t, c, "y"); got != "y" {
		t.Errorf("after the dialer's timeout: got %q", got)
	}

	// A write deadline ends the Write, not the connect, which carries the byte.
	c = dialPending(t, &Dialer{}, addr)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	start = time.Now()
	n, err := c.Write([]byte("x"))
	if n != 1 || err != nil {
		t.Errorf("Write with a deadline, to a silent server = %d, %v; want the byte taken", n, err)
	}
	if e := time.Since(start); e > 900*time.Millisecond {
		t.Errorf("write deadline 100ms: the Write returned after %v", e)
	}
	if c.state.Load() != statePending {
		t.Error("the connect ended with the Write's deadline")
	}
}

// TestContextEndsAfterDial checks that the DialContext context bounds only the dial.
func TestContextEndsAfterDial(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, answer)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	nc, err := (&Dialer{}).DialContext(ctx, "tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cancel()
	time.Sleep(5 * time.Millisecond)
	checkAnswer(t, nc, "x")
	checkFastOpened(t, nc)
}

// TestAddrs checks that LocalAddr and RemoteAddr are set before the connect.
func TestAddrs(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, answer)
	c := dialPending(t, &Dialer{}, s.addr)
	la, ra := c.LocalAddr(), c.RemoteAddr()
	if la == nil || ra == nil || ra.String() != s.addr {
		t.Fatalf("before the connect: LocalAddr %v, RemoteAddr %v; dialed %v", la, ra, s.addr)
	}
	exchange(t, c, "x")
	if c.LocalAddr().String() != la.String() || c.RemoteAddr().String() != s.addr {
		t.Errorf("after the connect: LocalAddr %v, RemoteAddr %v", c.LocalAddr(), c.RemoteAddr())
	}
}

// TestOptionsBeforeConnect checks that *net.TCPConn's setters work on a conn that has
// not connected.
func TestOptionsBeforeConnect(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	s := newServer(t, answer)
	c := dialPending(t, &Dialer{}, s.addr)
	for name, err := range map[string]error{
		"SetNoDelay":         c.SetNoDelay(false),
		"SetKeepAlive":       c.SetKeepAlive(true),
		"SetKeepAlivePeriod": c.SetKeepAlivePeriod(time.Minute),
		"SetKeepAliveConfig": c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Minute}),
		"SetLinger":          c.SetLinger(0),
		"SetReadBuffer":      c.SetReadBuffer(1 << 16),
		"SetWriteBuffer":     c.SetWriteBuffer(1 << 16),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if mp, err := c.MultipathTCP(); mp || err != nil {
		t.Errorf("MultipathTCP = %v, %v", mp, err)
	}
	checkAnswer(t, c, "x")
	checkFastOpened(t, c)
}

// TestCloseWriteBeforeConnect checks that CloseWrite on a conn that has not connected
// connects, so that the server sees the end of the stream.
func TestCloseWriteBeforeConnect(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	got := make(chan int, 1)
	s := newServer(t, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		got <- len(b)
		c.Write([]byte("bye"))
	})
	c := dialPending(t, &Dialer{}, s.addr)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != 0 {
		t.Errorf("server read %d bytes", n)
	}
	if b := readAll(t, c, 5*time.Second); string(b) != "bye" {
		t.Errorf("got %q", b)
	}
}

// TestNetConn runs x/net/nettest's conformance suite on tfo conns.
func TestNetConn(t *testing.T) {
	verifyNone(t)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		ln, err := Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, nil, err
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				accepted <- nil
				return
			}
			c.Read(make([]byte, 1))
			accepted <- c
		}()
		c1, err = Dial("tcp", ln.Addr().String())
		if err == nil {
			_, err = c1.Write([]byte{0}) // connects
		}
		c2 = <-accepted
		if err != nil || c2 == nil {
			ln.Close()
			if c1 != nil {
				c1.Close()
			}
			if c2 != nil {
				c2.Close()
			}
			return nil, nil, nil, fmt.Errorf("making the pipe: %v", err)
		}
		stop = func() {
			c1.Close()
			c2.Close()
			ln.Close()
		}
		return c1, c2, stop, nil
	})
}

// TestFastOpenIPv6 checks fast open over IPv6, with the tcp6 network.
func TestFastOpenIPv6(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	ln, err := Listen("tcp6", "[::1]:0")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no IPv6 loopback:", err)
		}
		t.Skip("no IPv6 loopback:", err)
	}
	ln.Close()
	s := newServerOn(t, "[::1]:0", answer)
	for i := range 2 {
		c, err := Dial("tcp6", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		exchange(t, c, "x")
		ok, err := FastOpened(c)
		c.Close()
		if i == 1 && (!ok || err != nil) {
			t.Errorf("second connection: FastOpened = %v, %v", ok, err)
		}
	}
}
