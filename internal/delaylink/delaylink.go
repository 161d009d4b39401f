// Package delaylink joins two private network namespaces by a link that holds each
// packet for half a round-trip time, keeps the packets in order and drops only those a
// filter chooses, so that programs can measure and test TCP over a slow network on one
// machine without touching the host's network or settings.
//
// Each namespace has lo up, net.ipv4.tcp_fastopen=3, and a TUN device, delay0, whose
// addresses are in 198.18.0.0/30 and 2001:2::/64, the ranges set aside for benchmarks
// (RFC 2544, RFC 5180). For each direction one goroutine reads the packets that one
// device sends and another writes them to the other device once their delay has passed.
//
// A socket belongs to the namespace of the thread that made it, so listeners and dials
// must be made on a thread of the namespace, with [Namespace.Do] or [Namespace.Dial];
// the sockets can then be used from any goroutine. The namespaces have no name, so
// nothing outlives the process: each ends once [Link.Close] has returned and the
// sockets made in it are closed, or with the process.
//
// It needs Linux, and root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
package delaylink

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Device is the name of the link's device in each namespace.
const Device = "delay0"

// MTU is the MTU of the link's devices.
const MTU = 1500

// queueLen is how many packets a direction holds at most; the reader waits when it is
// full, and the kernel then drops what the device's own queue cannot hold.
const queueLen = 1 << 14

// A Config describes a link.
type Config struct {
	// RTT is the round-trip time the link adds: it holds each packet for RTT/2.
	RTT time.Duration

	// Drop, if not nil, is called with each packet the link receives, an IPv4 or IPv6
	// packet from either namespace, and the packet is dropped if it returns true. It
	// may be called from two goroutines at once, and must not keep p. See SYNWithData.
	Drop func(p []byte) bool
}

// A Link joins two network namespaces, A and B.
type Link struct {
	// A and B are the two ends.
	A, B *Namespace

	rtt       time.Duration
	drop      func([]byte) bool
	devs      [2]*os.File
	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	forwarded, dropped, failed atomic.Int64
}

// Stats counts the packets a link has received.
type Stats struct {
	Forwarded int64 // delivered to the other namespace
	Dropped   int64 // dropped because Config.Drop returned true
	Failed    int64 // refused by the other namespace's device
}

// New makes two network namespaces and joins them by a link that delays each packet by
// cfg.RTT/2. Close releases them.
func New(cfg Config) (*Link, error) {
	if cfg.RTT < 0 {
		return nil, errors.New("delaylink: negative RTT")
	}
	l := &Link{rtt: cfg.RTT, drop: cfg.Drop, closing: make(chan struct{})}
	ends := []struct {
		ns   **Namespace
		addr netip.Prefix
		ip6  netip.Prefix
	}{
		{&l.A, netip.MustParsePrefix("198.18.0.1/30"), netip.MustParsePrefix("2001:2::1/64")},
		{&l.B, netip.MustParsePrefix("198.18.0.2/30"), netip.MustParsePrefix("2001:2::2/64")},
	}
	for i, e := range ends {
		ns, dev, err := newNamespace(e.addr, e.ip6)
		if err != nil {
			l.Close()
			return nil, err
		}
		*e.ns, l.devs[i] = ns, dev
	}
	l.move(l.devs[0], l.devs[1])
	l.move(l.devs[1], l.devs[0])
	return l, nil
}

// RTT returns the round-trip time the link adds.
func (l *Link) RTT() time.Duration { return l.rtt }

// Stats returns the link's counts so far.
func (l *Link) Stats() Stats {
	return Stats{Forwarded: l.forwarded.Load(), Dropped: l.dropped.Load(), Failed: l.failed.Load()}
}

// Close stops the link, drops the packets it holds, and ends the threads of both
// namespaces. A call that Namespace.Do runs delays Close until it returns. Sockets made
// in the namespaces stay open until closed, and the namespaces with them.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		close(l.closing)
		for _, dev := range l.devs {
			if dev != nil {
				dev.Close()
			}
		}
		l.wg.Wait()
		for _, ns := range []*Namespace{l.A, l.B} {
			if ns != nil {
				ns.close()
			}
		}
	})
	return nil
}

// A packet is one the link holds until its time comes.
type packet struct {
	due time.Time
	buf *[MTU]byte
	n   int
}

var bufs = sync.Pool{New: func() any { return new([MTU]byte) }}

// move starts moving packets from the device src to the device dst.
func (l *Link) move(src, dst *os.File) {
	q := make(chan packet, queueLen)
	l.wg.Add(2)
	go l.receive(src, q)
	go l.deliver(dst, q)
}

// receive reads the packets from src and queues those it does not drop, each with the
// time when it is due, until src is closed.
func (l *Link) receive(src *os.File, q chan<- packet) {
	defer l.wg.Done()
	defer close(q)
	delay := l.rtt / 2
	for {
		buf := bufs.Get().(*[MTU]byte)
		n, err := src.Read(buf[:])
		if err != nil {
			bufs.Put(buf)
			return
		}
		due := time.Now().Add(delay)
		if l.drop != nil && l.drop(buf[:n]) {
			l.dropped.Add(1)
			bufs.Put(buf)
			continue
		}
		select {
		case q <- packet{due, buf, n}:
		case <-l.closing:
			bufs.Put(buf)
			return
		}
	}
}

// deliver writes the packets from q to dst, each when it is due. All packets have the
// same delay, so they fall due in the order of q.
func (l *Link) deliver(dst *os.File, q <-chan packet) {
	defer l.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for p := range q {
		if d := time.Until(p.due); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-l.closing:
				return
			}
		}
		_, err := dst.Write(p.buf[:p.n])
		bufs.Put(p.buf)
		switch {
		case err == nil:
			l.forwarded.Add(1)
		case errors.Is(err, os.ErrClosed):
			return
		default:
			l.failed.Add(1)
		}
	}
}

// A Namespace is one end of a link: a network namespace, and the threads that run in
// it.
type Namespace struct {
	addr, addr6 netip.Addr
	threads
}

// Addr returns the IPv4 address of the namespace's end of the link.
func (n *Namespace) Addr() netip.Addr { return n.addr }

// Addr6 returns the IPv6 address of the namespace's end of the link.
func (n *Namespace) Addr6() netip.Addr { return n.addr6 }

// A DialFunc dials as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Dial returns a DialFunc that calls dial on a thread of n, so that the sockets it makes
// are made in n. It suits http.Transport.DialContext. A socket that a conn makes later,
// outside dial, belongs to the namespace of the thread that makes it: so does one that
// a tfo.Conn makes to try the next address of a host at its first Write, which must
// then be called in Do to stay in n.
func (n *Namespace) Dial(dial DialFunc) DialFunc {
	return func(ctx context.Context, network, address string) (c net.Conn, err error) {
		if derr := n.Do(func() error {
			c, err = dial(ctx, network, address)
			return nil
		}); derr != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: derr}
		}
		return c, err
	}
}
