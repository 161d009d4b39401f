package tfo

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds everything the package remembers between connections: what the system
// refused, the servers to which SYNs carrying data get lost, and the servers that speak
// first. Each rule is here, with its bounds.

// The system's refusal.
//
// A refusal that may change, such as the client bit of net.ipv4.tcp_fastopen turned
// off, is not remembered: each dial asks again, at the cost of one failed
// setsockopt(2) (BenchmarkDialFastOpenOff), so that the setting takes effect at the next
// dial when it is turned on or off. A refusal that holds for as long as the system runs,
// a kernel without the option (refusedForGood), is remembered for good.

// refusal remembers that the system refused fast open for good, so that later dials do
// not pay for the refusal again.
type refusal struct {
	forGood atomic.Bool  // the system will never take the option
	count   atomic.Int64 // refusals seen, of either kind
}

var clientRefusal refusal

// allowed reports whether fast open is worth trying on a new socket.
func (r *refusal) allowed() bool { return !r.forGood.Load() }

// refuse records that the system refused fast open with err.
func (r *refusal) refuse(err error) {
	r.count.Add(1)
	if refusedForGood(err) {
		r.forGood.Store(true)
	}
}

// Lost SYNs.
//
// A SYN with data can be lost like any packet. The kernel then sends it again without
// the data, after its retransmission timeout of a second. One loss is what a lossy path
// looks like: it says nothing of the next conn. A middlebox that drops every SYN with
// data makes every conn pay that second.
//
// So fast open to a server pauses only after lossesToPause such losses in a row. The
// pause grows with each further loss. It ends when it runs out, or with the first SYN
// whose data the server acknowledged.
//
// This is the kernel's own back-off from Linux 3.7: tcp_fastopen_cookie_check in
// net/ipv4/tcp_fastopen.c allowed no fast open while syn_loss > 1 and jiffies were
// before last_syn_loss + (60*HZ << syn_loss), and tcp_fastopen_cache_set cleared
// syn_loss. darwin does the same (TFO_MAX_COOKIE_LOSS, bsd/netinet/tcp_cache.c).
// Kernels since no longer read syn_loss. Their blackhole detection
// (tcp_fastopen_blackhole_timeout_sec) is off by default, and stops fast open to every
// server at once.
//
// lossesToPause is three, not the kernel's two. With 3% of packets lost, two losses in
// a row come once in a thousand conns, three once in thirty thousand. Each pause costs
// fast open to that server for minutes.

const (
	// lossesToPause is how many SYNs with data to a server must be lost in a row before
	// fast open to it pauses.
	lossesToPause = 3

	// firstPause is the pause after lossesToPause losses, the kernel's first (60 s << 2);
	// it doubles with each further loss, up to maxPause.
	firstPause = 4 * time.Minute
	maxPause   = 24 * time.Hour

	// lossForget is how long a server's losses are remembered after the last one, or
	// after its pause ended.
	lossForget = time.Hour

	// maxServers is how many servers each memory holds at most.
	maxServers = 1024
)

// lossEntry is what lossMemory knows of one server.
type lossEntry struct {
	losses int       // SYNs with data lost in a row
	until  time.Time // the end of the pause, or zero
}

// lossMemory remembers the servers to which SYNs carrying data were lost.
type lossMemory struct{ t table[netip.Addr, lossEntry] }

var synDataLoss lossMemory

// pauseFor returns the pause after losses SYNs with data were lost in a row.
func pauseFor(losses int) time.Duration {
	if losses < lossesToPause {
		return 0
	}
	d := firstPause
	for i := lossesToPause; i < losses && d < maxPause; i++ {
		d *= 2
	}
	return min(d, maxPause)
}

// lost records that a SYN with data to ip was lost at now.
func (m *lossMemory) lost(ip netip.Addr, now time.Time) {
	ip = ip.Unmap()
	m.t.update(ip, now, func(e lossEntry) (lossEntry, time.Time) {
		e.losses++
		if d := pauseFor(e.losses); d > 0 {
			e.until = now.Add(d)
			return e, e.until.Add(lossForget)
		}
		return e, now.Add(lossForget)
	})
}

// delivered records that a server acknowledged the data of a SYN, which ends what is
// remembered of its losses.
func (m *lossMemory) delivered(ip netip.Addr) { m.t.remove(ip.Unmap()) }

// paused reports whether fast open to ip is paused at now.
func (m *lossMemory) paused(ip netip.Addr, now time.Time) bool {
	e, ok := m.t.get(ip.Unmap(), now)
	return ok && now.Before(e.until)
}

