package tfo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// A fuzz input is a script: its first byte chooses how the server behaves, its second
// the dialer's ReadWait, and each following pair of bytes is a call on the client's
// conn, whose connect is deferred, and the call's argument. The seed corpus is in
// testdata/fuzz/FuzzPendingConn.

// Server behaviours of FuzzPendingConn.
const (
	serverEcho    = iota // writes back what it reads, until EOF
	serverSink           // reads until EOF
	serverBanner         // writes fuzzBanner, then reads until EOF
	serverReset          // reads some bytes, then resets the connection
	serverHangUp         // closes each connection at once
	serverRefuses        // no server: the port is closed
	serverKinds
)

const fuzzBanner = "220 fuzz server\r\n"

// Calls on the client's conn.
const (
	opWrite            = iota // argument*16 bytes of the stream
	opRead                    // up to argument+1 bytes, within fuzzReadLimit
	opSetDeadline             // argument%4 picks the time: see fuzzDeadline
	opSetReadDeadline         //
	opSetWriteDeadline        //
	opClose                   //
	opCloseWrite              //
	opCloseRead               //
	opReadFrom                // argument*16 bytes of the stream, through ReadFrom
	opConcurrent              // the next two calls run at once
	opKinds
)

var opNames = [opKinds]string{"Write", "Read", "SetDeadline", "SetReadDeadline", "SetWriteDeadline", "Close", "CloseWrite", "CloseRead", "ReadFrom", "concurrently"}

const (
	// fuzzReadLimit bounds each Read, so that a Read that nothing answers ends soon.
	fuzzReadLimit = 2 * time.Millisecond
	// fuzzMaxWrite bounds what the client writes in all: less than the socket buffers
	// hold, so that no Write waits for a server that does not read.
	fuzzMaxWrite = 32 << 10
	// fuzzMaxCalls bounds the calls of one input.
	fuzzMaxCalls = 64
	// fuzzBlocked is how long a call may block before the conn is closed under it.
	fuzzBlocked = 250 * time.Millisecond
	// fuzzHang is how long a call may take, once the conn is closed, before the test
	// calls it a deadlock.
	fuzzHang = 5 * time.Second
)

var fuzzReadWaits = [...]time.Duration{-1, time.Millisecond, 3 * time.Millisecond}

// fuzzDeadline returns the deadline that the argument of a Set*Deadline call picks:
// none, one that has passed, or one that soon passes.
func fuzzDeadline(arg byte) time.Time {
	switch arg % 4 {
	case 0:
		return time.Time{}
	case 1:
		return time.Now().Add(-time.Second)
	case 2:
		return time.Now().Add(time.Millisecond)
	}
	return time.Now().Add(5 * time.Millisecond)
}

// fuzzStream is what the client writes, call after call: byte i of the stream is
// fuzzStream[i], so that the server can tell whether it read a prefix of it.
var fuzzStream = pattern(fuzzMaxWrite + 16*255)

// FuzzPendingConn drives random sequences of calls on a conn whose connect is deferred,
// against a server that behaves as the input says: no call may panic, block for good
// or race, every error must have net's shape, a closed conn must say so, and the server
// must read no byte the client did not write, in order, nor more than fast open allows:
// all the client's Writes reported, plus the first Write's bytes if that Write failed
// after its SYN left.
func FuzzPendingConn(f *testing.F) {
	requirePending(f)
	// The fuzzing workers share the tests' network namespace: each serves on a loopback
	// address of its own, so that a SYN for a port that one's server left, which
	// another's may take, finds no server of another's.
	host := "127.0.0.1"
	if runtime.GOOS == "linux" {
		host = fmt.Sprintf("127.0.4.%d", os.Getpid()%250+1)
		warmCookie(f, host)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) < 2 {
			return
		}
		leaks := goleak.IgnoreCurrent()
		fds := openFDs(t)
		s := newFuzzServer(t, host, script[0]%serverKinds)
		d := &Dialer{ReadWait: fuzzReadWaits[int(script[1])%len(fuzzReadWaits)]}
		nc, err := d.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := nc.(*Conn)
		if !deferred(c.tc) {
			t.Fatal("the connect was not deferred although a cookie is cached")
		}
		fc := &fuzzConn{t: t, c: c}
		calls := script[2:]
		if len(calls) > 2*fuzzMaxCalls {
			calls = calls[:2*fuzzMaxCalls]
		}
		for i := 0; i+1 < len(calls); i += 2 {
			op, arg := calls[i]%opKinds, calls[i+1]
			if op == opConcurrent && i+5 < len(calls) {
				fc.concurrently(calls[i+2]%opKinds, calls[i+3], calls[i+4]%opKinds, calls[i+5])
				i += 4
				continue
			}
			fc.call(op, arg)
		}
		fc.call(opClose, 0)
		got, sent := s.finish()
		fc.check(got, sent)
		goleak.VerifyNone(t, leaks)
		if n := openFDs(t); n > fds {
			t.Errorf("%d open descriptors; %d before", n, fds)
		}
	})
}

