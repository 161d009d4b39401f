// Package tfo is a drop-in for the TCP parts of package net that uses TCP Fast Open
// (RFC 7413): on a repeat connection to a server, the first bytes written travel in the
// SYN, and the first response arrives one round trip sooner.
//
// [Dial] replaces [net.Dial], [Listen] replaces [net.Listen], and [Dialer.DialContext]
// fits wherever a DialContext function is expected, such as an [net/http.Transport].
// Where fast open cannot happen (the kernel setting is off, the kernel is too old, the
// server does not offer it, the operating system has no support), everything behaves as
// it does with package net.
//
// # The deferred connect
//
// Once a client holds a fast open cookie for a server, a dial resolves the address and
// makes the socket but sends nothing: the SYN leaves with the first Write, carrying its
// bytes. Errors that net reports at Dial, such as a refused port, then show at that
// first Write (or the first Read) as a [*net.OpError] with Op "dial". When the server
// has several addresses and the first refuses or cannot be reached, the next is tried
// with the same bytes before that Write returns. The first Write returns once the
// handshake has completed.
//
// A Read before any Write waits up to [Dialer.ReadWait] for a Write, since clients such
// as net/http start reading before they write; then it connects without data, so that
// protocols in which the server speaks first still work.
//
// # Platforms
//
// On Linux a dial sets TCP_FASTOPEN_CONNECT, and the connect is deferred only when a
// cookie is cached for the server. On macOS and iOS the first Write connects with
// connectx(2), on FreeBSD with sendto(2), and on Windows with ConnectEx carrying its
// bytes; nothing there tells whether a cookie is cached, so every dial defers its
// connect to the first Write. On other systems every dial connects at once, as with
// package net, and listeners are plain.
//
// # Replayed data
//
// Data carried in a SYN can be delivered to the server application twice: a SYN can be
// retransmitted, or duplicated in the network, and a server accepts each copy that holds
// a valid cookie. Write only idempotent first bytes, such as an HTTP GET or a TLS
// ClientHello. For the same reason, a first Write that fails after the SYN has left may
// have delivered its bytes anyway.
package tfo

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is a TCP connection that may not have connected yet. It has every method of
// [*net.TCPConn]; the first Write performs a connect that Dial deferred.
//
// After the connect, every method acts on the underlying [*net.TCPConn].
type Conn struct {
	state atomic.Uint32 // stateConnected once tc is final; read without p.mu
	tc    *net.TCPConn  // guarded by p.mu until state is stateConnected
	p     *pending      // nil for a conn that connected during the dial
}

const (
	statePending uint32 = iota
	stateConnected
	stateFailed // the deferred connect failed: p.err holds why
	stateClosed // closed before the connect completed
)

// pending is what a conn needs until its first Write. Its socket was dialed with fast
// open, and its connect may have been deferred.
type pending struct {
	dial dialState

	connect sync.Mutex // held by whoever performs the deferred connect

	mu         sync.Mutex
	done       chan struct{}              // made for a waiting Read; closed when the conn stops pending
	rdl, wdl   time.Time                  // deadlines set by the caller
	dlChanged  chan struct{}              // closed when a deadline changes, for a waiting Read or connect
	connecting bool                       // a connect is in progress
	byRead     bool                       // that connect was started by a Read
	limit      time.Time                  // the dialer's deadline for that connect, or zero
	opts       []func(*net.TCPConn) error // options set before the connect, replayed on a new socket
	err        error                      // why the connect failed

	// raddr is the address that the socket connects to. Where the socket connects only
	// at the first write, tc knows neither address; laddr is then set by the connect.
	raddr *net.TCPAddr
	laddr net.Addr
}

// pendingConn holds a pending conn in one allocation.
type pendingConn struct {
	c Conn
	p pending
}

func newPendingConn(tc *net.TCPConn, raddr *net.TCPAddr, ds *dialState) *Conn {
	pc := &pendingConn{c: Conn{tc: tc}, p: pending{dial: *ds, raddr: raddr}}
	pc.c.p = &pc.p
	return &pc.c
}

var errMissingAddress = errors.New("missing address")

func (c *Conn) ok() bool { return c != nil && c.tc != nil }

