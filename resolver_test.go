package tfo

import (
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/fastopen/tfo/internal/dnstable"
)

// tableResolver returns a resolver that answers A and AAAA queries from table, over
// in-memory connections: no DNS traffic leaves the process.
func tableResolver(t testing.TB, table map[string][]netip.Addr) *net.Resolver {
	s := dnstable.New(table)
	t.Cleanup(s.Close)
	return s.Resolver()
}

// TestFirstAddressRefuses checks that when the first address of a name refuses at the
// first Write (its cookie is cached, so the dial sent nothing), the next address gets
// the same bytes, once.
func TestFirstAddressRefuses(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	warmCookie(t, "127.0.0.2")
	var mu sync.Mutex
	var received []string
	s := newServer(t, func(c *net.TCPConn) {
		b := make([]byte, 64)
		n, _ := c.Read(b)
		mu.Lock()
		received = append(received, string(b[:n]))
		mu.Unlock()
		c.Write([]byte("re:" + string(b[:n])))
	})
	_, port, _ := net.SplitHostPort(s.addr)
	r := tableResolver(t, map[string][]netip.Addr{
		"multi.tfo.test": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")},
	})
	d := &Dialer{Dialer: net.Dialer{Resolver: r}}
	c := dialPending(t, d, net.JoinHostPort("multi.tfo.test", port))
	if ra := c.RemoteAddr().String(); ra != net.JoinHostPort("127.0.0.2", port) {
		t.Fatalf("dialing %v first; the test needs 127.0.0.2", ra)
	}
	checkAnswer(t, c, "hello")
	if ra := c.RemoteAddr().String(); ra != s.addr {
		t.Errorf("RemoteAddr %v; want the serving address %v", ra, s.addr)
	}
	checkFastOpened(t, c)
	c.Close()
	s.close()
	if len(received) != 1 || received[0] != "hello" {
		t.Errorf("the server received %q; want the bytes once", received)
	}
}

// TestUnknownName checks that a name that does not resolve fails at Dial.
func TestUnknownName(t *testing.T) {
	verifyNone(t)
	r := tableResolver(t, nil)
	c, err := (&Dialer{Dialer: net.Dialer{Resolver: r}}).Dial("tcp", "nowhere.tfo.test:80")
	var dnsErr *net.DNSError
	if c != nil || !asDNSError(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("Dial = %v, %v; want a not-found *net.DNSError", c, err)
	}
}

func asDNSError(err error, target **net.DNSError) bool {
	oe, ok := err.(*net.OpError)
	if !ok {
		return false
	}
	*target, ok = oe.Err.(*net.DNSError)
	return ok
}
