// Package delaylink joins two private network namespaces by a link that holds each
// packet for half a round-trip time, keeps the packets in order and drops only those a
// filter chooses or a seeded random loss takes, so that programs can measure and test
// TCP over a slow network on one machine without touching the host's network or
// settings.
//
// Each namespace has lo up, net.ipv4.tcp_fastopen=3, and a TUN device, delay0, whose
// addresses are in 198.18.0.0/30 and 2001:2::/64, the ranges set aside for benchmarks
// (RFC 2544, RFC 5180). For each direction one goroutine reads the packets that one
// device sends and another writes them to the other device once their delay has passed.
// On the way a link may change packets, as a middlebox that removes options does
// ([StripFastOpen]), drop those a filter chooses ([SYNWithData]), and lose a share of
// them at random, the same packets for the same seed.
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
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
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

// linkPrefix6 is the IPv6 prefix of the link's devices.
var linkPrefix6 = netip.MustParsePrefix("2001:2::/64")

// A Config describes a link.
type Config struct {
	// RTT is the round-trip time the link adds: it holds each packet for RTT/2.
	RTT time.Duration

	// Rewrite, if not nil, is called first with each packet the link receives, an IPv4
	// or IPv6 packet from either namespace. It may change the bytes of p in place, but
	// not its length, and reports whether it changed them. It may be called from two
	// goroutines at once, one per direction, and must not keep p. See StripFastOpen.
	Rewrite func(p []byte) (changed bool)

	// Drop, if not nil, is called next with each packet, as Rewrite left it, and the
	// packet is dropped if it returns true. It may be called from two goroutines at
	// once, one per direction, and must not keep p. See SYNWithData.
	Drop func(p []byte) bool

	// ReplaySYNData, if positive, makes the link send each SYN with data (see
	// SYNWithData) that it delivers a second time, ReplaySYNData after the first, from
	// another source port (ReplayPort), as a network that duplicates packets or an
	// attacker who captured the SYN does. The server takes the copy for a new
	// connection; the client answers its SYN-ACK with a reset.
	ReplaySYNData time.Duration

	// Loss is the share of packets, from 0 to 1, that the link loses at random in
	// each direction, on top of those that Drop drops. Zero means none.
	Loss float64

	// Seed chooses which packets are lost. The link decides the fate of the i-th packet
	// it receives in a direction, counting from 0 and counting every packet, with the
	// i-th number drawn from a generator seeded with Seed and the direction (0 from A
	// to B, 1 from B to A), whatever Rewrite and Drop do: two links with the same Loss
	// and Seed lose the packets of the same places in each direction. LossPattern
	// returns those places.
	Seed uint64
}

// A Link joins two network namespaces, A and B.
type Link struct {
	// A and B are the two ends.
	A, B *Namespace

	rtt       time.Duration
	rewrite   func([]byte) bool
	drop      func([]byte) bool
	loss      float64
	seed      uint64
	replay    time.Duration
	devs      [2]*os.File
	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	forwarded, dropped, lost, failed, rewritten, replayed atomic.Int64
}

// Stats counts the packets a link has received.
type Stats struct {
	Forwarded int64 // delivered to the other namespace
	Dropped   int64 // dropped because Config.Drop returned true
	Lost      int64 // lost at random, as Config.Loss says, and not dropped by Drop
	Failed    int64 // refused by the other namespace's device
	Rewritten int64 // changed by Config.Rewrite, whatever became of them
	Replayed  int64 // SYNs with data sent a second time, as Config.ReplaySYNData says
}

// New makes two network namespaces and joins them by a link that delays each packet by
// cfg.RTT/2. Close releases them.
func New(cfg Config) (*Link, error) {
	if cfg.RTT < 0 {
		return nil, errors.New("delaylink: negative RTT")
	}
	if cfg.ReplaySYNData < 0 {
		return nil, errors.New("delaylink: negative ReplaySYNData")
	}
	if !(cfg.Loss >= 0 && cfg.Loss <= 1) {
		return nil, fmt.Errorf("delaylink: loss %v outside [0, 1]", cfg.Loss)
	}
	l := &Link{rtt: cfg.RTT, rewrite: cfg.Rewrite, drop: cfg.Drop, loss: cfg.Loss, seed: cfg.Seed, replay: cfg.ReplaySYNData, closing: make(chan struct{})}
	ends := []struct {
		ns   **Namespace
		addr netip.Prefix
		ip6  netip.Prefix
	}{
		{&l.A, netip.MustParsePrefix("198.18.0.1/30"), netip.PrefixFrom(netip.MustParseAddr("2001:2::1"), linkPrefix6.Bits())},
		{&l.B, netip.MustParsePrefix("198.18.0.2/30"), netip.PrefixFrom(netip.MustParseAddr("2001:2::2"), linkPrefix6.Bits())},
	}
	for i, e := range ends {
		ns, dev, err := newNamespace(e.addr, e.ip6)
		if err != nil {
			l.Close()
			return nil, err
		}
		*e.ns, l.devs[i] = ns, dev
	}
	l.move(0, l.devs[0], l.devs[1])
	l.move(1, l.devs[1], l.devs[0])
	return l, nil
}

