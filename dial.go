package tfo

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"os"
	"sync"
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
// When a fast open cookie is cached for the first address of the server, the connect is
// deferred to the first Write (see the package documentation), and:
//   - Timeout and Deadline bound that connect, measured from its start; the context
//     given to DialContext bounds only the DialContext call.
//   - If the address refuses or cannot be reached, the other addresses of the host are
//     resolved again with Resolver and tried one after another, each with the same first
//     bytes. Unlike net.Dialer, the Dialer does not race the other address family after
//     FallbackDelay: a server hands the data of a SYN to its application as soon as the
//     SYN arrives, so racing a slow first address against another would deliver the
//     bytes to both. Set Timeout to bound how long a silent address may hold the dial.
//     Without a cookie the connect happens during the dial, exactly as with net.Dialer,
//     racing included.
//   - Control and ControlContext run before the socket connects, once per address tried,
//     after the option that enables fast open has been set.
//   - With MultipathTCP enabled, the Dialer dials exactly as net.Dialer does.
//
// Networks other than "tcp", "tcp4" and "tcp6" are passed to net.Dialer unchanged.
type Dialer struct {
	net.Dialer

	// DisableTFO, if true, makes every dial connect before it returns, without fast
	// open, exactly as net.Dialer does. The conns are still of type *Conn.
	DisableTFO bool

	// ReadWait is how long a Read on a conn that has not connected yet waits for a first
	// Write before it connects without data. Zero means DefaultReadWait; a negative value
	// makes such a Read connect at once.
	ReadWait time.Duration
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
// deferred connect.
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
		c := &Conn{tc: tc}
		c.state.Store(stateConnected)
		return c, nil
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

func (d *Dialer) dial(ctx context.Context, network, address string) (*Conn, error) {
	if ctx == nil {
		panic("nil context")
	}
	if d.DisableTFO || d.MultipathTCP() || !clientRefusal.allowed() {
		nc, err := d.Dialer.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		c := &Conn{tc: nc.(*net.TCPConn)}
		c.state.Store(stateConnected)
		return c, nil
	}
	ds := dialState{d: d.Dialer, network: network, address: address, wait: d.ReadWait}
	ds.d.ControlContext = d.control()
	ds.d.Control = nil
	tc, ra, err := dialSocket(ctx, &ds.d, network, address)
	if err != nil {
		return nil, err
	}
	// Whether the connect was deferred matters only to a Read before the first Write,
	// which asks the socket.
	return newPendingConn(tc, ra, &ds), nil
}

// dialNet dials address with d and returns the conn and the address it connected to.
func dialNet(ctx context.Context, d *net.Dialer, network, address string) (*net.TCPConn, *net.TCPAddr, error) {
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, nil, err
	}
	tc := nc.(*net.TCPConn)
	return tc, tc.RemoteAddr().(*net.TCPAddr), nil
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
	if user == nil {
		return fastOpenControl
	}
	return func(ctx context.Context, network, address string, c syscall.RawConn) error {
		fastOpenControl(ctx, network, address, c)
		return user(ctx, network, address, c)
	}
}

// fastOpenControl enables fast open on a socket about to connect to address, unless the
// system refused it or SYNs with data to that server get lost. A refusal does not fail
// the dial: the socket connects without fast open.
func fastOpenControl(_ context.Context, _, address string, c syscall.RawConn) error {
	if clientRefusal.allowed() && !synDataLoss.lost(address) {
		c.Control(enableDialFastOpen)
	}
	return nil
}

// enableDialFastOpen is fastOpenControl's work on the socket, a function of its own so
// that the dial allocates nothing for it.
func enableDialFastOpen(fd uintptr) {
	if err := setDialFastOpen(fd); err != nil {
		clientRefusal.refuse(err)
	}
}

// setDialFastOpen is the platform's dialFastOpen, replaceable by tests.
var setDialFastOpen = dialFastOpen

// refusalRetry is how long dials go without fast open after the system refused it for
// a reason that may change, such as the net.ipv4.tcp_fastopen setting.
const refusalRetry = time.Minute