// fuzzServer is the server of one FuzzPendingConn input. It serves one connection.
type fuzzServer struct {
	addr string
	ln   net.Listener
	done chan struct{}
	got  []byte // what it read
	sent []byte // what it wrote
}

func newFuzzServer(t *testing.T, host string, kind byte) *fuzzServer {
	ln, err := Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := &fuzzServer{addr: ln.Addr().String(), ln: ln, done: make(chan struct{})}
	if kind == serverRefuses {
		ln.Close()
		close(s.done)
		return s
	}
	go func() {
		defer close(s.done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		c := nc.(*net.TCPConn)
		defer c.Close()
		buf := make([]byte, 4096)
		switch kind {
		case serverHangUp:
			return
		case serverBanner:
			if _, err := c.Write([]byte(fuzzBanner)); err == nil {
				s.sent = []byte(fuzzBanner)
			}
		case serverReset:
			n, _ := c.Read(buf)
			s.got = append(s.got, buf[:n]...)
			c.SetLinger(0)
			return
		}
		for {
			n, err := c.Read(buf)
			s.got = append(s.got, buf[:n]...)
			if kind == serverEcho && n > 0 {
				m, _ := c.Write(buf[:n])
				s.sent = append(s.sent, buf[:m]...)
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// finish waits for the server to end, after the client closed its conn, and returns
// what it read and wrote.
func (s *fuzzServer) finish() (got, sent []byte) {
	s.ln.Close()
	<-s.done
	return s.got, s.sent
}

// fuzzConn makes the calls of one FuzzPendingConn input, and keeps what they returned.
type fuzzConn struct {
	t *testing.T
	c *Conn

	mu        sync.Mutex
	closed    bool // Close returned
	rdl       time.Time
	written   int    // the bytes of fuzzStream that Writes reported
	firstFail int    // the length of a first Write whose connect failed, which may have arrived
	read      []byte // what Reads returned
	trace     []string
}

// call makes one call, and fails the test if it does not return within fuzzHang.
func (fc *fuzzConn) call(op, arg byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fc.do(op, arg)
	}()
	fc.wait(done, op, arg)
}

// concurrently makes two calls at once, unless both write: the bytes of concurrent
// Writes reach the server in no set order, and could not be checked.
func (fc *fuzzConn) concurrently(op1, arg1, op2, arg2 byte) {
	if writes(op1) && writes(op2) {
		fc.call(op1, arg1)
		fc.call(op2, arg2)
		return
	}
	var wg sync.WaitGroup
	for _, c := range [][2]byte{{op1, arg1}, {op2, arg2}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fc.call(c[0], c[1])
		}()
	}
	wg.Wait()
}

func writes(op byte) bool { return op == opWrite || op == opReadFrom }

// wait waits for a call to be done. A call may block for good, as a Read with no
// deadline does when concurrent calls remove its deadline; so, after fuzzBlocked, wait
// closes the conn, which must end every call. If the call is not done within fuzzHang
// after that, wait panics, which a goroutine other than the test's may do, with every
// goroutine's stack.
func (fc *fuzzConn) wait(done <-chan struct{}, op, arg byte) {
	select {
	case <-done:
		return
	case <-time.After(fuzzBlocked):
	}
	fc.c.Close()
	fc.mu.Lock()
	fc.closed = true
	fc.trace = append(fc.trace, fmt.Sprintf("Close, as %s(%d) blocked", opNames[op], arg))
	fc.mu.Unlock()
	select {
	case <-done:
	case <-time.After(fuzzHang):
		fc.mu.Lock()
		trace := strings.Join(fc.trace, "\n")
		fc.mu.Unlock()
		stacks := make([]byte, 1<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
		panic(fmt.Sprintf("%s(%d) did not return within %v; the calls that did:\n%s\n\n%s", opNames[op], arg, fuzzHang, trace, stacks))
	}
}

func (fc *fuzzConn) do(op, arg byte) {
	c := fc.c
	var (
		n   int
		err error
	)
	fc.mu.Lock()
	closed := fc.closed // Close returned before this call began
	fc.mu.Unlock()
	switch op {
	case opWrite, opReadFrom:
		fc.mu.Lock()
		off := fc.written + fc.firstFail
		fc.mu.Unlock()
		size := min(int(arg)*16, fuzzMaxWrite-off)
		if size < 0 {
			size = 0
		}
		b := fuzzStream[off : off+size]
		first := !c.connected() && c.state.Load() == statePending
		if op == opWrite {
			n, err = c.Write(b)
		} else {
			var n64 int64
			n64, err = c.ReadFrom(bytes.NewReader(b))
			n = int(n64)
		}
		fc.mu.Lock()
		fc.written += n
		// A first Write whose connect failed, or was closed under it, may have
		// delivered its bytes in the SYN; one that its own deadline ended before it
		// started sent nothing.
		var oe *net.OpError
		failed := errors.As(err, &oe) && oe.Op == "dial" || errors.Is(err, net.ErrClosed)
		if first && n == 0 && failed && fc.firstFail == 0 {
			fc.firstFail = len(b)
		}
		fc.mu.Unlock()
	case opRead:
		fc.mu.Lock()
		if fc.rdl.IsZero() || time.Until(fc.rdl) > fuzzReadLimit {
			fc.rdl = time.Now().Add(fuzzReadLimit)
			c.SetReadDeadline(fc.rdl)
		}
		fc.mu.Unlock()
		b := make([]byte, int(arg)+1)
		n, err = c.Read(b)
		fc.mu.Lock()
		fc.read = append(fc.read, b[:n]...)
		fc.mu.Unlock()
	case opSetDeadline, opSetReadDeadline:
		dl := fuzzDeadline(arg)
		fc.mu.Lock()
		fc.rdl = dl
		fc.mu.Unlock()
		if op == opSetDeadline {
			err = c.SetDeadline(dl)
		} else {
			err = c.SetReadDeadline(dl)
		}
	case opSetWriteDeadline:
		err = c.SetWriteDeadline(fuzzDeadline(arg))
	case opClose:
		err = c.Close()
		fc.mu.Lock()
		fc.closed = true
		fc.mu.Unlock()
	case opCloseWrite:
		err = c.CloseWrite()
	case opCloseRead:
		err = c.CloseRead()
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.trace = append(fc.trace, fmt.Sprintf("%s(%d) = %d, %v", opNames[op], arg, n, err))
	if err == nil {
		return
	}
	var oe *net.OpError
	if !errors.As(err, &oe) && !(op == opRead && err == io.EOF) {
		fc.t.Errorf("%s(%d): error %v (%T) is not a *net.OpError", opNames[op], arg, err, err)
	}
	if closed && !errors.Is(err, net.ErrClosed) {
		fc.t.Errorf("%s(%d) after Close: %v; want net.ErrClosed", opNames[op], arg, err)
	}
}

// check checks what the server read and what the client read against what was written.
func (fc *fuzzConn) check(got, sent []byte) {
	t := fc.t
	trace := strings.Join(fc.trace, "\n")
	if !bytes.Equal(got, fuzzStream[:len(got)]) {
		t.Errorf("the server read bytes the client did not write, or out of order; calls:\n%s", trace)
	}
	if max := fc.written + fc.firstFail; len(got) > max {
		t.Errorf("the server read %d bytes; the Writes reported %d, and a failed first Write had %d; calls:\n%s", len(got), fc.written, fc.firstFail, trace)
	}
	if !bytes.HasPrefix(sent, fc.read) {
		t.Errorf("the client read %q, which the server did not write (%q); calls:\n%s", fc.read, sent, trace)
	}
}