// A lossGen decides which packets a direction of a link loses.
type lossGen struct {
	rate float64
	r    *rand.Rand
}

func newLossGen(rate float64, seed uint64, dir int) *lossGen {
	return &lossGen{rate, rand.New(rand.NewPCG(seed, uint64(dir)))}
}

// next reports whether the next packet is lost.
func (g *lossGen) next() bool {
	return g.rate > 0 && g.r.Float64() < g.rate
}

// LossPattern returns the places, counting from 0, of the packets among the first n
// that a link made with loss and seed loses in direction dir: 0 from A to B, 1 from B
// to A. See Config.Seed.
func LossPattern(loss float64, seed uint64, dir, n int) []int {
	var lost []int
	g := newLossGen(loss, seed, dir)
	for i := range n {
		if g.next() {
			lost = append(lost, i)
		}
	}
	return lost
}

// RTT returns the round-trip time the link adds.
func (l *Link) RTT() time.Duration { return l.rtt }

// Stats returns the link's counts so far.
func (l *Link) Stats() Stats {
	return Stats{
		Forwarded: l.forwarded.Load(),
		Dropped:   l.dropped.Load(),
		Lost:      l.lost.Load(),
		Failed:    l.failed.Load(),
		Rewritten: l.rewritten.Load(),
		Replayed:  l.replayed.Load(),
	}
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

// move starts moving packets from the device src to the device dst, in direction dir.
func (l *Link) move(dir int, src, dst *os.File) {
	q := make(chan packet, queueLen)
	l.wg.Add(2)
	go l.receive(src, dst, q, newLossGen(l.loss, l.seed, dir))
	go l.deliver(dst, q)
}

// receive reads the packets from src and queues those it neither drops nor loses, as
// Rewrite left them, each with the time when it is due, until src is closed. It sends
// the copies of SYNs with data that ReplaySYNData asks for to dst itself.
func (l *Link) receive(src, dst *os.File, q chan<- packet, loss *lossGen) {
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
		lost := loss.next() // drawn for every packet, so that its place alone decides
		if l.rewrite != nil && l.rewrite(buf[:n]) {
			l.rewritten.Add(1)
		}
		if l.drop != nil && l.drop(buf[:n]) {
			l.dropped.Add(1)
			bufs.Put(buf)
			continue
		}
		if lost {
			l.lost.Add(1)
			bufs.Put(buf)
			continue
		}
		if l.replay > 0 && SYNWithData(buf[:n]) {
			l.sendAgain(dst, buf[:n], due.Add(l.replay))
		}
		select {
		case q <- packet{due, buf, n}:
		case <-l.closing:
			bufs.Put(buf)
			return
		}
	}
}

// sendAgain writes a copy of p, a SYN with data, to dst at due, from ReplayPort of its
// source port, unless the link closes first.
func (l *Link) sendAgain(dst *os.File, p []byte, due time.Time) {
	p = slices.Clone(p)
	seg, _ := tcpSegment(p)
	setSourcePort(seg, ReplayPort(binary.BigEndian.Uint16(seg[0:2])))
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTimer(time.Until(due))
		defer t.Stop()
		select {
		case <-t.C:
		case <-l.closing:
			return
		}
		if _, err := dst.Write(p); err == nil {
			l.replayed.Add(1)
		}
	}()
}

// ReplayPort returns the source port of the copy of a SYN sent from port: one outside
// the range that Linux picks ephemeral ports from (32768 to 60999), so that it never
// names a socket of the client.
func ReplayPort(port uint16) uint16 { return port ^ 0x8000 }

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
