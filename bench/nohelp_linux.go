package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastopen/tfo"
	"github.com/fastopen/tfo/internal/delaylink"
	"github.com/fastopen/tfo/internal/dnstable"
	"github.com/fastopen/tfo/internal/tcpmetrics"
	"github.com/fastopen/tfo/internal/workload"
)

// kernelPaying is how many conns the kernel's mechanism makes behind the middlebox.
const kernelPaying = 3

// A sample is the time from the start of a conn to its first byte from the server.
type sample struct {
	d    time.Duration
	fast bool
	err  error
}

// add adds the sample s of side; a failure counts as slower than any success.
func (r *noHelpRow) add(side int, s sample) {
	if s.err != nil {
		r.ms[side] = append(r.ms[side], math.Inf(1))
		if r.errs[side] == nil {
			r.errs[side] = s.err
		}
		return
	}
	r.ms[side] = append(r.ms[side], float64(s.d)/float64(time.Millisecond))
	if s.fast {
		r.fast[side]++
	}
}

// dialers returns the three clients' dial functions, from d. tfo's asks for fast open
// to loopback addresses, where one of the cases runs.
func dialers(d net.Dialer) [3]delaylink.DialFunc {
	kernel := d
	kernel.Control = workload.KernelFastOpen
	return [3]delaylink.DialFunc{d.DialContext, (&tfo.Dialer{Dialer: d, Loopback: true}).DialContext, kernel.DialContext}
}

// firstByte dials address with dial, on a thread of ns unless it is nil, writes req
// unless it is nil, and reads the first byte of the answer, which must be want, within
// wait of the start. All of it runs in ns: a tfo conn whose first address fails makes
// the socket for the next one at its first write.
func firstByte(ctx context.Context, ns *delaylink.Namespace, dial delaylink.DialFunc, address string, req []byte, want byte, wait time.Duration) sample {
	if ns == nil {
		return exchange(ctx, dial, address, req, want, wait)
	}
	var s sample
	if err := ns.Do(func() error {
		s = exchange(ctx, dial, address, req, want, wait)
		return nil
	}); err != nil {
		return sample{err: err}
	}
	return s
}

func exchange(ctx context.Context, dial delaylink.DialFunc, address string, req []byte, want byte, wait time.Duration) sample {
	start := time.Now()
	c, err := dial(ctx, "tcp", address)
	if err != nil {
		return sample{err: err}
	}
	defer c.Close()
	c.SetDeadline(start.Add(wait))
	if req != nil {
		if _, err := c.Write(req); err != nil {
			return sample{err: err}
		}
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		return sample{err: err}
	}
	d := time.Since(start)
	if b[0] != want {
		return sample{err: fmt.Errorf("first byte %q, want %q", b[0], want)}
	}
	fast, err := tfo.FastOpened(c)
	return sample{d: d, fast: fast, err: err}
}

// banner is what the server that speaks first sends on accept, as an SMTP server does.
const banner = "220 nohelp.test ESMTP\r\n"

// speakFirst writes the banner, then reads until the client closes.
func speakFirst(c net.Conn) {
	if _, err := io.WriteString(c, banner); err == nil {
		io.Copy(io.Discard, c)
	}
}

// A middlebox drops the SYNs with data to the IPv6 addresses behind it: the Drop of the
// table's link.
type middlebox struct {
	mu     sync.RWMutex
	behind map[netip.Addr]bool
}

func (m *middlebox) drop(p []byte) bool {
	if len(p) < 40 || p[0]>>4 != 6 {
		return false
	}
	dst := netip.AddrFrom16([16]byte(p[24:40]))
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.behind[dst] && delaylink.SYNWithData(p)
}

// hide puts addr behind the middlebox.
func (m *middlebox) hide(addr netip.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.behind == nil {
		m.behind = map[netip.Addr]bool{}
	}
	m.behind[addr] = true
}

// Addresses of the servers in the links' server namespace, one per case, and per client
// where what a client learns about a server would reach into another's figures: tfo and
// the kernel remember servers by address.
var (
	firstAddr   = netip.MustParseAddr("2001:2::b")
	relayAddr   = netip.MustParseAddr("2001:2::c")
	lossAddrs   = [3]netip.Addr{netip.MustParseAddr("2001:2::d0"), netip.MustParseAddr("2001:2::d1"), netip.MustParseAddr("2001:2::d2")}
	middleAddrs = [3]netip.Addr{netip.MustParseAddr("2001:2::e0"), netip.MustParseAddr("2001:2::e1"), netip.MustParseAddr("2001:2::e2")}
)

// noHelpServers are servers in a link's server namespace, or in bench's own if ns is
// nil.
type noHelpServers struct {
	ns    *delaylink.Namespace
	stops []func()
}

