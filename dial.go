package tfo

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultReadWait is how long a Read on a conn that has not connected yet waits for a
// first Write when [Dialer.ReadWait] is zero.
const DefaultReadWait = 200 * time.Millisecond

// A Dialer is like [net.Dialer] but fast-opens TCP connections. Every field of the
// embedded net.Dialer keeps its meaning; the zero value is ready to use.
//
// When a fast open cookie is cached for the address a dial reaches first, the connect
// is deferred to the first Write; the package documentation says what it keeps of
// net.Dialer's contract. For the fields:
//   - Timeout, Deadline and the context's deadline bound the deferred connect with the
//     time the dial had left when it returned, counted from the start of the connect,
//     shared among the host's addresses as net.Dialer shares it.
//   - FallbackDelay (300 ms when zero, no racing when negative) starts the other
//     family's addresses racing a first address that has not completed its handshake.
//     A racing connect carries no data in its SYN: the bytes follow its handshake. The
//     first handshake wins, and the other socket is aborted.
//   - Control and ControlContext run on every socket, once per address tried, after
//     the option that enables fast open has been set.
//   - With MultipathTCP enabled, the Dialer fast-opens MPTCP conns where the system
//     lets it (Linux 6.1 and later); where it does not, the conn connects as
//     net.Dialer's does, and Report says OutcomeMultipath.
//
// Networks other than "tcp", "tcp4" and "tcp6" are passed to net.Dialer unchanged.
type Dialer struct {
	net.Dialer

	// DisableTFO, if true, makes every dial connect before it returns, without fast
	// open, exactly as net.Dialer does. The conns are still of type *Conn.
	DisableTFO bool

	// ReadWait is how long a Read on a conn that has not connected yet waits for a first
	// Write before it connects without data. Zero means DefaultReadWait; a negative value
	// makes such a Read connect at once. It is one wait per conn, however many Reads
	// share it, and none for a server known to speak first: one that sent data before
	// the client wrote on an earlier conn (remembered for an hour, by address and port).
	ReadWait time.Duration

	// Replayable decides whether the first Write on a conn whose connect was deferred
	// may travel in the SYN, where its bytes can reach the server twice (see Replayed
	// data in the package documentation). It is called with that Write's bytes, which
	// it must not keep. When it returns false, the conn connects without data and then
	// writes them, as a net conn does, and Report says OutcomeNotReplayable. Nil means
	// DefaultReplayable, which keeps out the HTTP requests that net/http never sends
	// twice; AlwaysReplayable lets every first Write in.
	Replayable func(b []byte) bool

	// Loopback, if true, fast-opens conns to loopback addresses (127.0.0.0/8, ::1) too.
	// By default they connect as net.Dialer's do. Over loopback fast open saves some
	// microseconds, and a server's response can reach the client before the SYN-ACK
	// sent ahead of it; the client drops it, and the server sends it again 200 ms later
	// (about one new conn in 20,000; see docs/what-happens-when.md). Report says
	// OutcomeLoopback for such a conn.
	Loopback bool
}

// Dial is like [net.Dial] but fast-opens TCP connections; see [Dialer].
func Dial(network, address string) (net.Conn, error) {
	var d Dialer
	return d.Dial(network, address)
}

// DialTimeout is like [net.DialTimeout] but fast-opens TCP connections. The timeout
// also bounds a connect deferred to the first Write.
func DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	d := Dialer{Dialer: net.Dialer{Timeout: timeout}}
	return d.Dial(network, address)
}

// DialTCP is like [net.DialTCP] but returns a fast-opening [*Conn].
func DialTCP(network string, laddr, raddr *net.TCPAddr) (*Conn, error) {
	var d Dialer
	if laddr != nil {
		d.LocalAddr = laddr
	}
	return d.dialTCP(context.Background(), network, laddr, raddr)
}

