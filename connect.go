package tfo

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"
)

// This file holds the connect that a dial deferred to the first write: who starts it,
// how it tries the host's addresses, and how calls wait for it.
//
// The call that starts the connect (the first Write, a Read whose wait has passed,
// CloseWrite) first tries to complete it at once, as over loopback, where the
// handshake is over by the time the write that sent the SYN returns. Otherwise a
// goroutine takes over the connect with a copy of the bytes its SYN carries, and the
// calls wait for it within their own deadlines: a deadline that passes fails the call,
// never the connect, which goes on within the time the dial left it.

// pending is what a conn needs until it has connected.
type pending struct {
	plan dialPlan

	mu sync.Mutex
	// held is true while a call holds the connect: the call that starts it, or a
	// Write before the conn has connected, which holds it until its bytes are written,
	// so that a concurrent Write cannot overtake them.
	held        bool
	run         *connectRun // the connect in progress, or the last one
	established bool        // the socket has completed its handshake and is the conn's for good
	checked     bool        // whether the socket connected during the dial has been asked
	readWaitEnd time.Time   // when Reads before any Write stop waiting; zero before the first
	speaker     bool        // the server is known to speak first, so Reads do not wait
	by          uint8       // what connected the conn: viaDial, viaWrite...
	told        Outcome     // what the platform told of the socket that connected, if not OutcomePending
	raced       bool        // the socket that connected raced the first, without data
	wake        chan struct{}
	rdl, wdl    time.Time                  // deadlines set by the caller
	opts        []func(*net.TCPConn) error // options set before the connect, for a socket that replaces the first
	err         error                      // why the connect failed

	// raddr is the address the socket connects to. Where the socket connects only at
	// the first write, tc knows neither address; laddr is then set by the connect.
	raddr *net.TCPAddr
	laddr net.Addr
}

// connectRun is a connect that a goroutine carries on.
type connectRun struct {
	data []byte // the bytes the connect carries, for whichever address it reaches
	sent int    // bytes of data that the first socket's connect took already

	// afterHandshake is true when data must not travel in a SYN: it is written once a
	// socket has completed its handshake.
	afterHandshake bool
	first          error // the first socket's error, if it failed already
	cancel         context.CancelFunc
	done           chan struct{} // closed once the fields below are set

	written int   // bytes of data written to the socket that connected
	werr    error // the stream's error writing them
}

// synData returns the bytes of run's data, from the from-th, that a SYN may carry.
func (run *connectRun) synData(from int) []byte {
	if run.afterHandshake {
		return nil
	}
	return run.data[from:]
}

// pendingConn holds a pending conn in one allocation.
type pendingConn struct {
	c Conn
	p pending
}

func newPendingConn(d *Dialer, network string) *pendingConn {
	pc := &pendingConn{}
	pc.c.p = &pc.p
	pc.p.told = OutcomePending
	pc.c.watch.Store(true)
	pc.p.plan.init(d, network)
	return pc
}

// wakeLocked wakes the calls waiting for the conn. p.mu is held.
func (p *pending) wakeLocked() {
	if p.wake != nil {
		close(p.wake)
		p.wake = nil
	}
}

// wakeChan returns a channel that is closed at the next change. p.mu is held.
func (p *pending) wakeChan() <-chan struct{} {
	if p.wake == nil {
		p.wake = make(chan struct{})
	}
	return p.wake
}

// hold waits until no other call holds the connect, then holds it, for a Write.
func (p *pending) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.held {
		wake := p.wakeChan()
		p.mu.Unlock()
		<-wake
		p.mu.Lock()
	}
	p.held = true
}

// release gives up the connect that the caller held, and marks the conn connected if
// it has, so that later calls go straight to its socket.
func (c *Conn) release() {
	p := c.p
	p.mu.Lock()
	p.held = false
	p.wakeLocked()
	settled := c.settleLocked()
	p.mu.Unlock()
	if settled {
		c.decideConnected()
	}
}