// refusal remembers that the system refused fast open, so that later dials do not pay
// for the refusal again.
type refusal struct {
	until atomic.Int64 // UnixNano until which fast open is not tried; 0: try it
	count atomic.Int64 // refusals seen
}

const refusedForever = math.MaxInt64

var clientRefusal refusal

func (r *refusal) allowed() bool {
	u := r.until.Load()
	return u == 0 || (u != refusedForever && time.Now().UnixNano() >= u)
}

func (r *refusal) refuse(err error) {
	r.count.Add(1)
	if refusedForGood(err) {
		r.until.Store(refusedForever)
	} else {
		r.until.Store(time.Now().Add(refusalRetry).UnixNano())
	}
}

// lossRetry is how long dials to a server go without fast open after a SYN that
// carried data to it was lost.
const lossRetry = 10 * time.Minute

// maxLosses is how many servers synDataLoss remembers at most.
const maxLosses = 1024

// lossMemory remembers the servers to which SYNs carrying data get lost while SYNs
// without data get through, as they do behind a middlebox that drops the former. The
// kernel goes on putting data in the SYNs to such a server (it remembers the loss only
// when the SYN-ACK carries no cookie: tcp_rcv_fastopen_synack in net/ipv4/tcp_input.c),
// and each connection then waits for the SYN's retransmission timeout, a second.
type lossMemory struct {
	n     atomic.Int32 // len(until), read without mu
	mu    sync.Mutex
	until map[netip.Addr]time.Time // the end of each server's lossRetry
}

var synDataLoss lossMemory

// add remembers that a SYN with data to ip was lost.
func (m *lossMemory) add(ip netip.Addr) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.until == nil {
		m.until = make(map[netip.Addr]time.Time)
	}
	if len(m.until) >= maxLosses {
		for a, u := range m.until {
			if !now.Before(u) {
				delete(m.until, a)
			}
		}
		if len(m.until) >= maxLosses {
			return
		}
	}
	m.until[ip.Unmap()] = now.Add(lossRetry)
	m.n.Store(int32(len(m.until)))
}

// lost reports whether a SYN with data to address, an IP address and port, was lost less
// than lossRetry ago.
func (m *lossMemory) lost(address string) bool {
	if m.n.Load() == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.until[ip]
	if ok && !time.Now().Before(u) {
		delete(m.until, ip)
		m.n.Store(int32(len(m.until)))
		return false
	}
	return ok
}

// dialState is what a deferred connect needs of the dial that deferred it.
type dialState struct {
	d       net.Dialer // with the fast open control
	network string
	address string // as given to Dial
	wait    time.Duration
}

func (ds *dialState) readWait() time.Duration {
	if ds.wait == 0 {
		return DefaultReadWait
	}
	return ds.wait
}

// deadline returns the dialer's deadline for a connect that starts now.
func (ds *dialState) deadline() time.Time {
	var dl time.Time
	if ds.d.Timeout > 0 {
		dl = time.Now().Add(ds.d.Timeout)
	}
	return earliest(dl, ds.d.Deadline)
}

func (ds *dialState) dialError(raddr net.Addr, err error) error {
	return dialOpError(&ds.d, ds.network, raddr, err)
}

// dialOpError returns the error of a dial of network from d, as net.Dialer reports it.
func dialOpError(d *net.Dialer, network string, raddr net.Addr, err error) error {
	var src net.Addr
	if la, ok := d.LocalAddr.(*net.TCPAddr); ok && la != nil {
		src = la
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = errTimeout
	}
	return &net.OpError{Op: "dial", Net: network, Source: src, Addr: raddr, Err: err}
}

// errFastOpenRefused says that the system refused fast open on a socket whose connect
// was already deferred; the address is dialed again without it.
var errFastOpenRefused = errors.New("fast open refused")