// connected reports whether c has completed its connect, so that c.tc is final.
func (c *Conn) connected() bool { return c.state.Load() == stateConnected }

// sock returns the current socket.
func (c *Conn) sock() *net.TCPConn {
	if c.connected() {
		return c.tc
	}
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.tc
}

// addrErr returns err, an error of tc after the connect, with the conn's addresses
// where tc does not know them: where the socket connected at its first write, net
// learnt neither address when it wrapped the socket (see pending.laddr).
func (c *Conn) addrErr(err error) error {
	if err == nil || c.p == nil || c.p.laddr == nil {
		return err
	}
	if oe, ok := err.(*net.OpError); ok {
		e := *oe
		e.Source, e.Addr = c.p.laddr, c.p.raddr
		return &e
	}
	return err
}

// opError returns a *net.OpError for op on a conn that was pending.
func (c *Conn) opError(op string, err error) error {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.opErrorLocked(op, err)
}

// Read implements the [net.Conn] Read method. On a conn that has not connected yet, it
// waits up to [Dialer.ReadWait] for a Write, then connects without data.
func (c *Conn) Read(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	if !c.connected() {
		if len(b) == 0 {
			return 0, c.stateErr("read")
		}
		if err := c.awaitConnect(); err != nil {
			return 0, err
		}
	}
	n, err := c.tc.Read(b)
	if err != nil {
		err = c.addrErr(err)
	}
	return n, err
}

// Write implements the [net.Conn] Write method. The first Write on a conn whose connect
// was deferred sends the SYN with as much of b as it carries, waits for the handshake,
// and writes the rest.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	if !c.connected() {
		if len(b) == 0 {
			return 0, c.stateErr("write")
		}
		p := c.p
		p.connect.Lock()
		if c.state.Load() == statePending {
			// The connect carries no more than a SYN and a new socket's send buffer
			// hold, so that the dialer's time limit and the errors of a dial apply to
			// the connect alone. The rest is written as by net, with its count and
			// errors, before a concurrent Write may start.
			first := b[:min(len(b), firstChunk)]
			err := c.connect(first, false)
			n := 0
			if err == nil {
				n = len(first)
				if n < len(b) {
					var m int
					m, err = c.tc.Write(b[n:])
					err = c.addrErr(err)
					n += m
				}
			}
			p.connect.Unlock()
			return n, err
		}
		p.connect.Unlock()
		if err := c.stateErr("write"); err != nil {
			return 0, err
		}
	}
	n, err := c.tc.Write(b)
	if err != nil {
		err = c.addrErr(err)
	}
	return n, err
}

// stateErr returns the error for an operation on a conn that will not connect.
func (c *Conn) stateErr(op string) error {
	switch c.state.Load() {
	case stateFailed:
		c.p.mu.Lock()
		defer c.p.mu.Unlock()
		return c.p.err
	case stateClosed:
		return c.opError(op, net.ErrClosed)
	}
	return nil
}

// awaitConnect waits, on behalf of a Read, until the conn has connected: for a Write to
// connect it, or for the read wait to pass and then connects it without data.
func (c *Conn) awaitConnect() error {
	p := c.p
	// A socket whose dial found no cookie connected then: nothing to wait for.
	if p.connect.TryLock() {
		if c.state.Load() == statePending && !deferred(c.tc) {
			c.finishConnect(nil, true)
		}
		p.connect.Unlock()
	}
	wait := time.NewTimer(p.dial.readWait())
	defer wait.Stop()
	var deadline deadlineTimer
	defer deadline.stop()
	for {
		p.mu.Lock()
		if c.state.Load() != statePending {
			p.mu.Unlock()
			return c.stateErr("read")
		}
		rdl := p.rdl
		if p.dlChanged == nil {
			p.dlChanged = make(chan struct{})
		}
		if p.done == nil {
			p.done = make(chan struct{})
		}
		changed, done := p.dlChanged, p.done
		p.mu.Unlock()

		expired, passed := deadline.at(rdl)
		if passed {
			return c.opError("read", os.ErrDeadlineExceeded)
		}
		select {
		case <-done:
		case <-changed:
		case <-expired:
			return c.opError("read", os.ErrDeadlineExceeded)
		case <-wait.C:
			// No Write came: connect without data, unless a Write is connecting now,
			// in which case keep waiting for it to finish.
			if p.connect.TryLock() {
				err := c.stateErr("read")
				if c.state.Load() == statePending {
					err = c.connect(nil, true)
				}
				p.connect.Unlock()
				return err
			}
		}
	}
}

