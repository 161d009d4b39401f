package tfo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// A connectStep is a point of a deferred connect at which a call blocks.
type connectStep struct {
	name string
	// start dials with d and ctx a conn whose connect is deferred, and returns it with
	// the call that blocks at this step, a function that makes that call complete, and
	// a check, run last, of what the server received.
	start func(t *testing.T, ctx context.Context, d *Dialer) (c *Conn, call func() (int, error), finish func(), check func(n int))
	// deadline sets the deadline that bounds the call.
	deadline func(c *Conn, t time.Time) error
	// deadlineOp is the Op of the call's error when its deadline passes, or "" for a
	// first Write, which then reports the bytes it handed to the connect as written.
	// Either way the connect goes on: a deadline fails the call, not the conn.
	deadlineOp string
	// Whether Dialer.Timeout bounds the call: it bounds the connect, not a wait before
	// the connect nor the writing of what the SYN did not carry. It ends the call with
	// a timeout of Op "dial".
	timeoutBounds bool
	// Whether finish closes the conn, as nothing else completes a connect to a server
	// that does not answer.
	finishCloses bool
}

// connectSteps are the points of a deferred connect at which a call blocks.
var connectSteps = []connectStep{
	{
		name: "Read waiting for the first Write",
		start: func(t *testing.T, ctx context.Context, d *Dialer) (*Conn, func() (int, error), func(), func(int)) {
			got := make(chan []byte, 1)
			s := newServer(t, func(c *net.TCPConn) {
				b, _ := io.ReadAll(io.TeeReader(io.LimitReader(c, 1), c))
				rest, _ := io.ReadAll(c)
				got <- append(b, rest...)
			})
			d.ReadWait = time.Hour
			c := dialPendingContext(t, ctx, d, s.addr)
			read := func() (int, error) { return c.Read(make([]byte, 1)) }
			finish := func() { c.Write([]byte("x")) }
			check := func(int) {
				c.Close()
				s.close()
				if len(got) > 0 {
					if b := <-got; len(b) > 1 {
						t.Errorf("the server received %q", b)
					}
				}
			}
			return c, read, finish, check
		},
		deadline:   (*Conn).SetReadDeadline,
		deadlineOp: "read",
	},
	{
		name: "Write connecting",
		start: func(t *testing.T, ctx context.Context, d *Dialer) (*Conn, func() (int, error), func(), func(int)) {
			c := dialPendingContext(t, ctx, d, blackhole(t))
			return c, func() (int, error) { return c.Write([]byte("x")) }, func() { c.Close() }, func(int) {}
		},
		deadline:      (*Conn).SetWriteDeadline,
		timeoutBounds: true,
		finishCloses:  true,
	},
	{
		name: "Read connecting after the read wait",
		start: func(t *testing.T, ctx context.Context, d *Dialer) (*Conn, func() (int, error), func(), func(int)) {
			d.ReadWait = time.Millisecond
			c := dialPendingContext(t, ctx, d, blackhole(t))
			return c, func() (int, error) { return c.Read(make([]byte, 1)) }, func() { c.Close() }, func(int) {}
		},
		deadline:      (*Conn).SetReadDeadline,
		deadlineOp:    "read",
		timeoutBounds: true,
		finishCloses:  true,
	},
	{
		name: "CloseWrite connecting",
		start: func(t *testing.T, ctx context.Context, d *Dialer) (*Conn, func() (int, error), func(), func(int)) {
			c := dialPendingContext(t, ctx, d, blackhole(t))
			return c, func() (int, error) { return 0, c.CloseWrite() }, func() { c.Close() }, func(int) {}
		},
		deadline:      (*Conn).SetWriteDeadline,
		deadlineOp:    "write",
		timeoutBounds: true,
		finishCloses:  true,
	},
	{
		name: "first Write writing what the SYN did not carry",
		start: func(t *testing.T, ctx context.Context, d *Dialer) (*Conn, func() (int, error), func(), func(int)) {
			release := make(chan struct{})
			got := make(chan []byte, 1)
			s := newServer(t, func(c *net.TCPConn) {
				<-release
				b, _ := io.ReadAll(c)
				got <- b
			})
			c := dialPendingContext(t, ctx, d, s.addr)
			data := pattern(32 << 20) // more than the socket buffers of both ends hold
			var released bool
			finish := func() {
				if !released {
					close(release)
					released = true
				}
			}
			write := func() (int, error) { return c.Write(data) }
			check := func(n int) {
				// The conn goes on, as net's does after a Write's deadline: what the
				// Write reported is what the server reads, followed by a last write.
				c.SetWriteDeadline(time.Time{})
				finish()
				tail := []byte("tail")
				_, err := c.Write(tail)
				if err == nil {
					err = c.CloseWrite()
				}
				if err != nil {
					c.Close()
					if errors.Is(err, net.ErrClosed) {
						return
					}
					t.Errorf("after the first Write: %v", err)
				}
				b := <-got
				if want := append(data[:n:n], tail...); !bytes.Equal(b, want) {
					t.Errorf("the server received %d bytes; the Writes reported %d", len(b), len(want))
				}
			}
			t.Cleanup(finish)
			return c, write, finish, check
		},
		deadline:   (*Conn).SetWriteDeadline,
		deadlineOp: "write",
	},
}