// Dial is like [net.Dialer.Dial].
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext is like [net.Dialer.DialContext]. For TCP networks the conn is a [*Conn].
// Once DialContext has returned, the end of ctx does not affect the conn, even before a
// deferred connect; the time its deadline had left bounds that connect.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return d.Dialer.DialContext(ctx, network, address)
	}
	c, err := d.dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DialTCP is like [net.Dialer.DialTCP] but returns a fast-opening [*Conn]. As with net,
// laddr replaces the Dialer's LocalAddr, and a zero laddr leaves the local address to
// the system.
func (d *Dialer) DialTCP(ctx context.Context, network string, laddr, raddr netip.AddrPort) (*Conn, error) {
	dd := *d
	la := net.TCPAddrFromAddrPort(laddr)
	dd.LocalAddr = la
	return dd.dialTCP(ctx, network, la, net.TCPAddrFromAddrPort(raddr))
}

func (d *Dialer) dialTCP(ctx context.Context, network string, laddr, raddr *net.TCPAddr) (*Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Addr: opAddr(raddr), Err: net.UnknownNetworkError(network)}
	}
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: opAddr(laddr), Addr: nil, Err: errMissingAddress}
	}
	if !addrsFit(network, laddr, raddr) {
		// net refuses these addresses, or maps an IPv4 address into IPv6, where the
		// same addresses as strings would be filtered out: let it report its own error.
		tc, err := net.DialTCP(network, laddr, raddr)
		if err != nil {
			return nil, err
		}
		return connectedConn(tc, OutcomeUnknown), nil
	}
	return d.dial(ctx, network, raddr.String())
}

// addrsFit reports whether addrs, given to a function of network that takes a
// *net.TCPAddr, mean the same as strings: their ports are in range, and the families of
// those with a specified IP agree with each other and with network.
func addrsFit(network string, addrs ...*net.TCPAddr) bool {
	var family string
	switch network {
	case "tcp4", "tcp6":
		family = network
	}
	for _, a := range addrs {
		if a == nil {
			continue
		}
		if a.Port < 0 || a.Port > 0xffff {
			return false
		}
		if a.IP == nil || a.IP.IsUnspecified() {
			continue
		}
		f := "tcp6"
		if a.IP.To4() != nil {
			f = "tcp4"
		}
		if family != "" && f != family {
			return false
		}
		family = f
	}
	return true
}

// opAddr returns a as a net.Addr, nil (not a typed nil) when a is nil.
func opAddr(a *net.TCPAddr) net.Addr {
	if a == nil {
		return nil
	}
	return a
}

var errMissingAddress = errors.New("missing address")

func (d *Dialer) dial(ctx context.Context, network, address string) (*Conn, error) {
	if ctx == nil {
		panic("nil context")
	}
	if why := plainDial(d); why != OutcomePending {
		nc, err := d.Dialer.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return connectedConn(nc.(*net.TCPConn), why), nil
	}
	ctx, cancel := dialContext(ctx, &d.Dialer)
	defer cancel()
	pc := newPendingConn(d, network)
	r := pc.p.plan.dialFirst(ctx, address)
	if r.err != nil {
		return nil, r.err
	}
	pc.p.raced, pc.p.laddr = r.raced, r.laddr
	if dl, ok := ctx.Deadline(); ok {
		// What the dial had left, for a connect deferred to the first write. A dial that
		// returns has some left: net's would have failed otherwise.
		pc.p.plan.budget = max(time.Until(dl), time.Millisecond)
	}
	pc.c.tc, pc.p.raddr = r.tc, r.ra
	return &pc.c, nil
}

// plainDial returns why d dials without fast open, or OutcomePending if it does not.
func plainDial(d *Dialer) Outcome {
	switch {
	case d.DisableTFO:
		return OutcomeDisabled
	case !clientRefusal.allowed():
		return OutcomeSystemRefused
	}
	return OutcomePending
}

// connectedConn returns a Conn around tc, which connected during the dial without
// fast open, for the reason why.
func connectedConn(tc *net.TCPConn, why Outcome) *Conn {
	c := &Conn{tc: tc}
	c.state.Store(stateConnected)
	c.decide(why)
	return c
}