// deadlineTimer fires at a deadline that may change, with one timer however often it
// changes.
type deadlineTimer struct{ t *time.Timer }

// at returns a channel that receives at dl, nil for a zero dl, or reports that dl has
// passed already.
func (d *deadlineTimer) at(dl time.Time) (fires <-chan time.Time, passed bool) {
	if dl.IsZero() {
		return nil, false
	}
	wait := time.Until(dl)
	if wait <= 0 {
		return nil, true
	}
	if d.t == nil {
		d.t = time.NewTimer(wait)
	} else {
		d.t.Reset(wait)
	}
	return d.t.C, false
}

func (d *deadlineTimer) stop() {
	if d.t != nil {
		d.t.Stop()
	}
}

// connect performs the deferred connect, sending b (which may be empty) in the SYN and
// any rest after the handshake. The caller holds p.connect and has seen statePending.
func (c *Conn) connect(b []byte, byRead bool) error {
	p := c.p
	ds := &p.dial
	p.mu.Lock()
	if c.state.Load() != statePending {
		p.mu.Unlock()
		return c.stateErr(opName(byRead))
	}
	p.connecting, p.byRead, p.limit = true, byRead, ds.deadline()
	tc, raddr := c.tc, p.raddr
	if dl := p.connectDeadline(); !dl.Equal(p.wdl) {
		tc.SetWriteDeadline(dl)
	}
	p.mu.Unlock()

	start := time.Now()
	laddr, err := ds.connectFirst(tc, raddr, b, p)
	if err != nil && retryable(err) && !p.pastCallerDeadline() {
		// Try the server's other addresses, one at a time, with the same bytes. As
		// with net, the error returned is the first address's.
		others := ds.otherAddrs(raddr, p.limit)
		redial := errors.Is(err, errFastOpenRefused)
		if redial {
			others = append([]*net.TCPAddr{raddr}, others...)
		}
		for i, ra := range others {
			ntc, nerr := ds.dialAddr(ra, p.limit, len(others)-i)
			if nerr == nil {
				if nerr = c.replace(ntc, ra); nerr == nil {
					laddr, nerr = ds.connectFirst(ntc, ra, b, p)
				}
			}
			if nerr == nil || (i == 0 && redial) {
				// The same address again, without fast open: its outcome is the one to report.
				err = nerr
			}
			if nerr == nil || !retryable(nerr) || p.pastCallerDeadline() {
				break
			}
		}
	}
	if err == nil && laddr != nil {
		p.mu.Lock()
		p.laddr = laddr
		p.mu.Unlock()
	}
	if err == nil && time.Since(start) >= minSYNTimeout {
		c.noteSYNDataLoss()
	}
	return c.finishConnect(err, byRead)
}

// minSYNTimeout is the least time after which a SYN is retransmitted: TCP_RTO_MIN
// (include/net/tcp.h). A connect that took less lost no SYN, and need not be asked.
const minSYNTimeout = 200 * time.Millisecond

// noteSYNDataLoss remembers the server if the data in the SYN of the conn's socket was
// lost, so that later dials to it go without fast open.
func (c *Conn) noteSYNDataLoss() {
	p := c.p
	p.mu.Lock()
	tc, raddr := c.tc, p.raddr
	p.mu.Unlock()
	if raddr == nil || !synDataLost(tc) {
		return
	}
	if ip, ok := netip.AddrFromSlice(raddr.IP); ok {
		synDataLoss.add(ip)
	}
}

