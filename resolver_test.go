package tfo

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// tableResolver returns a resolver that answers A and AAAA queries from table, over
// in-memory connections: no DNS traffic leaves the process.
func tableResolver(t testing.TB, table map[string][]netip.Addr) *net.Resolver {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer server.Close()
				serveDNS(server, table)
			}()
			return client, nil
		},
	}
}

// serveDNS answers length-prefixed DNS queries on c, as over TCP, until c closes.
func serveDNS(c net.Conn, table map[string][]netip.Addr) {
	for {
		var n uint16
		if binary.Read(c, binary.BigEndian, &n) != nil {
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(msg)
		if err != nil {
			return
		}
		q, err := p.Question()
		if err != nil {
			return
		}
		addrs, found := table[strings.TrimSuffix(q.Name.String(), ".")]
		h.Response, h.Authoritative = true, true
		if !found {
			h.RCode = dnsmessage.RCodeNameError
		}
		b := dnsmessage.NewBuilder(make([]byte, 2, 512), h)
		b.EnableCompression()
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		for _, a := range addrs {
			switch {
			case q.Type == dnsmessage.TypeA && a.Is4():
				b.AResource(rh, dnsmessage.AResource{A: a.As4()})
			case q.Type == dnsmessage.TypeAAAA && a.Is6():
				b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
			}
		}
		out, err := b.Finish()
		if err != nil {
			return
		}
		binary.BigEndian.PutUint16(out, uint16(len(out)-2))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
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