// dialContext returns ctx bounded as net.Dialer bounds a dial: by d's Timeout and
// Deadline, and ended by d's Cancel.
func dialContext(ctx context.Context, d *net.Dialer) (context.Context, context.CancelFunc) {
	var dl time.Time
	if d.Timeout != 0 { // including negative, as with net
		dl = time.Now().Add(d.Timeout)
	}
	dl = earliest(dl, d.Deadline)
	cancel := func() {}
	if cur, ok := ctx.Deadline(); !dl.IsZero() && (!ok || dl.Before(cur)) {
		ctx, cancel = context.WithDeadline(ctx, dl)
	}
	//lint:ignore SA1019 a drop-in for net.Dialer honours its Cancel as net.Dialer does
	if oldCancel := d.Cancel; oldCancel != nil {
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		go func() {
			select {
			case <-oldCancel:
				stop()
			case <-ctx.Done():
			}
		}()
		prev := cancel
		cancel = func() { stop(); prev() }
	}
	return ctx, cancel
}

// A dialPlan is what a connect deferred to the first write needs of the dial that
// deferred it.
type dialPlan struct {
	d             net.Dialer // the caller's, with the fast open control; no Timeout, Deadline or Cancel
	network       string
	addrs         []*net.TCPAddr // the host's addresses, in the order the dial tries them, when more than one
	fellBack      bool           // the dial reached an address of the other family than the first
	budget        time.Duration  // the time the dial had left when it returned; zero: no limit
	dialed        time.Time      // when the dial started
	readWait      time.Duration
	fallbackDelay time.Duration       // negative: no racing
	lost          error               // an address that failed during the dial: its error, which net would report if the connect fails too
	replayable    func(b []byte) bool // whether a first Write may travel in the SYN
	loopback      bool                // whether the conn fast-opens to a loopback address
}

func (pl *dialPlan) init(d *Dialer, network string) {
	pl.d = d.Dialer
	// The deferred connect has the dial's time left, and is not canceled with it.
	//lint:ignore SA1019 Cancel is cleared, not used
	pl.d.Timeout, pl.d.Deadline, pl.d.Cancel = 0, time.Time{}, nil
	pl.d.ControlContext = d.control()
	pl.d.Control = nil
	pl.network = network
	pl.dialed = time.Now()
	pl.readWait = d.ReadWait
	if pl.readWait == 0 {
		pl.readWait = DefaultReadWait
	}
	pl.loopback = d.loopback()
	pl.replayable = d.Replayable
	if pl.replayable == nil {
		pl.replayable = DefaultReplayable
	}
	pl.fallbackDelay = d.FallbackDelay
	if pl.fallbackDelay == 0 {
		pl.fallbackDelay = 300 * time.Millisecond // as net.Dialer
	}
}

// dialFirst dials address for the plan: it resolves the address, as net.Dialer does,
// and returns the result of the first address that connects, or whose connect is
// deferred to the first write, or the dial's error. A host with several addresses is
// dialed as net.Dialer dials it, one address after another within its share of ctx's
// deadline, and racing the other family after the fallback delay.
func (pl *dialPlan) dialFirst(ctx context.Context, address string) result {
	host, _, err := net.SplitHostPort(address)
	if err != nil || host == "" || isLiteral(host) {
		// One address, which net resolves with its own errors.
		tc, ra, err := dialSocket(ctx, &pl.d, pl.network, address)
		return result{tc: tc, ra: ra, err: err}
	}
	addrs, err := resolveAddrs(ctx, &pl.d, pl.network, address)
	if err != nil {
		return result{err: &net.OpError{Op: "dial", Net: pl.network, Source: nil, Addr: nil, Err: err}}
	}
	if len(addrs) > 1 {
		pl.addrs = addrs
	}
	primaries, fallbacks := pl.partition(addrs)
	r := race(ctx, primaries, fallbacks, pl.fallbackDelay, func(ctx context.Context, a attempt) result {
		tc, ra, err := dialSocket(ctx, &pl.d, pl.network, a.ra.String())
		if err != nil || !a.racing || !deferred(tc) {
			return result{tc: tc, ra: ra, err: err}
		}
		// A deferred connect has sent nothing, and must not beat the other family's
		// handshake, which may still complete: this one completes its own first,
		// without data, as the racing connect of the first write does.
		_, laddr, err := sendFirst(ctx, tc, ra, nil)
		if err != nil {
			tc.Close()
			return result{err: pl.connectError(ctx, ra, err)}
		}
		return result{tc: tc, ra: ra, laddr: laddr, raced: true}
	}, func(error) bool { return true }, func(ra *net.TCPAddr, err error) error {
		return dialOpError(&pl.d, pl.network, ra, err)
	})
	if r.err == nil {
		pl.fellBack, pl.lost = !r.primary, r.lost
	}
	return r
}