// replace makes tc, made for raddr, the conn's socket, in place of one whose connect
// failed.
func (c *Conn) replace(tc *net.TCPConn, raddr *net.TCPAddr) error {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.state.Load() == stateClosed {
		tc.Close()
		return net.ErrClosed
	}
	c.tc.Close()
	c.tc, p.raddr = tc, raddr
	for _, opt := range p.opts {
		if err := opt(tc); err != nil {
			return err
		}
	}
	tc.SetReadDeadline(p.rdl)
	tc.SetWriteDeadline(p.connectDeadline())
	return nil
}

// finishConnect records the outcome of a deferred connect.
func (c *Conn) finishConnect(err error, byRead bool) error {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.connecting {
		dl := p.connectDeadline()
		p.connecting = false
		if !dl.Equal(p.wdl) {
			c.tc.SetWriteDeadline(p.wdl)
		}
	}
	if c.state.Load() == stateClosed {
		return c.opErrorLocked(opName(byRead), net.ErrClosed)
	}
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			err = c.opErrorLocked(opName(byRead), net.ErrClosed)
		}
		p.err = err
		c.tc.Close()
		c.state.Store(stateFailed)
	} else {
		c.state.Store(stateConnected)
	}
	p.stopWaiting()
	return err
}

// stopWaiting wakes a Read waiting for the conn to stop pending. p.mu is held.
func (p *pending) stopWaiting() {
	if p.done != nil {
		close(p.done)
	}
}

func (c *Conn) opErrorLocked(op string, err error) error {
	return &net.OpError{Op: op, Net: c.p.dial.network, Source: c.localAddrLocked(), Addr: c.remoteAddrLocked(), Err: err}
}

func opName(byRead bool) string {
	if byRead {
		return "read"
	}
	return "write"
}

// connectDeadline returns the write deadline of the socket during a connect: the earlier
// of the caller's deadline for the operation that connects and the dialer's. The
// deferred connect waits for writability, so its bound is the write deadline. Outside a
// connect it is the caller's write deadline. p.mu is held.
func (p *pending) connectDeadline() time.Time {
	if !p.connecting {
		return p.wdl
	}
	own := p.wdl
	if p.byRead {
		own = p.rdl
	}
	return earliest(own, p.limit)
}

// watchDeadline returns the deadline of the connect in progress, and a channel closed
// when a deadline changes, for a connect that waits for its socket outside tc's poller.
func (p *pending) watchDeadline() (time.Time, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dlChanged == nil {
		p.dlChanged = make(chan struct{})
	}
	return p.connectDeadline(), p.dlChanged
}

// pastCallerDeadline reports whether the caller's deadline for the running connect has
// passed, so that no other address should be tried.
func (p *pending) pastCallerDeadline() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	dl := p.wdl
	if p.byRead {
		dl = p.rdl
	}
	return !dl.IsZero() && !time.Now().Before(dl)
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// Close closes the connection. Closing a conn that has not connected frees its socket;
// a Write or Read that is connecting returns an error matching [net.ErrClosed].
func (c *Conn) Close() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.connected() {
		return c.addrErr(c.tc.Close())
	}
	p := c.p
	p.mu.Lock()
	switch c.state.Load() {
	case stateConnected:
		p.mu.Unlock()
		return c.addrErr(c.tc.Close())
	case stateClosed:
		p.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	case stateFailed:
		c.state.Store(stateClosed)
		p.mu.Unlock()
		return nil
	}
	c.state.Store(stateClosed)
	err := c.tc.Close()
	p.stopWaiting()
	p.mu.Unlock()
	return err
}

// LocalAddr returns the local network address. Before the connect it is the address the
// socket is bound to.
func (c *Conn) LocalAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	if !c.connected() {
		c.p.mu.Lock()
		defer c.p.mu.Unlock()
	}
	return c.localAddrLocked()
}

// RemoteAddr returns the remote network address. Before the connect it is the address
// being dialed.
func (c *Conn) RemoteAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	if !c.connected() {
		c.p.mu.Lock()
		defer c.p.mu.Unlock()
	}
	return c.remoteAddrLocked()
}

// localAddrLocked returns the local address: tc's, unless the platform's connect set
// p.laddr. p.mu is held unless c has connected, after which neither changes.
func (c *Conn) localAddrLocked() net.Addr {
	if c.p != nil && c.p.laddr != nil {
		return c.p.laddr
	}
	return c.tc.LocalAddr()
}

