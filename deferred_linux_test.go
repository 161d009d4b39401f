package tfo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastopen/tfo/internal/delaylink"
)

// The tests of this file hold a connect deferred to the first write to net.Dialer's
// contract, in time as well as in result: each does with tfo what a program does with
// net, side by side in the same test, and bounds tfo's time by net's.

// slack is what a time measured with tfo may exceed net's by: scheduling on a shared
// machine, not a round trip of the tests' links.
const slack = 100 * time.Millisecond

// timed returns how long f took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// countingServer answers each conn's first read, as answer does, and counts the conns
// that sent anything.
type countingServer struct {
	*server
	mu   sync.Mutex
	seen []string
}

func newCountingServer(t testing.TB, address string) *countingServer {
	t.Helper()
	cs := &countingServer{}
	cs.server = newServerOn(t, address, func(c *net.TCPConn) {
		b := make([]byte, 1024)
		n, err := c.Read(b)
		if n > 0 {
			cs.mu.Lock()
			cs.seen = append(cs.seen, string(b[:n]))
			cs.mu.Unlock()
		}
		if err == nil {
			c.Write(append([]byte("re:"), b[:n]...))
		}
	})
	return cs
}

// received closes the server and returns what its conns sent.
func (cs *countingServer) received() []string {
	cs.close()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.seen
}

// TestContextDeadlineBoundsConnect checks that the deadline of the context given to
// DialContext bounds a connect deferred to the first Write, as it bounds net's dial:
// to a silent server both fail with a dial timeout, as long after the dial as the
// context allowed.
func TestContextDeadlineBoundsConnect(t *testing.T) {
	checkNoLeaks(t)
	requirePending(t)
	addr := blackhole(t)
	const limit = 300 * time.Millisecond
	var err, nerr error
	tfoTime := timed(func() {
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		c := dialPendingContext(t, ctx, &Dialer{}, addr)
		_, err = c.Write([]byte("x"))
	})
	netTime := timed(func() {
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		_, nerr = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	})
	// net's error is its dial timeout, or its poller's deadline when that fires first:
	// both say "i/o timeout" and are timeouts; tfo's is the former.
	checkDialError(t, err, context.DeadlineExceeded)
	var ne net.Error
	if !errors.As(nerr, &ne) || !ne.Timeout() || err.Error() != nerr.Error() {
		t.Errorf("Write to a silent server: %v; net's dial: %v", err, nerr)
	}
	t.Logf("silent server, context deadline %v: tfo's Write failed after %v, net's dial after %v", limit, tfoTime, netTime)
	if tfoTime < limit || tfoTime > netTime+slack {
		t.Errorf("the Write failed after %v; net's dial after %v", tfoTime, netTime)
	}

	// The time counts from the start of the connect: a Write after the context's
	// deadline gets what the dial had left.
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	c := dialPendingContext(t, ctx, &Dialer{}, addr)
	time.Sleep(limit)
	start := time.Now()
	_, err = c.Write([]byte("x"))
	checkDialError(t, err, context.DeadlineExceeded)
	if e := time.Since(start); e < limit-slack || e > limit+slack {
		t.Errorf("a Write after the context's deadline failed after %v; want about %v", e, limit)
	}
}