// partition splits addrs into those of the first one's family and the others, as
// net.Dialer does for racing, when the network has both families and racing is on.
func (pl *dialPlan) partition(addrs []*net.TCPAddr) (primaries, fallbacks []*net.TCPAddr) {
	if pl.network != "tcp" || pl.fallbackDelay < 0 || len(addrs) == 0 {
		return addrs, nil
	}
	four := addrs[0].IP.To4() != nil
	for _, a := range addrs {
		if (a.IP.To4() != nil) == four {
			primaries = append(primaries, a)
		} else {
			fallbacks = append(fallbacks, a)
		}
	}
	return primaries, fallbacks
}

// remaining returns the addresses that a deferred connect whose socket was made for cur
// may still try after it, in the dial's order: those that follow it one after another,
// and when the families race, to race them, those of the other family, unless the dial
// fell back to cur's family already.
func (pl *dialPlan) remaining(cur *net.TCPAddr) (next, other []*net.TCPAddr) {
	racing := pl.network == "tcp" && pl.fallbackDelay >= 0
	four := cur.IP.To4() != nil
	after := false
	for _, a := range pl.addrs {
		switch {
		case a.IP.Equal(cur.IP) && a.Zone == cur.Zone:
			after = true
		case !racing || (a.IP.To4() != nil) == four:
			if after {
				next = append(next, a)
			}
		case !pl.fellBack:
			other = append(other, a)
		}
	}
	return next, other
}

// isLiteral reports whether host is an IP address, with or without a zone.
func isLiteral(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// resolveAddrs resolves address, a host and a port, for a dial of network with d, as
// net.Dialer does, and returns its addresses in the order net.Dialer tries them. An
// empty host is the unspecified address, which means the local system.
func resolveAddrs(ctx context.Context, d *net.Dialer, network, address string) ([]*net.TCPAddr, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	portnum, err := r.LookupPort(ctx, network, port)
	if err != nil {
		return nil, err
	}
	var ips []net.IPAddr
	switch {
	case host == "" && network == "tcp6":
		ips = []net.IPAddr{{IP: net.IPv6unspecified}}
	case host == "":
		ips = []net.IPAddr{{IP: net.IPv4zero}}
	default:
		if ips, err = r.LookupIPAddr(ctx, host); err != nil {
			return nil, err
		}
	}
	var addrs []*net.TCPAddr
	for _, ip := range ips {
		four := ip.IP.To4() != nil
		if network == "tcp4" && !four || network == "tcp6" && four {
			continue
		}
		addrs = append(addrs, &net.TCPAddr{IP: ip.IP, Port: portnum, Zone: ip.Zone})
	}
	if len(addrs) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	if d.LocalAddr == nil {
		return addrs, nil
	}
	la, ok := d.LocalAddr.(*net.TCPAddr)
	if !ok {
		return nil, &net.AddrError{Err: "mismatched local address type", Addr: d.LocalAddr.String()}
	}
	if la == nil || la.IP == nil || la.IP.IsUnspecified() {
		return addrs, nil
	}
	fit := addrs[:0]
	for _, a := range addrs {
		if a.IP.IsUnspecified() || (a.IP.To4() != nil) == (la.IP.To4() != nil) {
			fit = append(fit, a)
		}
	}
	if len(fit) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: la.String()}
	}
	return fit, nil
}