// serve starts a fast open server on addr that handles each conn with handle, and
// returns its address. A conn that stays silent ends after a while, so that no server
// waits for a client whose end is gone.
func (s *noHelpServers) serve(addr netip.AddrPort, handle func(net.Conn)) (string, error) {
	var ln net.Listener
	listen := func() (err error) {
		ln, err = tfo.Listen("tcp", addr.String())
		return err
	}
	var err error
	if s.ns == nil {
		err = listen()
	} else {
		err = s.ns.Do(listen)
	}
	if err != nil {
		return "", err
	}
	s.stops = append(s.stops, workload.Serve(ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(2 * sampleWait))
		handle(c)
	}))
	return ln.Addr().String(), nil
}

// add adds a function for close to call.
func (s *noHelpServers) add(stop func()) { s.stops = append(s.stops, stop) }

// close stops the servers, the last started first.
func (s *noHelpServers) close() {
	for _, stop := range slices.Backward(s.stops) {
		stop()
	}
}

// dualName is the host whose first address is silent.
const dualName = "dual.nohelp.test"

// measureNoHelp measures the cases where fast open cannot help, until ctx is done: over
// links with a round trip of cfg.rtt between two network namespaces, and over loopback
// for the host whose first address is silent.
func measureNoHelp(ctx context.Context, cfg noHelpConfig, prog *progress) (*noHelpResults, error) {
	res := &noHelpResults{cfg: cfg}
	prog.set("where fast open cannot help: making the namespaces")
	var mbox middlebox
	link, err := delaylink.New(delaylink.Config{RTT: cfg.rtt, Drop: mbox.drop})
	if err != nil {
		return nil, err
	}
	defer link.Close()
	srv := &noHelpServers{ns: link.B}
	defer srv.close() // before the link closes
	for _, a := range []netip.Addr{firstAddr, relayAddr} {
		if err := link.B.AddAddr6(a); err != nil {
			return nil, err
		}
	}
	steps := []struct {
		name string
		f    func() (*noHelpRow, error)
	}{
		{"silent IPv6 first", func() (*noHelpRow, error) { return measureSilent(ctx, cfg, prog, res) }},
		{"server speaks first", func() (*noHelpRow, error) { return measureSpeaksFirst(ctx, link, srv, cfg, prog) }},
		{"relay, server first", func() (*noHelpRow, error) { return measureRelay(ctx, link, srv, cfg, prog) }},
		{"3% loss", func() (*noHelpRow, error) { return measureLoss(ctx, cfg, prog, res) }},
		{"drops SYN data", func() (*noHelpRow, error) { return measureMiddlebox(ctx, link, &mbox, cfg, prog) }},
	}
	for _, s := range steps {
		row, err := s.f()
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		row.name = s.name
		res.rows = append(res.rows, row)
	}
	prog.clear()
	return res, nil
}

// warm makes one conn with each dial to address, from ns or, if nil, from bench's own
// namespace, so that the fast open clients fetch their cookie, and checks that the
// kernel holds one for it.
func warm(ctx context.Context, ns *delaylink.Namespace, dials []delaylink.DialFunc, address string, req []byte, want byte) error {
	for _, dial := range dials {
		if s := firstByte(ctx, ns, dial, address, req, want, sampleWait); s.err != nil {
			return fmt.Errorf("warming up %s: %w", address, s.err)
		}
	}
	addr := netip.MustParseAddrPort(address).Addr()
	if ns == nil {
		return hasCookie(addr)
	}
	return ns.Do(func() error { return hasCookie(addr) })
}

