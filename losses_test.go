package tfo

import (
	"net/netip"
	"testing"
	"time"
)

// TestLossMemory checks that a server whose SYNs lost their data is remembered for
// lossRetry, and that the memory stays bounded.
func TestLossMemory(t *testing.T) {
	var m lossMemory
	if m.lost("192.0.2.1:80") {
		t.Fatal("an empty memory remembers a server")
	}
	m.add(netip.MustParseAddr("192.0.2.1"))
	for _, a := range []string{"192.0.2.1:80", "192.0.2.1:443", "[::ffff:192.0.2.1]:80"} {
		if !m.lost(a) {
			t.Errorf("%s: not remembered", a)
		}
	}
	if m.lost("192.0.2.2:80") || m.lost("not an address") {
		t.Error("remembers a server it was not told of")
	}
	m.until[netip.MustParseAddr("192.0.2.1")] = time.Now().Add(-time.Second)
	if m.lost("192.0.2.1:80") || m.n.Load() != 0 {
		t.Errorf("remembered past lossRetry; %d servers", m.n.Load())
	}
	for i := range maxLosses + 10 {
		m.add(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	if n := len(m.until); n != maxLosses || m.n.Load() != maxLosses {
		t.Errorf("%d servers remembered; want at most %d", n, maxLosses)
	}
}