// settle marks an established conn connected, unless a call holds the connect; that
// call settles it when it releases the connect.
func (c *Conn) settle() {
	p := c.p
	p.mu.Lock()
	settled := !p.held && c.settleLocked()
	p.mu.Unlock()
	if settled {
		c.decideConnected()
	}
}

// settleLocked marks an established conn connected, and reports whether it did. p.mu
// is held, and no call holds the connect.
func (c *Conn) settleLocked() bool {
	if !c.p.established || c.state.Load() != statePending {
		return false
	}
	c.state.Store(stateConnected)
	return true
}

// start starts the deferred connect, carrying b, which may be empty, in its SYN. The
// caller holds the connect and has seen the conn pending with no connect started. If the
// connect is over by the time start returns, run is nil: err says how it went, and n
// bytes of b were written. Otherwise a goroutine carries on with the connect and all of
// b, and run tells when it is done.
func (c *Conn) start(b []byte, op string, by uint8) (run *connectRun, n int, err error) {
	p := c.p
	p.mu.Lock()
	tc, ra := c.tc, p.raddr
	p.by = by
	p.mu.Unlock()

	syn := b
	if by == viaNotReplayable {
		syn = nil
	}
	n, done, o, err := tryFirst(tc, syn)
	switch {
	case done && (err == nil || streamError(err)):
		// Connected, and if err is not nil, ended by the server since.
		if o != OutcomePending {
			p.mu.Lock()
			p.told = o
			p.mu.Unlock()
		}
		if eerr := c.establish(nil); eerr != nil {
			// Closed meanwhile: the socket took n bytes before.
			return nil, n, eerr
		}
		if err != nil {
			return nil, n, c.opError(op, err)
		}
		return nil, n, nil
	case done && !errors.Is(err, errFastOpenRefused) && !(retryable(err) && len(p.plan.addrs) > 1):
		return nil, 0, c.fail(op, p.plan.dialError(ra, err))
	}

	run = &connectRun{sent: n, done: make(chan struct{}), afterHandshake: syn == nil}
	if len(b) > 0 {
		run.data = slices.Clone(b)
	}
	if done {
		run.first, run.sent = err, 0
	}
	// The connect has the time the dial left it, and ends with Close.
	var ctx context.Context
	if p.plan.budget > 0 {
		ctx, run.cancel = context.WithTimeout(context.Background(), p.plan.budget)
	} else {
		ctx, run.cancel = context.WithCancel(context.Background())
	}

	p.mu.Lock()
	if c.state.Load() == stateClosed {
		p.mu.Unlock()
		run.cancel()
		return nil, 0, c.opError(op, net.ErrClosed)
	}
	p.run = run
	p.wakeLocked()
	p.mu.Unlock()
	go c.carryOn(ctx, run, tc, ra)
	return run, 0, nil
}

// streamError reports whether err, from tryFirst, is an error of the stream, which
// the server ended after the handshake.
func streamError(err error) bool {
	var se *os.SyscallError
	return errors.As(err, &se) && se.Syscall == "write"
}