// measureSilent times a request to a host whose first address, IPv6, is silent, and
// whose second, IPv4, serves; the kernel holds a cookie for both. It runs over the
// loopback of bench's own namespace: Go's net.Dialer dials the two addresses of a host
// from goroutines of its own, whose sockets a link's namespace would not get. The
// silent address is a listener whose accept queue is full, which drops SYNs without an
// answer.
func measureSilent(ctx context.Context, cfg noHelpConfig, prog *progress, res *noHelpResults) (*noHelpRow, error) {
	srv := &noHelpServers{}
	defer srv.close()
	six, port, err := silentListener(srv)
	if err != nil {
		return nil, err
	}
	four, err := srv.serve(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port), workload.Reply)
	if err != nil {
		return nil, err
	}
	req := make([]byte, workload.MsgSize)
	req[0] = 's'
	if err := warm(ctx, nil, []delaylink.DialFunc{loopbackTFO.DialContext}, four, req, 's'); err != nil {
		return nil, err
	}
	if err := hasCookie(six.Addr()); err != nil {
		return nil, err
	}
	dns := dnstable.New(map[string][]netip.Addr{dualName: {six.Addr(), netip.MustParseAddrPort(four).Addr()}})
	defer dns.Close()
	r := dns.Resolver()
	ips, err := r.LookupNetIP(ctx, "ip", dualName)
	if err != nil {
		return nil, err
	}
	res.first = ips[0].String()
	dials := dialers(net.Dialer{Timeout: dualTimeout, Resolver: r})
	address := net.JoinHostPort(dualName, fmt.Sprint(port))
	row := &noHelpRow{probed: [3]bool{sideKernel: true}, limit: noGainLimit}
	n := min(cfg.n, 3)
	for i := range n {
		prog.set("where fast open cannot help: silent IPv6 first %d/%d", i+1, n)
		for j := range 3 {
			side := (i + j) % 3
			if row.probed[side] && i > 0 {
				continue
			}
			row.add(side, firstByte(ctx, nil, dials[side], address, req, 's', silentWait))
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	return row, nil
}

// silentListener starts a fast open listener on ::1 whose accept queue is full, with a
// conn that fetched the cookie and that it never accepts, so that it drops every SYN
// from then on, and returns its address and port. The port is free on 127.0.0.1 too.
func silentListener(srv *noHelpServers) (netip.AddrPort, uint16, error) {
	for try := 0; ; try++ {
		ln, err := tfo.Listen("tcp6", "[::1]:0")
		if err != nil {
			return netip.AddrPort{}, 0, err
		}
		ap := ln.Addr().(*net.TCPAddr).AddrPort()
		// Is the port free on IPv4?
		probe, err := net.Listen("tcp4", netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port()).String())
		if err != nil {
			ln.Close()
			if try < 10 {
				continue
			}
			return netip.AddrPort{}, 0, err
		}
		probe.Close()
		rc, err := ln.(*net.TCPListener).SyscallConn()
		if err == nil {
			err = rc.Control(func(fd uintptr) { err = unix.Listen(int(fd), 0) })
		}
		var filler net.Conn
		if err == nil {
			filler, err = loopbackTFO.Dial("tcp6", ap.String())
		}
		if err == nil {
			// With a cookie cached already, the dial deferred its connect: the write
			// makes it, and fills the queue.
			if _, err = filler.Write([]byte("fill")); err != nil {
				filler.Close()
			}
		}
		if err != nil {
			ln.Close()
			return netip.AddrPort{}, 0, err
		}
		srv.add(func() {
			filler.Close()
			ln.Close()
		})
		return ap, ap.Port(), nil
	}
}

// hasCookie checks that the kernel holds a fast open cookie for addr.
func hasCookie(addr netip.Addr) error {
	e, err := tcpmetrics.Get(addr, netip.Addr{})
	if err == nil && len(e.Cookie) == 0 {
		err = errors.New("no cookie")
	}
	if err != nil {
		return fmt.Errorf("warming up %v: %w", addr, err)
	}
	return nil
}

// measureSpeaksFirst times the banner of a server that speaks first, on repeat conns.
func measureSpeaksFirst(ctx context.Context, link *delaylink.Link, srv *noHelpServers, cfg noHelpConfig, prog *progress) (*noHelpRow, error) {
	addr, err := srv.serve(netip.AddrPortFrom(firstAddr, 0), speakFirst)
	if err != nil {
		return nil, err
	}
	dials := dialers(net.Dialer{})
	if err := warm(ctx, link.A, dials[:sideKernel], addr, nil, banner[0]); err != nil {
		return nil, err
	}
	return serverFirstRounds(ctx, link.B, "server speaks first", cfg.n, prog, func(side int, wait time.Duration) sample {
		return firstByte(ctx, link.A, dials[side], addr, nil, banner[0], wait)
	})
}

// serverFirstRounds runs n rounds of sample for net and tfo, alternating, each waiting
// up to sampleWait, and probes the kernel's mechanism once, for hangWait: it waits for
// a first write that never comes. It counts the conns that the server, in server,
// accepted at their SYN.
func serverFirstRounds(ctx context.Context, server *delaylink.Namespace, name string, n int, prog *progress, sample func(side int, wait time.Duration) sample) (*noHelpRow, error) {
	row := &noHelpRow{probed: [3]bool{sideKernel: true}, limit: bannerLimit, atSYN: new([3]int)}
	add := func(side int) error {
		before, err := server.ReadTCPExt()
		if err != nil {
			return err
		}
		wait := sampleWait
		if side == sideKernel {
			wait = hangWait
		}
		row.add(side, sample(side, wait))
		after, err := server.ReadTCPExt()
		if err != nil {
			return err
		}
		row.atSYN[side] += int(after["TCPFastOpenPassive"] - before["TCPFastOpenPassive"])
		return ctx.Err()
	}
	for i := range n {
		prog.set("where fast open cannot help: %s %d/%d", name, i+1, n)
		for j := range 2 {
			if err := add((i + j) % 2); err != nil {
				return nil, err
			}
		}
	}
	if err := add(sideKernel); err != nil {
		return nil, err
	}
	return row, nil
}