// An attempt is one address that race tries.
type attempt struct {
	ra      *net.TCPAddr
	primary bool // in the first family
	index   int  // in its family's list
	racing  bool // the other family may still connect
}

// A result is the outcome of an attempt: a socket that connected, or whose connect is
// deferred, or an error.
type result struct {
	tc      *net.TCPConn
	ra      *net.TCPAddr
	laddr   net.Addr // the local address, where tc does not know it
	n       int      // bytes of the data that the connect carried
	err     error
	primary bool
	raced   bool // the attempt raced the other family, without data in its SYN

	// lost is, for a result that won after an earlier address failed, the error net
	// would report if this one failed too: the first address's.
	lost error
}

// race tries primaries one after another and, once delay has passed or the primaries
// have all failed, fallbacks the same way, as net.Dialer does (dialParallel and
// dialSerial in net/dial.go). Each address gets its share of the time left before ctx's
// deadline. try runs each attempt; an attempt whose error fails retry ends its list.
// The first result without an error wins; the sockets of later ones are closed. With
// every address failed, the error is the first of the primaries; fail makes the errors
// of addresses that race does not try.
func race(ctx context.Context, primaries, fallbacks []*net.TCPAddr, delay time.Duration,
	try func(context.Context, attempt) result, retry func(error) bool, fail func(*net.TCPAddr, error) error) result {
	if len(fallbacks) == 0 {
		return serial(ctx, primaries, true, func() bool { return false }, try, retry, fail)
	}
	rc := &racer{try: try, retry: retry, fail: fail, results: make(chan result), returned: make(chan struct{})}
	defer close(rc.returned)
	p, f := &addrFamily{ras: primaries, primary: true}, &addrFamily{ras: fallbacks}
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	p.started.Store(true)
	go rc.run(pctx, p, f)
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var failed raceFailures
	for {
		select {
		case <-timer.C:
			f.started.Store(true)
			go rc.run(fctx, f, p)
		case r := <-rc.results:
			if over, won := failed.add(r); over {
				return won
			}
			if r.primary && timer.Stop() {
				// The primaries failed before the delay: start the fallbacks now.
				timer.Reset(0)
			}
		}
	}
}

// An addrFamily is one address family's list of a race.
type addrFamily struct {
	ras           []*net.TCPAddr
	primary       bool
	started, done atomic.Bool
}

// racing reports whether the family may still connect: its list has started and not
// ended. An attempt of the other family then races it.
func (f *addrFamily) racing() bool { return f.started.Load() && !f.done.Load() }

// A racer runs the families of a race.
type racer struct {
	try      func(context.Context, attempt) result
	retry    func(error) bool
	fail     func(*net.TCPAddr, error) error
	results  chan result
	returned chan struct{} // closed once race has returned
}

// run tries f's addresses one after another, racing other, and hands the result to
// race, or closes its socket if race has returned.
func (rc *racer) run(ctx context.Context, f, other *addrFamily) {
	r := serial(ctx, f.ras, f.primary, other.racing, rc.try, rc.retry, rc.fail)
	f.done.Store(true)
	select {
	case rc.results <- r:
	case <-rc.returned:
		if r.tc != nil {
			r.tc.Close()
		}
	}
}

// raceFailures holds what failed in a race.
type raceFailures struct{ primary, fallback *result }

// add takes r, a family's result, and reports whether the race is over, with what it
// returns: r if it connected, the primaries' error once both families failed.
func (rf *raceFailures) add(r result) (over bool, won result) {
	if r.err == nil {
		if !r.primary && rf.primary != nil {
			r.lost = rf.primary.err
		}
		return true, r
	}
	if r.primary {
		rf.primary = &r
	} else {
		rf.fallback = &r
	}
	if rf.primary != nil && rf.fallback != nil {
		return true, *rf.primary
	}
	return false, result{}
}