// knows reports whether m remembers losses to ip.
func (m *lossMemory) knows(ip netip.Addr, now time.Time) bool {
	_, ok := m.t.get(ip.Unmap(), now)
	return ok
}

// Servers that speak first.
//
// With SMTP, SSH or MySQL the server sends the first bytes, and the client reads before
// it writes. A Read before any Write waits ReadWait for a Write to carry in the SYN;
// for such a server no Write comes, and every connection would wait in vain. So a
// server that sent data on a connection before the client wrote anything is remembered,
// by address and port, for speaksFirstFor, and a Read before any Write on a later
// connection to it connects at once. The first connection to a server, which fetches
// the cookie and connects during the dial, teaches it without waiting.

// speaksFirstFor is how long a server that spoke first is remembered.
const speaksFirstFor = time.Hour

// speakerMemory remembers the servers that speak first.
type speakerMemory struct {
	t table[netip.AddrPort, struct{}]
}

var speaksFirst speakerMemory

// learn records that the server at ap spoke first at now.
func (m *speakerMemory) learn(ap netip.AddrPort, now time.Time) {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	m.t.update(ap, now, func(struct{}) (struct{}, time.Time) { return struct{}{}, now.Add(speaksFirstFor) })
}

// known reports whether the server at ap is known to speak first at now.
func (m *speakerMemory) known(ap netip.AddrPort, now time.Time) bool {
	_, ok := m.t.get(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), now)
	return ok
}

// Cookies.
//
// A conn that asked a server for a cookie tells whether the server gave one only
// through the system's cache of cookies, which the package asks when it reports on
// such a conn (see Report). A server that offers no fast open makes every conn ask
// again, so the answer is remembered for cookieFor.

// cookieMemory remembers whether the system held a cookie for a server.
type cookieMemory struct{ t table[netip.Addr, bool] }

var cookies cookieMemory

// cookieFor is how long cookies remembers an answer.
const cookieFor = 10 * time.Second

// received reports whether the system holds a fast open cookie for ip, asking it with
// ask at most once every cookieFor.
func (m *cookieMemory) received(ip netip.Addr, ask func(netip.Addr) bool) bool {
	now := time.Now()
	if v, ok := m.t.get(ip, now); ok {
		return v
	}
	v := ask(ip)
	m.t.update(ip, now, func(bool) (bool, time.Time) { return v, now.Add(cookieFor) })
	return v
}

// table is a map of at most maxServers entries, each of which expires.
type table[K comparable, V any] struct {
	n       atomic.Int32 // len(entries), read without mu: an empty table costs one load
	mu      sync.Mutex
	entries map[K]tableEntry[V]
}

type tableEntry[V any] struct {
	v       V
	expires time.Time
}

// get returns k's value, unless it has expired at now.
func (t *table[K, V]) get(k K, now time.Time) (V, bool) {
	var zero V
	if t.n.Load() == 0 {
		return zero, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[k]
	if !ok {
		return zero, false
	}
	if !now.Before(e.expires) {
		t.deleteLocked(k)
		return zero, false
	}
	return e.v, true
}

// update sets k's value to what f returns from its current one (the zero value if it
// has none or it expired), with its expiry. A full table first drops its expired
// entries, then the one that expires first.
func (t *table[K, V]) update(k K, now time.Time, f func(V) (V, time.Time)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[k]
	if ok && !now.Before(e.expires) {
		e, ok = tableEntry[V]{}, false
	}
	if !ok && len(t.entries) >= maxServers {
		t.makeRoom(now)
	}
	if t.entries == nil {
		t.entries = make(map[K]tableEntry[V])
	}
	e.v, e.expires = f(e.v)
	t.entries[k] = e
	t.n.Store(int32(len(t.entries)))
}

// makeRoom drops the expired entries, or if there are none the one that expires first.
func (t *table[K, V]) makeRoom(now time.Time) {
	var (
		first   K
		firstAt time.Time
	)
	for k, e := range t.entries {
		if !now.Before(e.expires) {
			delete(t.entries, k)
			continue
		}
		if firstAt.IsZero() || e.expires.Before(firstAt) {
			first, firstAt = k, e.expires
		}
	}
	if len(t.entries) >= maxServers {
		delete(t.entries, first)
	}
}

func (t *table[K, V]) remove(k K) {
	if t.n.Load() == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deleteLocked(k)
}

func (t *table[K, V]) deleteLocked(k K) {
	delete(t.entries, k)
	t.n.Store(int32(len(t.entries)))
}