// carryOn carries on with run, a connect that start began on tc, for ra, and tries the
// host's other addresses as the dial would have.
func (c *Conn) carryOn(ctx context.Context, run *connectRun, first *net.TCPConn, ra *net.TCPAddr) {
	defer run.cancel()
	pl := &c.p.plan
	began := time.Now()
	next, other := pl.remaining(ra)
	primaries := append([]*net.TCPAddr{ra}, next...)
	if errors.Is(run.first, errFastOpenRefused) {
		// The system refused fast open since the dial: dial the address again.
		primaries = append([]*net.TCPAddr{ra}, primaries...)
	}
	try := func(ctx context.Context, a attempt) result {
		if a.primary && a.index == 0 {
			if run.first != nil {
				return result{err: pl.dialError(ra, run.first)}
			}
			n, laddr, err := sendFirst(ctx, first, ra, run.synData(run.sent))
			if err != nil {
				return result{err: pl.connectError(ctx, ra, err)}
			}
			return result{tc: first, ra: ra, laddr: laddr, n: run.sent + n}
		}
		tc, ra, err := dialSocket(ctx, &pl.d, pl.network, a.ra.String())
		if err != nil {
			return result{err: err}
		}
		data := run.synData(0)
		if a.racing {
			data = nil
		}
		n, laddr, err := sendFirst(ctx, tc, ra, data)
		if err != nil {
			tc.Close()
			return result{err: pl.connectError(ctx, ra, err)}
		}
		return result{tc: tc, ra: ra, laddr: laddr, n: n, raced: a.racing}
	}
	r := race(ctx, primaries, other, pl.fallbackDelay, try, retryable, pl.dialError)
	if r.err != nil && pl.lost != nil {
		// An address failed during the dial, before this one: net reports its error.
		r.err = pl.lost
	}
	if r.err == nil {
		if r.n < len(run.data) {
			var m int
			m, run.werr = r.tc.Write(run.data[r.n:])
			run.written = r.n + m
		} else {
			run.written = len(run.data)
		}
		if r.tc == first {
			noteLoss(r.tc, r.ra, time.Since(began))
		}
	}
	c.finish(run, r)
}

// noteLoss tells the memory of lost SYNs how the connect of tc, which carried data in
// its SYN to ra and took d, went.
func noteLoss(tc *net.TCPConn, ra *net.TCPAddr, d time.Duration) {
	ip, ok := netip.AddrFromSlice(ra.IP)
	if !ok {
		return
	}
	now := time.Now()
	switch {
	case d >= minSYNTimeout && synDataLost(tc):
		synDataLoss.lost(ip, now)
	case synDataLoss.knows(ip, now):
		if ok, err := FastOpened(tc); ok && err == nil {
			synDataLoss.delivered(ip)
		}
	}
}

// minSYNTimeout is the least time after which a SYN is retransmitted: TCP_RTO_MIN
// (include/net/tcp.h). A connect that took less lost no SYN, and need not be asked.
const minSYNTimeout = 200 * time.Millisecond

// finish records the outcome of run, which carried on with the connect: r's socket,
// which connected, becomes the conn's, or the conn fails with r's error.
func (c *Conn) finish(run *connectRun, r result) {
	p := c.p
	p.mu.Lock()
	defer c.settle()
	defer p.mu.Unlock()
	defer close(run.done)
	switch {
	case c.state.Load() == stateClosed:
		if r.tc != nil && r.tc != c.tc {
			r.tc.Close()
		}
	case r.err != nil:
		c.failLocked("write", r.err)
	default:
		if r.tc != c.tc {
			c.tc.Close()
			c.tc, p.raddr, p.raced = r.tc, r.ra, r.raced
			for _, opt := range p.opts {
				opt(r.tc)
			}
		}
		c.establishLocked(r.laddr)
	}
}

// establish makes the conn's socket, which has completed its handshake, the conn's for
// good: the deadlines set on the conn apply to it. laddr is its local address where the
// socket does not know it.
func (c *Conn) establish(laddr net.Addr) error {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.state.Load() == stateClosed {
		return c.opErrorLocked("write", net.ErrClosed)
	}
	c.establishLocked(laddr)
	return nil
}

func (c *Conn) establishLocked(laddr net.Addr) {
	p := c.p
	if laddr != nil {
		p.laddr = laddr
	}
	// The socket has no deadline of its own: the connect's ended with it.
	if !p.rdl.IsZero() {
		c.tc.SetReadDeadline(p.rdl)
	}
	if !p.wdl.IsZero() {
		c.tc.SetWriteDeadline(p.wdl)
	}
	p.established = true
	p.wakeLocked()
}

// fail records that the connect failed with err, for an op.
func (c *Conn) fail(op string, err error) error {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.state.Load() == stateClosed {
		return c.opErrorLocked(op, net.ErrClosed)
	}
	return c.failLocked(op, err)
}