// dualStack returns a resolver for a name whose first address, ::1, is silent (its
// listener drops every SYN) and whose second, 127.0.0.1, serves on the same port, with
// cookies cached for both, and the name's address to dial.
func dualStack(t *testing.T) (*net.Resolver, string, *countingServer) {
	t.Helper()
	warmCookie(t, "127.0.0.1")
	silent := blackholeOn(t, "[::1]:0")
	_, port, _ := net.SplitHostPort(silent)
	s := newCountingServer(t, net.JoinHostPort("127.0.0.1", port))
	r := tableResolver(t, map[string][]netip.Addr{
		"dual.tfo.test": {netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")},
	})
	return r, net.JoinHostPort("dual.tfo.test", port), s
}

// TestDualStackSilentFirst checks a host whose first address, IPv6, is silent and whose
// IPv4 address serves: as with net, the other family races the first address after
// FallbackDelay, and the request is answered as soon as net's, whether or not a Timeout
// is set; the request reaches the server once. With racing off and a Timeout, the
// silent address takes its share of the time, then the next is tried, as with net.
func TestDualStackSilentFirst(t *testing.T) {
	checkNoLeaks(t)
	requirePending(t)
	for _, tt := range []struct {
		name string
		d    net.Dialer
	}{
		{"no Timeout", net.Dialer{}},
		{"Timeout 10s", net.Dialer{Timeout: 10 * time.Second}},
		{"FallbackDelay 100ms", net.Dialer{FallbackDelay: 100 * time.Millisecond}},
		{"no racing, Timeout 3s", net.Dialer{FallbackDelay: -1, Timeout: 3 * time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			r, addr, s := dualStack(t)
			d := &Dialer{Dialer: tt.d}
			d.Resolver = r
			var c *Conn
			tfoTime := timed(func() {
				c = dialPending(t, d, addr)
				if ra := c.RemoteAddr().(*net.TCPAddr); ra.IP.To4() != nil {
					t.Fatalf("dialing %v first; the test needs ::1", ra)
				}
				checkAnswer(t, c, "tfo")
			})
			if ra := c.RemoteAddr().(*net.TCPAddr); ra.IP.To4() == nil {
				t.Errorf("answered from %v; want the IPv4 address", ra)
			}
			nd := tt.d
			nd.Resolver = r
			netTime := timed(func() {
				nc, err := nd.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				checkAnswer(t, nc, "net")
			})
			t.Logf("answered after %v; net after %v", tfoTime, netTime)
			if tfoTime > netTime+slack {
				t.Errorf("answered after %v; net after %v", tfoTime, netTime)
			}
			if got := s.received(); fmt.Sprint(got) != "[tfo net]" {
				t.Errorf("the server received %q; want each request once", got)
			}
		})
	}
}

// TestDeadlineBeforeFirstWrite checks that a conn whose dial returned before
// Dialer.Deadline works however late its first Write comes, as net's does, whether its
// connect was deferred or it connected during the dial.
func TestDeadlineBeforeFirstWrite(t *testing.T) {
	checkNoLeaks(t)
	requirePending(t)
	const limit = 300 * time.Millisecond
	for _, host := range []string{"127.0.0.1", freshHost()} {
		s := newServerOn(t, net.JoinHostPort(host, "0"), answer)
		d := &Dialer{Dialer: net.Dialer{Deadline: time.Now().Add(limit)}}
		nd := d.Dialer
		c, err := d.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		nc, err := nd.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if host == "127.0.0.1" && !deferred(c.(*Conn).tc) {
			t.Fatal("the connect was not deferred although a cookie is cached")
		}
		time.Sleep(limit + 200*time.Millisecond)
		checkAnswer(t, nc, "net")
		checkAnswer(t, c, "late")
	}
}

// farListener returns a fast open listener on the far end of link, B.
func farListener(t testing.TB, link *delaylink.Link) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := link.B.Do(func() (err error) {
		ln, err = Listen("tcp", netip.AddrPortFrom(link.B.Addr(), 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ln
}

// linkServer listens on the far end of link with a fast open listener, serving each
// conn with handler, and returns its address after a first conn has fetched a cookie
// for it through the link.
func linkServer(t *testing.T, link *delaylink.Link, handler func(*net.TCPConn)) string {
	t.Helper()
	ln := farListener(t, link)
	s := serveListener(t, ln, handler)
	c, err := link.A.Dial(dialZero)(context.Background(), "tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("warm"))
	c.(*Conn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Read(make([]byte, 64))
	c.Close()
	return s.addr
}

func newLinkRTT(t *testing.T, rtt time.Duration) *delaylink.Link {
	t.Helper()
	requireWire(t)
	link, err := delaylink.New(delaylink.Config{RTT: rtt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	return link
}

// TestWriteDeadlineShorterThanRTT checks a first Write whose deadline is shorter than
// the round trip: as with net, whose conn connected at the dial, it succeeds, and the
// request is answered.
func TestWriteDeadlineShorterThanRTT(t *testing.T) {
	checkNoLeaks(t)
	const rtt = 100 * time.Millisecond
	link := newLinkRTT(t, rtt)
	addr := linkServer(t, link, answer)
	var tfoN, netN int
	var tfoErr, netErr error
	for _, d := range []delaylink.DialFunc{link.A.Dial(dialZero), link.A.Dial((&net.Dialer{}).DialContext)} {
		c, err := d(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if tc, ok := c.(*Conn); ok && !deferred(tc.tc) {
			t.Fatal("the connect was not deferred although a cookie is cached")
		}
		c.SetWriteDeadline(time.Now().Add(rtt / 2))
		n, err := c.Write([]byte("hello"))
		if _, ok := c.(*Conn); ok {
			tfoN, tfoErr = n, err
		} else {
			netN, netErr = n, err
		}
		c.SetWriteDeadline(time.Time{})
		b := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := c.Read(b)
		if err != nil || string(b[:m]) != "re:hello" {
			t.Errorf("%T: answer %q, %v", c, b[:m], err)
		}
	}
	t.Logf("Write with a deadline of half the round trip: tfo %d, %v; net %d, %v", tfoN, tfoErr, netN, netErr)
	if tfoN != netN || (tfoErr == nil) != (netErr == nil) {
		t.Errorf("Write with a deadline of half a round trip = %d, %v; net's: %d, %v", tfoN, tfoErr, netN, netErr)
	}
}

// TestReadDeadlineDuringConnect checks a Read whose deadline passes while the connect
// it started waits for the server: as with net, that Read times out, and the conn
// works once the server answers.
func TestReadDeadlineDuringConnect(t *testing.T) {
	checkNoLeaks(t)
	const rtt = 100 * time.Millisecond
	link := newLinkRTT(t, rtt)
	addr := linkServer(t, link, answer)
	d := &Dialer{ReadWait: -1}
	for _, dial := range []delaylink.DialFunc{link.A.Dial(d.DialContext), link.A.Dial((&net.Dialer{}).DialContext)} {
		c, err := dial(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(rtt / 2))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%T: Read past its deadline: %v", c, err)
		}
		c.SetReadDeadline(time.Time{})
		checkAnswer(t, c, "after")
	}
}

// TestPollingReads checks Reads with short deadlines on a conn to a server that speaks
// first and that the client does not know: the wait for a Write is one per conn, so the
// conn connects after ReadWait, however many Reads poll, and the banner arrives.
func TestPollingReads(t *testing.T) {
	checkNoLeaks(t)
	requirePending(t)
	s := newServer(t, func(c *net.TCPConn) { c.Write([]byte("220 banner")) })
	speaksFirst.t.clear()
	t.Cleanup(speaksFirst.t.clear)
	c := dialPending(t, &Dialer{}, s.addr)
	start := time.Now()
	b := make([]byte, 64)
	for {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := c.Read(b)
		if err == nil {
			if string(b[:n]) != "220 banner" {
				t.Fatalf("read %q", b[:n])
			}
			break
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal(err)
		}
		if time.Since(start) > 5*DefaultReadWait {
			t.Fatalf("no banner after %v of polling", time.Since(start))
		}
	}
	e := time.Since(start)
	t.Logf("polling Reads: the banner came after %v", e)
	if e > DefaultReadWait+slack {
		t.Errorf("the banner came after %v; want ReadWait, %v", e, DefaultReadWait)
	}
}

// TestResetAfterSYNData checks a server that reads the request in the SYN and then
// resets the conn: as with net, whose conn connected at the dial, the first Write
// reports its bytes written, and the reset is the next Read's error; over loopback,
// where the handshake is over within the Write, and over a link with a round trip.
func TestResetAfterSYNData(t *testing.T) {
	checkNoLeaks(t)
	reset := func(c *net.TCPConn) {
		c.Read(make([]byte, 64))
		c.SetLinger(0)
	}
	check := func(t *testing.T, dials ...func() net.Conn) {
		var results []string
		for _, dial := range dials {
			c := dial()
			defer c.Close()
			n, err := c.Write([]byte("hello"))
			_, rerr := io.ReadAll(c)
			results = append(results, fmt.Sprintf("Write %d, %v; Read %v", n, err, errors.Is(rerr, syscall.ECONNRESET)))
		}
		t.Logf("tfo: %s; net: %s", results[0], results[1])
		if results[0] != results[1] {
			t.Errorf("tfo: %s\nnet: %s", results[0], results[1])
		}
		if results[0] != "Write 5, <nil>; Read true" {
			t.Errorf("got %s; want the Write's 5 bytes written and a reset at the Read", results[0])
		}
	}
	t.Run("loopback", func(t *testing.T) {
		requirePending(t)
		s := newServer(t, reset)
		check(t, func() net.Conn { return dialPending(t, &Dialer{}, s.addr) }, func() net.Conn {
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			return c
		})
	})
	t.Run("link", func(t *testing.T) {
		link := newLinkRTT(t, 20*time.Millisecond)
		addr := linkServer(t, link, reset)
		dial := func(d delaylink.DialFunc) func() net.Conn {
			return func() net.Conn {
				c, err := link.A.Dial(d)(context.Background(), "tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
		}
		check(t, dial(dialZero), dial((&net.Dialer{}).DialContext))
	})
}

// TestFallbackRace checks, under -race, calls made on a conn while its first Write
// replaces the socket of an address that refused with one for the next: every call
// sees one socket or the other, and the bytes arrive once.
func TestFallbackRace(t *testing.T) {
	checkNoLeaks(t)
	requirePending(t)
	warmCookie(t, "127.0.0.2")
	s := newCountingServer(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(s.addr)
	r := tableResolver(t, map[string][]netip.Addr{
		"multi.tfo.test": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")},
	})
	d := &Dialer{Dialer: net.Dialer{Resolver: r}}
	for i := range 20 {
		c := dialPending(t, d, net.JoinHostPort("multi.tfo.test", port))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					c.LocalAddr()
					c.RemoteAddr()
					c.SetReadDeadline(time.Time{})
					c.SetNoDelay(true)
					FastOpened(c)
					c.MultipathTCP()
				}
			}()
		}
		checkAnswer(t, c, fmt.Sprint("req ", i))
		close(stop)
		wg.Wait()
		if ra := c.RemoteAddr().String(); ra != s.addr {
			t.Errorf("RemoteAddr %v; want %v", ra, s.addr)
		}
		c.Close()
	}
	if got := s.received(); len(got) != 20 {
		t.Errorf("the server received %d requests; want 20, once each", len(got))
	}
}

// TestConcurrentWriteAfterLargeFirstWrite checks, over a link with a round trip, that a
// Write made while a large first Write connects does not overtake its tail.
func TestConcurrentWriteAfterLargeFirstWrite(t *testing.T) {
	checkNoLeaks(t)
	link := newLinkRTT(t, 20*time.Millisecond)
	got := make(chan []byte, 1)
	addr := linkServer(t, link, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		got <- b
	})
	<-got // the warm conn's
	nc, err := link.A.Dial(dialZero)(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*Conn)
	defer c.Close()
	first := pattern(1 << 20)
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(first)
		done <- err
	}()
	for connecting := false; !connecting; {
		time.Sleep(time.Millisecond)
		c.p.mu.Lock()
		connecting = c.p.run != nil
		c.p.mu.Unlock()
	}
	if _, err := c.Write([]byte("second")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	b := <-got
	if want := append(first, "second"...); string(b) != string(want) {
		t.Errorf("the server received %d bytes, not the first Write's then the second's", len(b))
	}
}