// remoteAddrLocked returns the remote address: tc's, or where the socket connects only
// at the first write, the address it connects to. p.mu is held unless c has connected.
func (c *Conn) remoteAddrLocked() net.Addr {
	if a := c.tc.RemoteAddr(); a != nil || c.p == nil || c.p.raddr == nil {
		return a
	}
	return c.p.raddr
}

// SetDeadline implements the [net.Conn] SetDeadline method. A deadline set before the
// connect also bounds the connect.
func (c *Conn) SetDeadline(t time.Time) error { return c.setDeadline(t, true, true) }

// SetReadDeadline implements the [net.Conn] SetReadDeadline method. Set before the
// connect, it also bounds a connect that a Read performs.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(t, true, false) }

// SetWriteDeadline implements the [net.Conn] SetWriteDeadline method. Set before the
// connect, it also bounds the connect that the first Write performs.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, false, true) }

func (c *Conn) setDeadline(t time.Time, read, write bool) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if !c.connected() {
		p := c.p
		p.mu.Lock()
		if !c.connected() {
			defer p.mu.Unlock()
			if c.state.Load() == stateClosed {
				return c.opErrorLocked("set", net.ErrClosed)
			}
			if read {
				p.rdl = t
			}
			if write {
				p.wdl = t
			}
			if p.dlChanged != nil {
				close(p.dlChanged)
				p.dlChanged = nil
			}
			if read {
				c.tc.SetReadDeadline(t)
			}
			return c.tc.SetWriteDeadline(p.connectDeadline())
		}
		p.mu.Unlock()
	}
	switch {
	case read && write:
		return c.tc.SetDeadline(t)
	case read:
		return c.tc.SetReadDeadline(t)
	}
	return c.tc.SetWriteDeadline(t)
}

// setOption applies a socket option. Before the connect, the option is also remembered
// for a socket that replaces the current one when another address is tried.
func (c *Conn) setOption(opt func(*net.TCPConn) error) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.connected() {
		return opt(c.tc)
	}
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := opt(c.tc); err != nil {
		return err
	}
	if !c.connected() {
		p.opts = append(p.opts, opt)
	}
	return nil
}

// SetKeepAlive is like [net.TCPConn.SetKeepAlive].
func (c *Conn) SetKeepAlive(keepalive bool) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetKeepAlive(keepalive) })
}

// SetKeepAlivePeriod is like [net.TCPConn.SetKeepAlivePeriod].
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetKeepAlivePeriod(d) })
}

// SetKeepAliveConfig is like [net.TCPConn.SetKeepAliveConfig].
func (c *Conn) SetKeepAliveConfig(config net.KeepAliveConfig) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetKeepAliveConfig(config) })
}

// SetLinger is like [net.TCPConn.SetLinger].
func (c *Conn) SetLinger(sec int) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetLinger(sec) })
}

// SetNoDelay is like [net.TCPConn.SetNoDelay].
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetNoDelay(noDelay) })
}

// SetReadBuffer is like [net.TCPConn.SetReadBuffer].
func (c *Conn) SetReadBuffer(bytes int) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetReadBuffer(bytes) })
}

// SetWriteBuffer is like [net.TCPConn.SetWriteBuffer].
func (c *Conn) SetWriteBuffer(bytes int) error {
	return c.setOption(func(tc *net.TCPConn) error { return tc.SetWriteBuffer(bytes) })
}

// CloseRead is like [net.TCPConn.CloseRead]. On a conn that has not connected yet, it
// connects first, without data.
func (c *Conn) CloseRead() error {
	if err := c.connectNow(); err != nil {
		return err
	}
	return c.addrErr(c.tc.CloseRead())
}

// CloseWrite is like [net.TCPConn.CloseWrite]. On a conn that has not connected yet, it
// connects first, without data, so that the server sees the end of the stream.
func (c *Conn) CloseWrite() error {
	if err := c.connectNow(); err != nil {
		return err
	}
	return c.addrErr(c.tc.CloseWrite())
}