// serial tries ras one after another for race. racing tells, as each attempt starts,
// whether the other family may still connect.
func serial(ctx context.Context, ras []*net.TCPAddr, primary bool, racing func() bool,
	try func(context.Context, attempt) result, retry func(error) bool, fail func(*net.TCPAddr, error) error) result {
	var first result
	for i, ra := range ras {
		if err := ctx.Err(); err != nil {
			// As net's dialSerial: the error of the address not tried.
			return result{err: fail(ra, err), primary: primary}
		}
		actx := ctx
		if dl, ok := ctx.Deadline(); ok {
			pdl, err := partialDeadline(time.Now(), dl, len(ras)-i)
			if err != nil {
				if first.err == nil {
					first.err = fail(ra, err)
				}
				break
			}
			if pdl.Before(dl) {
				var cancel context.CancelFunc
				actx, cancel = context.WithDeadline(ctx, pdl)
				defer cancel()
			}
		}
		r := try(actx, attempt{ra: ra, primary: primary, index: i, racing: racing()})
		r.primary = primary
		if r.err == nil {
			r.lost = first.err
			return r
		}
		if first.err == nil || errors.Is(first.err, errFastOpenRefused) {
			// The first address's error is the one to report, unless the address is
			// dialed again without fast open: that dial's is.
			first = r
		}
		if !retry(r.err) {
			break
		}
	}
	if first.err == nil {
		first.err = &net.OpError{Op: "dial", Net: "tcp", Err: errMissingAddress}
	}
	first.primary = primary
	return first
}

// partialDeadline returns the deadline for one of addrsRemaining addresses, as
// net.Dialer spreads a timeout over a host's addresses.
func partialDeadline(now, deadline time.Time, addrsRemaining int) (time.Time, error) {
	if deadline.IsZero() {
		return deadline, nil
	}
	timeRemaining := deadline.Sub(now)
	if timeRemaining <= 0 {
		return time.Time{}, errTimeout
	}
	timeout := timeRemaining / time.Duration(addrsRemaining)
	const saneMinimum = 2 * time.Second
	if timeout < saneMinimum {
		if timeRemaining < saneMinimum {
			timeout = timeRemaining
		} else {
			timeout = saneMinimum
		}
	}
	return now.Add(timeout), nil
}

// control returns the ControlContext of a fast-opening dial: it enables fast open on
// the socket, then runs the caller's Control or ControlContext.
func (d *Dialer) control() func(ctx context.Context, network, address string, c syscall.RawConn) error {
	user := d.ControlContext
	if user == nil && d.Control != nil {
		control := d.Control
		user = func(_ context.Context, network, address string, c syscall.RawConn) error {
			return control(network, address, c)
		}
	}
	fastOpen := controls[b2i(d.MultipathTCP())][b2i(d.loopback())]
	if user == nil {
		return fastOpen
	}
	return func(ctx context.Context, network, address string, c syscall.RawConn) error {
		fastOpen(ctx, network, address, c)
		return user(ctx, network, address, c)
	}
}

// controls are the ControlContexts that enable fast open, by whether the Dialer uses
// MPTCP and whether it fast-opens to loopback addresses: functions made once, so that
// a dial allocates nothing for them.
var controls = [2][2]func(ctx context.Context, network, address string, c syscall.RawConn) error{
	{fastOpenControl(enableDialFastOpen, false), fastOpenControl(enableDialFastOpen, true)},
	{fastOpenControl(tryDialFastOpen, false), fastOpenControl(tryDialFastOpen, true)},
}

// testHookLoopback makes every Dialer fast-open to loopback addresses, for the tests,
// whose servers are there.
var testHookLoopback bool

