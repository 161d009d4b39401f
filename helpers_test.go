package tfo

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// server is a fast open listener on 127.0.0.1 whose connections are served by handler,
// each in its own goroutine, and closed when it returns.
type server struct {
	ln   net.Listener
	addr string
	wg   sync.WaitGroup
}

func newServer(t testing.TB, handler func(c *net.TCPConn)) *server {
	t.Helper()
	return newServerOn(t, "127.0.0.1:0", handler)
}

func newServerOn(t testing.TB, address string, handler func(c *net.TCPConn)) *server {
	t.Helper()
	ln, err := Listen("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	return serveListener(t, ln, handler)
}

// serveListener serves the connections ln accepts as newServer does.
func serveListener(t testing.TB, ln net.Listener, handler func(c *net.TCPConn)) *server {
	s := &server{ln: ln, addr: ln.Addr().String()}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handler(c.(*net.TCPConn))
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *server) close() {
	s.ln.Close()
	s.wg.Wait()
}

// answer answers each connection's first read with "re:" and what it read.
func answer(c *net.TCPConn) {
	b := make([]byte, 1024)
	n, err := c.Read(b)
	if err != nil {
		return
	}
	c.Write(append([]byte("re:"), b[:n]...))
}

// exchange writes msg on c and reads the answer.
func exchange(t testing.TB, c net.Conn, msg string) string {
	t.Helper()
	if n, err := c.Write([]byte(msg)); err != nil || n != len(msg) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(msg))
	}
	b := make([]byte, 1024)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return string(b[:n])
}

// warmCookie makes one connection to a fast open server at host, so that the client
// holds a cookie for host and the next dials to it defer their connect.
func warmCookie(t testing.TB, host string) {
	t.Helper()
	s := newServerOn(t, net.JoinHostPort(host, "0"), answer)
	c, err := Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkAnswer(t, c, "warm")
}

// dialPending dials address and checks that the connect was deferred.
func dialPending(t testing.TB, d *Dialer, address string) *Conn {
	t.Helper()
	nc, err := d.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*Conn)
	t.Cleanup(func() { c.Close() })
	if onWire && !deferred(c.tc) {
		t.Fatal("the connect was not deferred although a cookie is cached")
	}
	return c
}

// requirePending skips (or fails, under CI) a test that needs a deferred connect. On
// Linux that takes a cookie, which the private network namespace provides; elsewhere it
// takes a platform whose dials defer their connect.
func requirePending(t testing.TB) {
	t.Helper()
	if runtime.GOOS == "linux" {
		requireWire(t)
		warmCookie(t, "127.0.0.1")
		return
	}
	if !dialsDefer(t) {
		t.Skip("dials on this platform connect before they return")
	}
}

var defers struct {
	once sync.Once
	ok   bool
}

// dialsDefer reports whether a dial to a local listener defers its connect here.
func dialsDefer(t testing.TB) bool {
	defers.once.Do(func() {
		ln, err := Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		defers.ok = deferred(c.(*Conn).tc)
	})
	return defers.ok
}

// verifyNone registers a goroutine leak check that runs after the test's other
// cleanups.
func verifyNone(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// checkDialError checks that err is a *net.OpError for a dial, of net's shape.
func checkDialError(t testing.TB, err error, want error) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not a *net.OpError", err, err)
	}
	if oe.Op != "dial" || oe.Net == "" || oe.Addr == nil {
		t.Fatalf("error %#v: want Op dial with Net and Addr", oe)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("error %v does not match %v", err, want)
	}
}

// readAll reads c until EOF or the deadline.
func readAll(t testing.TB, c net.Conn, within time.Duration) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return b
}

// checkFastOpened checks that c was fast-opened.
func checkFastOpened(t testing.TB, c net.Conn) {
	t.Helper()
	if !onWire {
		return // an on-wire assertion: see requireWire
	}
	if ok, err := FastOpened(c); !ok || err != nil {
		t.Errorf("FastOpened = %v, %v; want true", ok, err)
	}
}

// checkAnswer writes msg on c, whose server is answer, and checks the answer.
func checkAnswer(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if got := exchange(t, c, msg); got != "re:"+msg {
		t.Fatalf("answer %q to %q", got, msg)
	}
}

// closeEnds runs op, which blocks on c, closes c after wait, and checks that op then
// ends with an error matching net.ErrClosed.
func closeEnds(t testing.TB, c *Conn, wait time.Duration, op func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- op() }()
	time.Sleep(wait)
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the blocked call")
	}
}
