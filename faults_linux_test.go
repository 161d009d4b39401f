package tfo

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Values of tcpi_fastopen_client_fail in TCP_INFO (enum tcp_fastopen_client_fail in
// include/uapi/linux/tcp.h, Linux 5.5): why a client's fast open did not happen.
const (
	failUnspec           = 0 // fast open was not tried, or nothing went wrong
	failDataNotAcked     = 2 // the SYN-ACK did not acknowledge the data in the SYN
	failSYNRetransmitted = 3 // the SYN was retransmitted, and its data not acknowledged
	tcpiFastOpenFailByte = 7 // the byte of struct tcp_info that holds it
)

// fastOpenClientFail returns tcpi_fastopen_client_fail of c's socket.
func fastOpenClientFail(t testing.TB, c syscall.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var (
		info *unix.TCPInfo
		serr error
	)
	rc.Control(func(fd uintptr) { info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if serr != nil {
		t.Fatal(serr)
	}
	// unix.TCPInfo has no field for the byte after tcpi_options (the window scales) nor
	// for the one after it: __u8 tcpi_delivery_rate_app_limited:1,
	// tcpi_fastopen_client_fail:2. The compiler lays bit-fields out from the low bit on
	// a little-endian machine and from the high bit on a big-endian one.
	b := (*[8]byte)(unsafe.Pointer(info))[tcpiFastOpenFailByte]
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return int(b>>1) & 3
	}
	return int(b>>5) & 3
}

// arrival is what a recording server read on one connection, until EOF.
type arrival struct {
	data       string
	fastOpened bool
}

// recordingServer serves on address, reads each connection until EOF, writes "done" and
// sends what it read on arrivals.
func recordingServer(t testing.TB, address string, arrivals chan<- arrival) *server {
	t.Helper()
	return newServerOn(t, address, record(t, arrivals))
}

// record returns the handler of a recording server.
func record(t testing.TB, arrivals chan<- arrival) func(*net.TCPConn) {
	return func(c *net.TCPConn) {
		b, err := io.ReadAll(c)
		if err != nil {
			t.Errorf("server: %v", err)
		}
		ok, _ := FastOpened(c)
		arrivals <- arrival{string(b), ok}
		c.Write([]byte("done"))
	}
}

// send dials address with dial, writes msg, closes its side, and waits for the server's
// "done". It returns the conn, for its TCP_INFO.
func send(t testing.TB, dial func(ctx context.Context, network, address string) (net.Conn, error), address, msg string) *Conn {
	t.Helper()
	nc, err := dial(context.Background(), "tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*Conn)
	if n, err := c.Write([]byte(msg)); n != len(msg) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, c, 5*time.Second); string(b) != "done" {
		t.Fatalf("server answered %q", b)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialZero dials with a zero Dialer.
func dialZero(ctx context.Context, network, address string) (net.Conn, error) {
	var d Dialer
	return d.DialContext(ctx, network, address)
}

// checkArrivals closes s and checks that the server read exactly want, one connection
// each, in order.
func checkArrivals(t testing.TB, s *server, arrivals <-chan arrival, want ...arrival) {
	t.Helper()
	s.close()
	var got []arrival
	for len(arrivals) > 0 {
		got = append(got, <-arrivals)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the server read %v; want %v (the data, and whether it came in the SYN)", got, want)
	}
}

// setListenerKey sets the fast open key of a listener: a primary key, and optionally the
// backup key that cookies made with it are still accepted under (see SetKeys).
func setListenerKey(t testing.TB, ln net.Listener, keys ...[16]byte) {
	t.Helper()
	ks := make([]Key, len(keys))
	for i, k := range keys {
		ks[i] = k
	}
	if err := SetKeys(ln, ks...); err != nil {
		t.Fatal(err)
	}
}

func key(v byte) [16]byte {
	var k [16]byte
	for i := range k {
		k[i] = v + byte(i)
	}
	return k
}

// TestServerKeyChange checks a client whose cookie the server no longer accepts: the
// server's key changed, or the server restarted with a new one. The SYN's data is
// refused and the client sends it again after the handshake, so the server reads it
// once; the conn is not fast-opened; the SYN-ACK carries a new cookie, with which the
// next conn is. A key kept as the backup of a new one still opens fast.
func TestServerKeyChange(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	k1, k2 := key(1), key(2)
	for _, tt := range []struct {
		name       string
		initial    [][16]byte                                                   // the listener's own key, if any
		change     func(t *testing.T, s *server, arrivals chan arrival) *server // returns the server after the change
		fastOpened bool
		counters   map[string]int64 // TcpExt changes for the conn after the change
	}{
		{
			name:    "listener key replaced",
			initial: [][16]byte{k1},
			change: func(t *testing.T, s *server, _ chan arrival) *server {
				setListenerKey(t, s.ln, k2)
				return s
			},
			counters: map[string]int64{
				"TCPFastOpenActive": 0, "TCPFastOpenActiveFail": 1,
				"TCPFastOpenPassive": 0, "TCPFastOpenPassiveFail": 1,
			},
		},
		{
			name:    "listener key rotated, the old one kept as backup",
			initial: [][16]byte{k1},
			change: func(t *testing.T, s *server, _ chan arrival) *server {
				setListenerKey(t, s.ln, k2, k1)
				return s
			},
			fastOpened: true,
			counters: map[string]int64{
				"TCPFastOpenActive": 1, "TCPFastOpenActiveFail": 0,
				"TCPFastOpenPassive": 1, "TCPFastOpenPassiveFail": 0, "TCPFastOpenPassiveAltKey": 1,
			},
		},
		{
			name: "server restarted with a new system key",
			change: func(t *testing.T, s *server, arrivals chan arrival) *server {
				s.close()
				setSysctl(t, "net/ipv4/tcp_fastopen_key", "01020304-05060708-090a0b0c-0d0e0f10")
				return recordingServer(t, s.addr, arrivals)
			},
			counters: map[string]int64{
				"TCPFastOpenActive": 0, "TCPFastOpenActiveFail": 1,
				"TCPFastOpenPassive": 0, "TCPFastOpenPassiveFail": 1,
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			arrivals := make(chan arrival, 8)
			s := recordingServer(t, freshHost()+":0", arrivals)
			if tt.initial != nil {
				setListenerKey(t, s.ln, tt.initial...)
			}
			send(t, dialZero, s.addr, "warm")
			checkFastOpened(t, send(t, dialZero, s.addr, "with the first key"))
			s = tt.change(t, s, arrivals)

			before := readTCPExt(t)
			c := send(t, dialZero, s.addr, "after the change")
			names := make([]string, 0, len(tt.counters))
			for n := range tt.counters {
				names = append(names, n)
			}
			if d := readTCPExt(t).since(before, names...); fmt.Sprint(d) != fmt.Sprint(tt.counters) {
				t.Errorf("TcpExt %v; want %v", d, tt.counters)
			}
			if ok, err := FastOpened(c); ok != tt.fastOpened || err != nil {
				t.Errorf("FastOpened = %v, %v; want %v", ok, err, tt.fastOpened)
			}
			wantFail := failDataNotAcked
			if tt.fastOpened {
				wantFail = failUnspec
			}
			if f := fastOpenClientFail(t, c); f != wantFail {
				t.Errorf("tcpi_fastopen_client_fail %d; want %d", f, wantFail)
			}
			checkFastOpened(t, send(t, dialZero, s.addr, "with the new cookie"))
			checkArrivals(t, s, arrivals,
				arrival{"warm", false}, arrival{"with the first key", true},
				arrival{"after the change", tt.fastOpened}, arrival{"with the new cookie", true})
		})
	}
}

// TestFastOpenSwitchedOffBetweenDials turns net.ipv4.tcp_fastopen down between two
// dials to a server whose cookie the client holds, for the client side, the server side
// and both. Each dial after the change works and delivers its data once without fast
// open; the refusal is not remembered, so the next dial once the setting is back
// fast-opens again.
func TestFastOpenSwitchedOffBetweenDials(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	for _, tt := range []struct {
		sysctl   string
		refused  bool             // whether the client's option is refused
		counters map[string]int64 // TcpExt changes for the dial after the change
	}{
		// Client side off: the option is refused, and the dial asks for no cookie.
		{"2", true, map[string]int64{"TCPFastOpenActive": 0, "TCPFastOpenActiveFail": 0, "TCPFastOpenPassiveFail": 0}},
		// Server side off: the SYN carries the cookie and data, which the server drops
		// without counting a failure (tcp_try_fastopen); the client sends them again.
		{"1", false, map[string]int64{"TCPFastOpenActive": 0, "TCPFastOpenActiveFail": 1, "TCPFastOpenPassiveFail": 0}},
		// Both off.
		{"0", true, map[string]int64{"TCPFastOpenActive": 0, "TCPFastOpenActiveFail": 0, "TCPFastOpenPassiveFail": 0}},
	} {
		t.Run("tcp_fastopen="+tt.sysctl, func(t *testing.T) {
			checkNoLeaks(t)
			resetRefusal(t)
			arrivals := make(chan arrival, 8)
			s := recordingServer(t, freshHost()+":0", arrivals)
			send(t, dialZero, s.addr, "warm")
			checkFastOpened(t, send(t, dialZero, s.addr, "before"))

			setSysctl(t, "net/ipv4/tcp_fastopen", tt.sysctl)
			before := readTCPExt(t)
			c := send(t, dialZero, s.addr, "off")
			if d := readTCPExt(t).since(before, "TCPFastOpenActive", "TCPFastOpenActiveFail", "TCPFastOpenPassiveFail"); fmt.Sprint(d) != fmt.Sprint(tt.counters) {
				t.Errorf("TcpExt %v; want %v", d, tt.counters)
			}
			if ok, err := FastOpened(c); ok || err != nil {
				t.Errorf("FastOpened = %v, %v; want false", ok, err)
			}
			if refused := clientRefusal.count.Load() > 0; refused != tt.refused {
				t.Errorf("the system refused the option: %v; want %v", refused, tt.refused)
			}
			if !clientRefusal.allowed() {
				t.Error("a refusal that may change is remembered")
			}

			writeSysctl("net/ipv4/tcp_fastopen", "3")
			checkFastOpened(t, send(t, dialZero, s.addr, "on"))
			checkArrivals(t, s, arrivals, arrival{"warm", false}, arrival{"before", true},
				arrival{"off", false}, arrival{"on", true})
		})
	}
}

// ipCommand runs ip(8) with args in the tests' private network namespace.
func ipCommand(t testing.TB, args ...string) {
	t.Helper()
	requireWire(t)
	path, err := exec.LookPath("ip")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ip(8), from iproute2, is needed:", err)
		}
		t.Skip("no ip(8):", err)
	}
	if out, err := exec.Command(path, args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestUnreachable checks dials to a server whose cookie the client holds, once the
// network to it is gone: taken away between the dial and the first Write, and then
// replaced by each kind of route that rejects a connect. Each fails with net's error
// for the same dial, at once.
func TestUnreachable(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	const host, prefix = "198.18.0.1", "198.18.0.0/15"
	ipCommand(t, "address", "add", host+"/32", "dev", "lo")
	t.Cleanup(func() { exec.Command("ip", "address", "del", host+"/32", "dev", "lo").Run() })
	// A source address that stays, so that the cookie is kept for it.
	d := &Dialer{Dialer: net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}}
	arrivals := make(chan arrival, 4)
	s := recordingServer(t, host+":0", arrivals)
	send(t, d.DialContext, s.addr, "warm")
	fds := openFDs(t)

	c := dialPending(t, d, s.addr)
	ipCommand(t, "address", "del", host+"/32", "dev", "lo")
	start := time.Now()
	_, err := c.Write([]byte("x"))
	// The write that sends the SYN finds no route, as net's connect does.
	checkDialError(t, err, syscall.ENETUNREACH)
	if e := time.Since(start); e > time.Second {
		t.Errorf("the Write failed after %v", e)
	}
	_, nerr := d.Dialer.Dial("tcp", s.addr)
	checkLikeNet(t, "Write without a route", err, nerr)
	c.Close()
	if n := openFDs(t); n > fds {
		t.Errorf("%d open descriptors; %d before", n, fds)
	}

	for _, tt := range []struct {
		route string // the type of route to prefix, or "" for none
		errno syscall.Errno
	}{
		{"", syscall.ENETUNREACH},
		{"unreachable", syscall.EHOSTUNREACH},
		{"prohibit", syscall.EACCES},
		{"blackhole", syscall.EINVAL},
	} {
		if tt.route != "" {
			ipCommand(t, "route", "add", tt.route, prefix)
		}
		start := time.Now()
		c, err := d.Dial("tcp", s.addr)
		e := time.Since(start)
		_, nerr := d.Dialer.Dial("tcp", s.addr)
		if tt.route != "" {
			ipCommand(t, "route", "del", tt.route, prefix)
		}
		if c != nil {
			c.Close()
			t.Errorf("route %q: Dial succeeded", tt.route)
			continue
		}
		checkDialError(t, err, tt.errno)
		checkLikeNet(t, fmt.Sprintf("route %q: Dial", tt.route), err, nerr)
		if e > time.Second {
			t.Errorf("route %q: Dial failed after %v", tt.route, e)
		}
	}
	// Whether the first conn was fast-opened depends on the tests run before.
	s.close()
	if a := <-arrivals; a.data != "warm" || len(arrivals) != 0 {
		t.Errorf("the server read %q, and %d more conns; want the first conn's data alone", a.data, len(arrivals))
	}
}

// TestNoAnswer checks a SYN that gets no answer. With no deadline, the kernel gives up
// after its retransmissions (here shortened with TCP_USER_TIMEOUT): the first Write
// fails as net's Dial does. Without a cookie the dial connects at once, and the
// context's deadline and cancellation end it as they end net's.
func TestNoAnswer(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	addr := blackhole(t)
	fds := openFDs(t)
	userTimeout := func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 100)
		})
		return serr
	}
	d := &Dialer{Dialer: net.Dialer{Control: userTimeout}}
	c := dialPending(t, d, addr)
	var (
		nerr error
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, nerr = d.Dialer.Dial("tcp", addr)
	}()
	n, err := c.Write([]byte("x"))
	wg.Wait()
	if n != 0 {
		t.Errorf("Write = %d", n)
	}
	checkDialError(t, err, syscall.ETIMEDOUT)
	checkLikeNet(t, "Write to a silent server", err, nerr)
	c.Close()

	// 127.0.0.3 has no cookie for the server, so the dial connects.
	d = &Dialer{Dialer: net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}}
	for _, tt := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		// Whether net's error has one shape. At a context deadline, net's dial returns
		// the context's timeout or the poller's, whichever sees the deadline first.
		exact bool
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, false},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, true},
	} {
		ctx, cancel := tt.ctx()
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", addr)
		e := time.Since(start)
		cancel()
		ctx, cancel = tt.ctx()
		_, nerr := d.Dialer.DialContext(ctx, "tcp", addr)
		cancel()
		if c != nil {
			c.Close()
			t.Fatalf("context %s: Dial succeeded", tt.name)
		}
		checkDialError(t, err, nil)
		if tt.exact {
			checkLikeNet(t, "context "+tt.name, err, nerr)
		} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() || nerr == nil || err.Error() != nerr.Error() {
			t.Errorf("context %s: error %v; net's: %v", tt.name, err, nerr)
		}
		if e > time.Second {
			t.Errorf("context %s after 100ms: the dial ended after %v", tt.name, e)
		}
	}
	if n := openFDs(t); n > fds {
		t.Errorf("%d open descriptors; %d before", n, fds)
	}
}