// loopback reports whether d fast-opens to loopback addresses.
func (d *Dialer) loopback() bool { return d.Loopback || testHookLoopback }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fastOpenControl returns a ControlContext that enables fast open with enable on a
// socket about to connect to address, unless the system refused it for good, fast open
// to that server is paused, or the address is a loopback one and loopback is false. A
// refusal does not fail the dial: the socket connects without fast open.
func fastOpenControl(enable func(fd uintptr), loopback bool) func(context.Context, string, string, syscall.RawConn) error {
	return func(_ context.Context, _, address string, c syscall.RawConn) error {
		if fastOpenWanted(address, loopback) {
			c.Control(enable)
		}
		return nil
	}
}

// fastOpenWanted reports whether a socket about to connect to address asks for fast
// open: the system has not refused it for good, fast open to that server is not
// paused, and the address is not a loopback one, unless loopback is true.
func fastOpenWanted(address string, loopback bool) bool {
	if !clientRefusal.allowed() {
		return false
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return true
	}
	ip := ap.Addr().Unmap()
	return (loopback || !ip.IsLoopback()) && !synDataLoss.paused(ip, time.Now())
}

// enableDialFastOpen is fastOpenControl's work on the socket, a function of its own so
// that the dial allocates nothing for it.
func enableDialFastOpen(fd uintptr) {
	if err := setDialFastOpen(fd); err != nil {
		clientRefusal.refuse(err)
	}
}

// tryDialFastOpen is enableDialFastOpen for a Dialer with MultipathTCP. Linux 6.1 and
// later take TCP_FASTOPEN_CONNECT on an MPTCP socket, and fast-open on it; older ones
// refuse it there alone (ENOPROTOOPT from mptcp_setsockopt_sol_tcp in
// net/mptcp/sockopt.c, EOPNOTSUPP before 5.14), and the socket connects as net's does.
// That refusal says nothing of plain TCP sockets, so it is not remembered; net makes a
// plain socket in place of an MPTCP one the system does not have, and that one takes
// the option as any other.
func tryDialFastOpen(fd uintptr) { setDialFastOpen(fd) }

// setDialFastOpen is the platform's dialFastOpen, replaceable by tests.
var setDialFastOpen = dialFastOpen

// dialOpError returns the error of a dial of network from d, as net.Dialer reports it.
func dialOpError(d *net.Dialer, network string, raddr net.Addr, err error) error {
	var src net.Addr
	if la, ok := d.LocalAddr.(*net.TCPAddr); ok && la != nil {
		src = la
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		err = errTimeout
	case errors.Is(err, context.Canceled):
		err = errCanceled
	}
	return &net.OpError{Op: "dial", Net: network, Source: src, Addr: raddr, Err: err}
}

// errFastOpenRefused says that the system refused fast open on a socket whose connect
// was already deferred; the address is dialed again without it.
var errFastOpenRefused = errors.New("tfo: fast open refused since the dial")

// retryable reports whether a deferred connect that failed with err may go on with the
// host's next address: either the address took no connection, so it got no data, or the
// time for this address ran out.
func retryable(err error) bool {
	if errors.Is(err, errFastOpenRefused) {
		return true
	}
	var se *os.SyscallError
	if errors.As(err, &se) && (se.Syscall == "connect" || se.Syscall == "connectex") {
		return unreachable(se.Err)
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// errTimeout and errCanceled are the errors of a dial that ran out of time or was
// canceled, as net's dial reports them (mapErr in net/net.go): "i/o timeout", a
// timeout that matches context.DeadlineExceeded, and "operation was canceled", which
// matches context.Canceled. net does not export its values, so these copy their types.
var (
	errTimeout  error = &timeoutError{}
	errCanceled error = canceledError{}
)

type timeoutError struct{}

func (*timeoutError) Error() string     { return "i/o timeout" }
func (*timeoutError) Timeout() bool     { return true }
func (*timeoutError) Temporary() bool   { return true }
func (*timeoutError) Is(err error) bool { return err == context.DeadlineExceeded }

type canceledError struct{}

func (canceledError) Error() string     { return "operation was canceled" }
func (canceledError) Is(err error) bool { return err == context.Canceled }

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