func (c *Conn) failLocked(op string, err error) error {
	p := c.p
	if errors.Is(err, net.ErrClosed) {
		err = c.opErrorLocked(op, net.ErrClosed)
	}
	p.err = err
	c.tc.Close()
	c.state.Store(stateFailed)
	c.decide(OutcomeNotConnected)
	p.wakeLocked()
	return err
}

// dialError returns err, from a connect to raddr, as the error of a dial.
func (pl *dialPlan) dialError(raddr *net.TCPAddr, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errTimeout
	}
	return dialOpError(&pl.d, pl.network, opAddr(raddr), err)
}

// connectError returns err, from a connect to raddr within ctx, as the error of a dial.
func (pl *dialPlan) connectError(ctx context.Context, raddr *net.TCPAddr, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		err = cerr
	}
	return pl.dialError(raddr, err)
}

// awaitSocket waits, for an op, until the conn has a socket that completed its
// handshake, and returns it. A Read before any Write (read is true) waits for a Write to
// connect the conn, for ReadWait, then connects it without data. The caller's deadline
// for op fails the wait, not the connect.
func (c *Conn) awaitSocket(op string, read bool) (*net.TCPConn, error) {
	var deadline, readWait deadlineTimer
	defer deadline.stop()
	defer readWait.stop()
	for {
		now := time.Now()
		w := c.look(read, now)
		switch {
		case w.settled:
			return c.settledSocket(op)
		case w.tc != nil:
			if w.connectedAtDial {
				c.settle()
			}
			return w.tc, nil
		}
		if w.mayStart && !now.Before(w.startAt) {
			if err, ok := c.startWithout(op, read); ok {
				if err != nil {
					return nil, err
				}
				continue
			}
		}
		expired, passed := deadline.at(w.deadline)
		if passed {
			return nil, c.opError(op, os.ErrDeadlineExceeded)
		}
		var waited <-chan time.Time
		if !w.startAt.IsZero() {
			waited, _ = readWait.at(w.startAt)
		}
		select {
		case <-w.wake:
		case <-expired:
			return nil, c.opError(op, os.ErrDeadlineExceeded)
		case <-waited:
		}
	}
}

// A look is what awaitSocket learns of the conn each time it looks.
type look struct {
	settled         bool         // the conn no longer pending: settledSocket tells the rest
	tc              *net.TCPConn // the socket, once it has completed its handshake
	connectedAtDial bool         // tc connected during the dial, as this look found

	deadline time.Time // the caller's
	mayStart bool      // no connect has started: the caller may start one, at startAt
	startAt  time.Time // for a Read, when its wait for a Write ends
	wake     <-chan struct{}
}

// look returns what awaitSocket, waiting for a Read if read, needs to know of the conn
// at now. The first look finds whether the socket connected during the dial.
func (c *Conn) look(read bool, now time.Time) look {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case c.state.Load() != statePending:
		return look{settled: true}
	case p.established:
		return look{tc: c.tc}
	case p.run == nil && !p.checked:
		p.checked = true
		if !deferred(c.tc) {
			c.establishLocked(nil)
			return look{tc: c.tc, connectedAtDial: true}
		}
	}
	w := look{deadline: p.wdl, mayStart: p.run == nil, wake: p.wakeChan()}
	if !read {
		return w
	}
	w.deadline = p.rdl
	if w.mayStart {
		if p.readWaitEnd.IsZero() {
			p.readWaitEnd = now.Add(p.plan.readWait)
			if ap, ok := addrPort(p.raddr); ok && speaksFirst.known(ap, now) {
				p.readWaitEnd, p.speaker = now, true
			}
		}
		w.startAt = p.readWaitEnd
	}
	return w
}