// dialPendingContext dials address with d and ctx, and checks that the connect was
// deferred.
func dialPendingContext(t testing.TB, ctx context.Context, d *Dialer, address string) *Conn {
	t.Helper()
	nc, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*Conn)
	t.Cleanup(func() { c.Close() })
	if !c.connected() && !deferred(c.tc) {
		t.Fatal("the connect was not deferred although a cookie is cached")
	}
	return c
}

// checkNoLeaks checks, after the test's other cleanups, that the test left no goroutine
// and no file descriptor behind; goroutines and descriptors of a parent test that runs
// on do not count.
func checkNoLeaks(t *testing.T) {
	fds := openFDs(t)
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, opt)
		if n := openFDs(t); n > fds {
			t.Errorf("%d open descriptors; %d before", n, fds)
		}
	})
}

// An interruption is what may end a blocked call at a connect step.
type interruption int

const (
	byClose         interruption = iota // Close on the conn
	byDeadline                          // the call's deadline, set while it blocks
	byDialerTimeout                     // Dialer.Timeout, set at the dial
	byCancel                            // the cancellation of the dial's context
)

func (in interruption) String() string {
	return [...]string{"Close", "deadline", "Dialer.Timeout", "context cancel"}[in]
}

// TestInterruptConnect interrupts a call blocked at each step of a deferred connect in
// each way: Close ends it with net.ErrClosed; its deadline ends the call, with a
// timeout or, for a first Write, reporting the bytes that the connect carries as
// written, and leaves the connect going on; Dialer.Timeout, where it bounds the step,
// ends the connect with a dial timeout; the cancellation of the dial's context, once the
// dial has returned, does not touch it. Whatever ends, no descriptor or goroutine is
// left behind, and the server receives no more than the calls reported.
func TestInterruptConnect(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	const (
		block   = 50 * time.Millisecond  // how long a call blocks before the interruption
		timeout = 100 * time.Millisecond // the Dialer.Timeout of byDialerTimeout
		goOn    = 300 * time.Millisecond // how long a call that goes on is watched
	)
	for _, st := range connectSteps {
		for _, in := range []interruption{byClose, byDeadline, byDialerTimeout, byCancel} {
			t.Run(st.name+"/"+in.String(), func(t *testing.T) {
				checkNoLeaks(t)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				d := &Dialer{}
				if in == byDialerTimeout {
					d.Timeout = timeout
				}
				c, call, finish, check := st.start(t, ctx, d)
				type result struct {
					n   int
					err error
				}
				done := make(chan result, 1)
				go func() {
					n, err := call()
					done <- result{n, err}
				}()
				select {
				case r := <-done:
					if in != byDialerTimeout || !st.timeoutBounds {
						t.Fatalf("the call did not block: %d, %v", r.n, r.err)
					}
					done <- r
				case <-time.After(block):
				}

				switch in {
				case byClose:
					c.Close()
				case byDeadline:
					st.deadline(c, time.Now())
				case byCancel:
					cancel()
				}
				ends := in == byClose || in == byDeadline || (in == byDialerTimeout && st.timeoutBounds)
				var r result
				if ends {
					select {
					case r = <-done:
					case <-time.After(5 * time.Second):
						t.Fatalf("%v did not end the call", in)
					}
				} else {
					select {
					case r = <-done:
						t.Fatalf("%v ended the call: %d, %v", in, r.n, r.err)
					case <-time.After(goOn):
					}
					finish()
					r = <-done
				}

				switch {
				case in == byClose:
					if !errors.Is(r.err, net.ErrClosed) {
						t.Errorf("after Close: %d, %v", r.n, r.err)
					}
				case in == byDeadline && st.deadlineOp == "":
					if r.n != 1 || r.err != nil {
						t.Errorf("after %v: %d, %v; want the byte reported as written", in, r.n, r.err)
					}
				case ends:
					// As with net, a call's deadline is os.ErrDeadlineExceeded and a dial's
					// timeout context.DeadlineExceeded.
					op, want := st.deadlineOp, os.ErrDeadlineExceeded
					if in == byDialerTimeout {
						op, want = "dial", context.DeadlineExceeded
					}
					var oe *net.OpError
					if !errors.As(r.err, &oe) || !oe.Timeout() || oe.Op != op || !errors.Is(r.err, want) {
						t.Errorf("after %v: %d, %v; want a timeout with Op %q", in, r.n, r.err, op)
					}
				case st.finishCloses:
					if !errors.Is(r.err, net.ErrClosed) {
						t.Errorf("after Close: %d, %v", r.n, r.err)
					}
				case r.err != nil:
					t.Errorf("after %v and the call's completion: %d, %v", in, r.n, r.err)
				}
				if in == byDeadline && st.finishCloses {
					// The connect goes on after the call's deadline.
					if state := c.state.Load(); state != statePending {
						t.Errorf("after %v: the conn is in state %d; want it still connecting", in, state)
					}
					finish()
				}
				check(r.n)
			})
		}
	}
}
