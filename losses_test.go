package tfo

import (
	"net/netip"
	"testing"
	"time"
)

// TestLossMemory checks the rule for lost SYNs on an injected clock: one or two losses
// in a row do not pause fast open, the third does, for firstPause; each further loss
// doubles the pause up to maxPause; a SYN whose data was acknowledged ends it all; and
// losses are forgotten lossForget after the last one.
func TestLossMemory(t *testing.T) {
	var m lossMemory
	ip := netip.MustParseAddr("192.0.2.1")
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if m.paused(ip, t0) || m.knows(ip, t0) {
		t.Fatal("an empty memory knows a server")
	}
	m.lost(ip, t0)
	m.lost(mapped, t0.Add(time.Second))
	if m.paused(ip, t0.Add(2*time.Second)) {
		t.Fatal("paused after two losses")
	}
	if !m.knows(ip, t0.Add(2*time.Second)) {
		t.Fatal("two losses forgotten at once")
	}
	now := t0.Add(3 * time.Second)
	m.lost(ip, now)
	for _, at := range []time.Duration{0, firstPause - time.Second} {
		if !m.paused(ip, now.Add(at)) || !m.paused(mapped, now.Add(at)) {
			t.Errorf("not paused %v after the third loss", at)
		}
	}
	if m.paused(ip, now.Add(firstPause)) {
		t.Errorf("still paused after %v", firstPause)
	}
	if other := netip.MustParseAddr("192.0.2.2"); m.paused(other, now) {
		t.Error("paused a server it was not told of")
	}

	// The pause doubles with each loss after it.
	now = now.Add(firstPause)
	for losses, want := lossesToPause+1, 2*firstPause; losses <= 20; losses, want = losses+1, min(2*want, maxPause) {
		now = now.Add(time.Minute)
		if m.paused(ip, now) {
			t.Fatalf("%d losses: paused after the pause", losses)
		}
		if !m.knows(ip, now) {
			t.Fatalf("%d losses: forgotten a minute after the pause", losses)
		}
		m.lost(ip, now)
		if !m.paused(ip, now.Add(want-time.Second)) || m.paused(ip, now.Add(want)) {
			t.Fatalf("%d losses: want a pause of %v", losses, want)
		}
		now = now.Add(want)
	}

	// A delivered SYN ends it.
	m.delivered(mapped)
	if m.knows(ip, now) {
		t.Error("remembered after the server acknowledged SYN data")
	}
	m.lost(ip, now)
	m.lost(ip, now)
	m.lost(ip, now)
	if !m.paused(ip, now) {
		t.Error("not paused after three losses following a delivery")
	}

	// Forgotten lossForget after the last loss.
	other := netip.MustParseAddr("192.0.2.3")
	m.lost(other, now)
	if !m.knows(other, now.Add(lossForget-time.Second)) || m.knows(other, now.Add(lossForget)) {
		t.Errorf("a loss not forgotten after %v", lossForget)
	}
}

// TestMemoryBounds checks that the memories hold at most maxServers servers, dropping
// expired entries first and then the one that expires first.
func TestMemoryBounds(t *testing.T) {
	var m speakerMemory
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	addr := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 25)
	}
	for i := range maxServers {
		m.learn(addr(i), t0.Add(time.Duration(i)*time.Second))
	}
	if n := m.t.n.Load(); n != maxServers {
		t.Fatalf("%d servers; want %d", n, maxServers)
	}
	now := t0.Add(maxServers * time.Second)
	m.learn(addr(maxServers), now)
	if n := m.t.n.Load(); n != maxServers {
		t.Errorf("%d servers after one more; want %d", n, maxServers)
	}
	if m.known(addr(0), now) {
		t.Error("the entry that expires first was kept")
	}
	if !m.known(addr(1), now) || !m.known(addr(maxServers), now) {
		t.Error("dropped an entry other than the one that expires first")
	}
	// Once every entry has expired, a new one drops them all.
	later := now.Add(2 * speaksFirstFor)
	m.learn(addr(0), later)
	if n := m.t.n.Load(); n != 1 {
		t.Errorf("%d servers after the others expired; want 1", n)
	}
	if m.known(addr(1), later) || !m.known(addr(0), later) {
		t.Error("expired entries kept, or the new one lost")
	}
	if !m.known(netip.MustParseAddrPort("[::ffff:10.0.0.0]:25"), later) {
		t.Error("an IPv4-mapped address is another server")
	}
	if m.known(addr(0), later.Add(speaksFirstFor)) {
		t.Errorf("a server that speaks first remembered past %v", speaksFirstFor)
	}
}