// startWithout starts the connect without data, if no other call holds the connect and
// no connect has started, and reports whether it could look.
func (c *Conn) startWithout(op string, read bool) (err error, ok bool) {
	p := c.p
	p.mu.Lock()
	switch {
	case p.held:
		p.mu.Unlock()
		return nil, false
	case c.state.Load() != statePending || p.established || p.run != nil:
		p.mu.Unlock()
		return nil, true
	}
	p.held = true
	by := viaClose
	if read {
		by = viaReadWait
		if p.speaker {
			by = viaKnownSpeaker
		}
	}
	p.mu.Unlock()
	defer c.release()
	_, _, err = c.start(nil, op, by)
	return err, true
}

// establishedOrErr returns the conn's socket once it has completed its handshake, or
// why the conn has none.
func (c *Conn) establishedOrErr(op string) (*net.TCPConn, error) {
	if tc := c.establishedSocket(); tc != nil {
		return tc, nil
	}
	if _, err := c.settledSocket(op); err != nil {
		return nil, err
	}
	return nil, c.opError(op, net.ErrClosed)
}

// settledSocket returns the socket of a conn that is no longer pending, or why it has
// none.
func (c *Conn) settledSocket(op string) (*net.TCPConn, error) {
	switch c.state.Load() {
	case stateConnected:
		return c.tc, nil
	case stateFailed:
		c.p.mu.Lock()
		defer c.p.mu.Unlock()
		return nil, c.p.err
	}
	return nil, c.opError(op, net.ErrClosed)
}

// awaitRun waits, for a Write, until run is done, within the write deadline.
func (c *Conn) awaitRun(run *connectRun) error {
	p := c.p
	var deadline deadlineTimer
	defer deadline.stop()
	for {
		p.mu.Lock()
		dl := p.wdl
		wake := p.wakeChan()
		p.mu.Unlock()
		select {
		case <-run.done:
			return nil
		default:
		}
		expired, passed := deadline.at(dl)
		if passed {
			return c.opError("write", os.ErrDeadlineExceeded)
		}
		select {
		case <-run.done:
			return nil
		case <-wake:
		case <-expired:
			return c.opError("write", os.ErrDeadlineExceeded)
		}
	}
}

// writePending writes b on a conn that has not connected: the first Write starts the
// connect with b's first bytes.
func (c *Conn) writePending(b []byte) (int, error) {
	p := c.p
	p.hold()
	defer c.release()
	for {
		p.mu.Lock()
		state, established, run, dl := c.state.Load(), p.established, p.run, p.wdl
		tc := c.tc
		p.mu.Unlock()
		switch {
		case state == stateConnected || state == statePending && established:
			return c.writeSock(tc, b, 0)
		case state != statePending:
			_, err := c.settledSocket("write")
			return 0, err
		case len(b) == 0:
			return 0, nil
		case !dl.IsZero() && !time.Now().Before(dl):
			return 0, c.opError("write", os.ErrDeadlineExceeded)
		case run != nil:
			// A connect is under way, started by a Read or by a Write that returned
			// before it was over: wait for it, then write as on any conn.
			if err := c.awaitRun(run); err != nil {
				return 0, err
			}
			continue
		}
		chunk := b[:min(len(b), firstChunk)]
		by := viaWrite
		if !p.plan.replayable(b) && deferred(tc) {
			// The bytes must not reach the server twice: they follow the handshake.
			by = viaNotReplayable
		}
		run, n, err := c.start(chunk, "write", by)
		if err != nil {
			return n, err
		}
		if run == nil {
			return c.writeSock(tc, b[n:], n)
		}
		if err := c.awaitRun(run); err != nil {
			// The connect goes on with chunk, which it delivers once it is over: those
			// bytes are written, as far as the caller is concerned.
			if len(chunk) == len(b) {
				return len(chunk), nil
			}
			return len(chunk), err
		}
		tc, err = c.establishedOrErr("write")
		if err != nil {
			return 0, err
		}
		if run.werr != nil {
			return run.written, c.addrErr(run.werr)
		}
		return c.writeSock(tc, b[len(chunk):], len(chunk))
	}
}