// connectNow completes a deferred connect without data.
func (c *Conn) connectNow() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if c.connected() {
		return nil
	}
	p := c.p
	p.connect.Lock()
	defer p.connect.Unlock()
	if c.state.Load() == statePending {
		return c.connect(nil, false)
	}
	return c.stateErr("write")
}

// firstChunk is how much of the first bytes written the connect of a conn carries:
// what a SYN holds, and no more than the send buffer of a new socket (tcp_wmem), so that
// the connect ends with the handshake.
const firstChunk = 4 << 10

// ReadFrom implements the [io.ReaderFrom] ReadFrom method. On a conn that has not
// connected yet, the first bytes read from r go out in the SYN; the rest goes through
// [net.TCPConn.ReadFrom], which uses splice or sendfile where it can.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	var n int64
	if !c.connected() {
		buf := make([]byte, firstChunk)
		for {
			m, err := r.Read(buf)
			if m > 0 {
				if _, werr := c.Write(buf[:m]); werr != nil {
					return 0, werr
				}
				n = int64(m)
				break
			}
			if err == io.EOF {
				return 0, nil
			}
			if err != nil {
				return 0, err
			}
		}
	}
	m, err := c.tc.ReadFrom(r)
	return n + m, c.addrErr(err)
}

// WriteTo implements the [io.WriterTo] WriteTo method. On a conn that has not connected
// yet, it first waits as Read does.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	if !c.connected() {
		if err := c.awaitConnect(); err != nil {
			return 0, err
		}
	}
	n, err := c.tc.WriteTo(w)
	return n, c.addrErr(err)
}

// SyscallConn is like [net.TCPConn.SyscallConn]. Before the connect it reaches the
// socket that the connect will use first; if that address fails and another is tried,
// the new socket takes its place.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if !c.ok() {
		return nil, syscall.EINVAL
	}
	if c.connected() {
		return c.tc.SyscallConn()
	}
	rc, err := c.sock().SyscallConn()
	if err != nil {
		return nil, err
	}
	return rawConn{rc}, nil
}

// rawConn hides the poller of a socket that has not connected. Package os's zero-copy
// paths (File.WriteTo, File.ReadFrom) find it through SyscallConn and would move data
// on the socket directly, around the deferred connect; without it they fall back to
// Conn's own ReadFrom and Read.
type rawConn struct{ rc syscall.RawConn }

func (r rawConn) Control(f func(fd uintptr)) error           { return r.rc.Control(f) }
func (r rawConn) Read(f func(fd uintptr) (done bool)) error  { return r.rc.Read(f) }
func (r rawConn) Write(f func(fd uintptr) (done bool)) error { return r.rc.Write(f) }

// File is like [net.TCPConn.File], with the same caveat as [Conn.SyscallConn] before the
// connect.
func (c *Conn) File() (*os.File, error) {
	if !c.ok() {
		return nil, syscall.EINVAL
	}
	return c.sock().File()
}

// MultipathTCP is like [net.TCPConn.MultipathTCP].
func (c *Conn) MultipathTCP() (bool, error) {
	if !c.ok() {
		return false, syscall.EINVAL
	}
	return c.sock().MultipathTCP()
}

// FastOpened reports whether c was fast-opened. On a dialed connection it means that
// the server acknowledged data carried in the SYN; on an accepted connection, that the
// SYN carried data accepted through fast open. c may be a [*Conn], a [*net.TCPConn], or
// a connection that wraps one of them and has a NetConn method, such as a
// [*crypto/tls.Conn]. A [*Conn] that has not connected yet was not fast-opened.
//
// On platforms that cannot tell, the error matches [errors.ErrUnsupported].
func FastOpened(c net.Conn) (bool, error) {
	for {
		switch t := c.(type) {
		case *Conn:
			if !t.ok() {
				return false, syscall.EINVAL
			}
			if !t.connected() {
				return false, nil
			}
			c = t.tc
			continue
		case interface{ NetConn() net.Conn }:
			c = t.NetConn()
			continue
		}
		break
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false, fmt.Errorf("tfo: FastOpened: %T is not a TCP connection", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	return fastOpened(rc)
}

var _ interface {
	net.Conn
	io.ReaderFrom
	io.WriterTo
	syscall.Conn
} = (*Conn)(nil)