// measureRelay times the banner of a server that speaks first through a relay that
// dials it with each client and copies both ways, as a SOCKS or TCP proxy does.
func measureRelay(ctx context.Context, link *delaylink.Link, srv *noHelpServers, cfg noHelpConfig, prog *progress) (*noHelpRow, error) {
	target, err := srv.serve(netip.AddrPortFrom(relayAddr, 0), speakFirst)
	if err != nil {
		return nil, err
	}
	dials := dialers(net.Dialer{})
	if err := warm(ctx, link.A, dials[:sideKernel], target, nil, banner[0]); err != nil {
		return nil, err
	}
	var relays [3]string
	for side, dial := range dials {
		var ln net.Listener
		if err := link.A.Do(func() (err error) {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
			return err
		}); err != nil {
			return nil, err
		}
		dial := link.A.Dial(dial)
		srv.add(workload.Serve(ln, func(c net.Conn) { relay(ctx, c, dial, target) }))
		relays[side] = ln.Addr().String()
	}
	client := (&net.Dialer{}).DialContext
	return serverFirstRounds(ctx, link.B, "relay", cfg.n, prog, func(side int, wait time.Duration) sample {
		return firstByte(ctx, link.A, client, relays[side], nil, banner[0], wait)
	})
}

// relay dials target and copies between it and c both ways, until either ends.
func relay(ctx context.Context, c net.Conn, dial delaylink.DialFunc, target string) {
	out, err := dial(ctx, "tcp", target)
	if err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(out, c)
		out.Close()
		c.Close()
	}()
	io.Copy(c, out)
	out.Close()
	c.Close()
	<-done
}

// measureLoss times requests over a link that loses noHelpLoss of the packets each
// way, with a link and servers of its own: a server per client, so that what one
// client's kernel and tfo learn does not change another's figures. The clients run at
// once, each making its conns one after another.
func measureLoss(ctx context.Context, cfg noHelpConfig, prog *progress, res *noHelpResults) (*noHelpRow, error) {
	link, err := delaylink.New(delaylink.Config{RTT: cfg.rtt, Loss: noHelpLoss, Seed: noHelpSeed})
	if err != nil {
		return nil, err
	}
	defer link.Close()
	row := &noHelpRow{lossy: true}
	err = concurrently(ctx, link, lossAddrs, [3]int{cfg.lossN, cfg.lossN, cfg.lossN}, row, prog, "3% loss")
	if s := link.Stats(); s.Forwarded+s.Lost > 0 {
		res.lost = float64(s.Lost) / float64(s.Forwarded+s.Lost)
	}
	return row, err
}

// measureMiddlebox times requests to servers behind a middlebox that drops every SYN
// that carries data, a server per client.
func measureMiddlebox(ctx context.Context, link *delaylink.Link, mbox *middlebox, cfg noHelpConfig, prog *progress) (*noHelpRow, error) {
	for _, a := range middleAddrs {
		mbox.hide(a)
	}
	row := &noHelpRow{paid: true, limit: noGainLimit}
	// The kernel puts data in every SYN for which it holds a cookie, so each of its conns
	// pays a retransmission: a few show it.
	return row, concurrently(ctx, link, middleAddrs, [3]int{cfg.lossN, cfg.lossN, min(cfg.lossN, kernelPaying)}, row, prog, "drops SYN data")
}

// concurrently starts a server on each of addrs, one per client, and makes n[i]
// requests with client i to its own, the clients at once, after one each that fetches the
// cookie, and adds the samples to row.
func concurrently(ctx context.Context, link *delaylink.Link, addrs [3]netip.Addr, n [3]int, row *noHelpRow, prog *progress, name string) error {
	srv := &noHelpServers{ns: link.B}
	defer srv.close()
	req := make([]byte, workload.MsgSize)
	req[0] = 'r'
	dials := dialers(net.Dialer{})
	var servers [3]string
	for side, a := range addrs {
		if err := link.B.AddAddr6(a); err != nil {
			return err
		}
		var err error
		if servers[side], err = srv.serve(netip.AddrPortFrom(a, 0), workload.Reply); err != nil {
			return err
		}
	}
	var samples [3][]sample
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for side := range dials {
		wg.Add(1)
		go func() {
			defer wg.Done()
			firstByte(ctx, link.A, dials[side], servers[side], req, 'r', sampleWait) // fetches the cookie
			for range n[side] {
				if ctx.Err() != nil {
					return
				}
				samples[side] = append(samples[side], firstByte(ctx, link.A, dials[side], servers[side], req, 'r', sampleWait))
				mu.Lock()
				done++
				prog.set("where fast open cannot help: %s %d/%d", name, done, n[0]+n[1]+n[2])
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for side, ss := range samples {
		for _, s := range ss {
			row.add(side, s)
		}
	}
	return ctx.Err()
}