// A deadliner gives a connect its deadline. Where the connect waits through tc's
// poller, tc's write deadline is that deadline already.
type deadliner interface {
	// watchDeadline returns the deadline, and a channel closed when it may have
	// changed.
	watchDeadline() (time.Time, <-chan struct{})
}

// connectFirst sends b as the first bytes of tc, whose socket was made by dialSocket
// for ra. If the connect was deferred, the SYN carries b's first bytes. connectFirst
// returns once the handshake has completed or dl's deadline has passed, with the local
// address when tc does not know it; a failed connect returns a *net.OpError with Op
// "dial".
func (ds *dialState) connectFirst(tc *net.TCPConn, ra *net.TCPAddr, b []byte, dl deadliner) (net.Addr, error) {
	laddr, err := sendFirst(tc, ra, b, dl)
	switch {
	case err == nil:
		return laddr, nil
	case errors.Is(err, net.ErrClosed):
		return nil, net.ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = errTimeout
	}
	return nil, ds.dialError(ra, err)
}

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
	return errors.Is(err, errTimeout)
}

// otherAddrs resolves the dialed host again and returns its addresses other than
// failed: those of failed's family first, as net.Dialer orders them.
func (ds *dialState) otherAddrs(failed *net.TCPAddr, limit time.Time) []*net.TCPAddr {
	host, _, err := net.SplitHostPort(ds.address)
	if err != nil || host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // a literal address has no others
	}
	ctx := context.Background()
	if !limit.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, limit)
		defer cancel()
	}
	ips, err := lookupIPs(ctx, &ds.d, ds.network, host)
	if err != nil {
		return nil
	}
	failedIP, _ := netip.AddrFromSlice(failed.IP)
	failedIP = failedIP.Unmap()
	var same, other []*net.TCPAddr
	for _, ip := range ips {
		if ip == failedIP {
			continue
		}
		a := net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(failed.Port)))
		if ip.Is4() == failedIP.Is4() {
			same = append(same, a)
		} else {
			other = append(other, a)
		}
	}
	return append(same, other...)
}

// lookupIPs resolves host with d's Resolver for a TCP network, and returns the addresses
// that d's LocalAddr can reach, in the resolver's order.
func lookupIPs(ctx context.Context, d *net.Dialer, network, host string) ([]netip.Addr, error) {
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ipNetwork := "ip"
	switch network {
	case "tcp4":
		ipNetwork = "ip4"
	case "tcp6":
		ipNetwork = "ip6"
	}
	ips, err := r.LookupNetIP(ctx, ipNetwork, host)
	if err != nil {
		return nil, err
	}
	fit := ips[:0]
	for _, ip := range ips {
		if ip = ip.Unmap(); fitsLocalAddr(d, ip) {
			fit = append(fit, ip)
		}
	}
	return fit, nil
}

// fitsLocalAddr reports whether ip can be dialed from d's LocalAddr.
func fitsLocalAddr(d *net.Dialer, ip netip.Addr) bool {
	la, ok := d.LocalAddr.(*net.TCPAddr)
	if !ok || la == nil || la.IP == nil || la.IP.IsUnspecified() {
		return true
	}
	return (la.IP.To4() != nil) == ip.Is4()
}

// dialAddr dials one address of the host, with its share of the time left before limit.
func (ds *dialState) dialAddr(ra *net.TCPAddr, limit time.Time, remaining int) (*net.TCPConn, error) {
	dl, err := partialDeadline(time.Now(), limit, remaining)
	if err != nil {
		return nil, ds.dialError(ra, err)
	}
	ctx := context.Background()
	if !dl.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl)
		defer cancel()
	}
	tc, _, err := dialSocket(ctx, &ds.d, ds.network, ra.String())
	return tc, err
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

// errTimeout is the error of a deferred connect that ran out of time. Like net's dial
// timeouts it matches [context.DeadlineExceeded], and like a deadline set on a conn it
// matches [os.ErrDeadlineExceeded].
var errTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func (timeoutError) Is(err error) bool {
	return err == context.DeadlineExceeded || err == os.ErrDeadlineExceeded
}
