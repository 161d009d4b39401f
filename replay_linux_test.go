package tfo

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/fastopen/tfo/internal/delaylink"
)

// replayDelay is how long after a SYN with data the replaying link sends its copy.
const replayDelay = 50 * time.Millisecond

// newReplayLink makes a link with a round trip of rtt that sends every SYN with data a
// second time, replayDelay later, from another port.
func newReplayLink(t *testing.T, rtt time.Duration) *delaylink.Link {
	t.Helper()
	requireWire(t)
	link, err := delaylink.New(delaylink.Config{RTT: rtt, ReplaySYNData: replayDelay})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	return link
}

// listenFar listens with lc on the far end of link.
func listenFar(t testing.TB, link *delaylink.Link, lc *ListenConfig) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := link.B.Do(func() (err error) {
		ln, err = lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(link.B.Addr(), 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ln
}

// synArrival is what a server learnt of one accepted conn.
type synArrival struct {
	port    int    // the client's
	data    string // what the conn carried
	synData int
	err     error
}

// TestSYNData checks SYNData on the wire, on an MPTCP listener (Go's default) and on a
// plain one, over a link that replays each SYN with data: 0 for the conn that fetched
// the cookie, the SYN's length exactly on the fast-opened conn and on its replayed
// copy, and ErrSYNDataUnknown once a second segment with data has come.
func TestSYNData(t *testing.T) {
	checkNoLeaks(t)
	for _, multipath := range []bool{true, false} {
		name := "TCP"
		if multipath {
			name = "MPTCP"
		}
		t.Run(name, func(t *testing.T) {
			link := newReplayLink(t, 10*time.Millisecond)
			var lc ListenConfig
			lc.SetMultipathTCP(multipath)
			ln := listenFar(t, link, &lc)
			rc, _ := ln.(*net.TCPListener).SyscallConn()
			if isMultipath(rc) != multipath {
				t.Fatalf("listener MPTCP %v, want %v", isMultipath(rc), multipath)
			}
			arrivals := make(chan synArrival, 10)
			s := serveListener(t, ln, func(c *net.TCPConn) {
				n, err := SYNData(c) // before reading, as a server should
				b, _ := io.ReadAll(c)
				arrivals <- synArrival{c.RemoteAddr().(*net.TCPAddr).Port, string(b), n, err}
			})
			dial := link.A.Dial(dialZero)
			send := func(addr string, msgs ...string) *Conn {
				t.Helper()
				nc, err := dial(context.Background(), "tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				c := nc.(*Conn)
				t.Cleanup(func() { c.Close() })
				for _, m := range msgs {
					if _, err := c.Write([]byte(m)); err != nil {
						t.Fatal(err)
					}
				}
				c.CloseWrite()
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				io.ReadAll(c)
				return c
			}
			next := func() synArrival {
				t.Helper()
				select {
				case a := <-arrivals:
					return a
				case <-time.After(5 * time.Second):
					t.Fatal("no conn accepted")
				}
				return synArrival{}
			}

			send(s.addr, "cookie\n")
			if a := next(); a.synData != 0 || a.err != nil || a.data != "cookie\n" {
				t.Errorf("conn that fetched the cookie: %+v; want SYNData 0", a)
			}

			const msg = "PING 1\r\n"
			c := send(s.addr, msg)
			checkFastOpened(t, c)
			if n, err := SYNData(c); n != 0 || err != nil {
				t.Errorf("SYNData of the dialed conn = %d, %v; want 0", n, err)
			}
			port := c.LocalAddr().(*net.TCPAddr).Port
			original, replayed := next(), next()
			if original.port != port || original.synData != len(msg) || original.err != nil || original.data != msg {
				t.Errorf("fast-opened conn: %+v; want port %d, SYNData %d", original, port, len(msg))
			}
			if replayed.port != int(delaylink.ReplayPort(uint16(port))) || replayed.synData != len(msg) || replayed.err != nil || replayed.data != msg {
				t.Errorf("replayed conn: %+v; want SYNData %d, from port %d", replayed, len(msg), delaylink.ReplayPort(uint16(port)))
			}
			if st := link.Stats(); st.Replayed != 1 {
				t.Errorf("link replayed %d SYNs, want 1", st.Replayed)
			}

			// Once a second segment with data has come, the count is no longer known.
			// The cookie is cached for the server's address, so the first Write goes in
			// the SYN, and the second follows the handshake.
			later := make(chan synArrival, 10)
			s2 := serveListener(t, listenFar(t, link, &lc), func(c *net.TCPConn) {
				b := make([]byte, 64)
				got := 0
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				for got < len("one\ntwo\n") {
					n, err := c.Read(b[got:])
					if err != nil {
						break
					}
					got += n
				}
				n, err := SYNData(c)
				later <- synArrival{port: c.RemoteAddr().(*net.TCPAddr).Port, data: string(b[:got]), synData: n, err: err}
			})
			port = send(s2.addr, "one\n", "two\n").LocalAddr().(*net.TCPAddr).Port
			for range 2 {
				select {
				case a := <-later:
					switch a.port {
					case port:
						if !errors.Is(a.err, ErrSYNDataUnknown) || a.data != "one\ntwo\n" {
							t.Errorf("after a second segment: %+v; want ErrSYNDataUnknown", a)
						}
					default: // the replayed copy, which has the SYN's data alone
						if a.synData != len("one\n") || a.err != nil || a.data != "one\n" {
							t.Errorf("replayed copy: %+v; want SYNData %d", a, len("one\n"))
						}
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no conn accepted")
				}
			}
			s2.close()
		})
	}
}