// writeSock writes b on tc, the conn's socket, after n bytes written before.
func (c *Conn) writeSock(tc *net.TCPConn, b []byte, n int) (int, error) {
	if len(b) == 0 {
		return n, nil
	}
	m, err := tc.Write(b)
	return n + m, c.addrErr(err)
}

// addrPort returns a as a netip.AddrPort.
func addrPort(a *net.TCPAddr) (netip.AddrPort, bool) {
	if a == nil {
		return netip.AddrPort{}, false
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port)), ok
}

// firstChunk is how much of the first bytes written the connect of a conn carries:
// what a SYN holds, and no more than the send buffer of a new socket (tcp_wmem), so that
// the connect ends with the handshake.
const firstChunk = 4 << 10

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

// The methods of a Conn that has not connected, which Conn's own methods call: the
// state of the pending connect is read and changed here alone, under p.mu.

// closePending closes a conn that may not have connected: it frees the socket, ends the
// connect, and wakes the calls that wait for it.
func (c *Conn) closePending() error {
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
	if !p.established {
		c.decide(OutcomeNotConnected)
	}
	err := c.tc.Close()
	run := p.run
	p.wakeLocked()
	p.mu.Unlock()
	if run != nil {
		run.cancel()
	}
	return c.addrErr(err)
}

// pendingAddrs returns the local and remote addresses of a conn that may not have
// connected.
func (c *Conn) pendingAddrs() (laddr, raddr net.Addr) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.localAddrLocked(), c.remoteAddrLocked()
}

// setPendingDeadline sets a deadline on a conn that may not have connected: the calls
// that wait for the connect take it, and the socket once it has completed its
// handshake.
func (c *Conn) setPendingDeadline(t time.Time, read, write bool) error {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	switch c.state.Load() {
	case stateConnected:
		return setSocketDeadline(c.tc, t, read, write)
	case statePending:
	default:
		return c.opErrorLocked("set", net.ErrClosed)
	}
	if read {
		p.rdl = t
	}
	if write {
		p.wdl = t
	}
	p.wakeLocked()
	if !p.established {
		return nil // the socket takes the deadlines once it has connected
	}
	return setSocketDeadline(c.tc, t, read, write)
}

// setPendingOption applies opt to the socket of a conn that may not have connected,
// and keeps it for a socket that replaces it when another address is tried.
func (c *Conn) setPendingOption(opt func(*net.TCPConn) error) error {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := opt(c.tc); err != nil {
		return err
	}
	if !p.established {
		p.opts = append(p.opts, opt)
	}
	return nil
}

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
	if err == nil || c.p == nil {
		return err
	}
	oe, ok := err.(*net.OpError)
	if !ok {
		return err
	}
	c.p.mu.Lock()
	laddr, raddr := c.p.laddr, c.p.raddr
	c.p.mu.Unlock()
	if laddr == nil {
		return err
	}
	e := *oe
	e.Source, e.Addr = laddr, raddr
	return &e
}

// opError returns a *net.OpError for op on a conn that was pending.
func (c *Conn) opError(op string, err error) error {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.opErrorLocked(op, err)
}

func (c *Conn) opErrorLocked(op string, err error) error {
	return &net.OpError{Op: op, Net: c.p.plan.network, Source: c.localAddrLocked(), Addr: c.remoteAddrLocked(), Err: err}
}

// spoke records that the server sent data before the conn's first Write.
func (c *Conn) spoke() {
	if !c.watch.Swap(false) {
		return
	}
	c.p.mu.Lock()
	raddr := c.p.raddr
	c.p.mu.Unlock()
	if ap, ok := addrPort(raddr); ok {
		speaksFirst.learn(ap, time.Now())
	}
}

// establishedSocket returns c's socket if it has completed its handshake, or nil.
func (c *Conn) establishedSocket() *net.TCPConn {
	if c.connected() {
		return c.tc
	}
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if c.p.established && c.state.Load() != stateClosed {
		return c.tc
	}
	return nil
}
