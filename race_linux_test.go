package tfo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/fastopen/tfo/internal/tcpmetrics"
	"github.com/fastopen/tfo/internal/workload"
)

// slowFor is how long a slow server drops SYNs: less than the first retransmission
// timeout of a SYN, so that the SYN sent again is answered.
const slowFor = 300 * time.Millisecond

// setCookie makes the client hold a fast open cookie for ip, or hold none.
func setCookie(t testing.TB, ip netip.Addr, cookie bool) {
	t.Helper()
	switch {
	case !cookie:
		if err := tcpmetrics.Delete(ip, netip.Addr{}); err != nil && !errors.Is(err, tcpmetrics.ErrNotFound) {
			t.Fatal(err)
		}
	case !cookieCached(ip):
		warmCookie(t, ip.String())
	}
}

// slowOn listens on address, an IP and a port, with a fast open server that drops
// every SYN for slowFor, as a busy server does, and answers after: a connect to it
// completes once its SYN is sent again, about initialRTO in.
func slowOn(t testing.TB, address string) {
	t.Helper()
	ln, err := (&ListenConfig{}).Listen(context.Background(), "tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := ln.(*net.TCPListener).SyscallConn()
	rc.Control(func(fd uintptr) { syscall.Listen(int(fd), 0) })
	// One conn that is not accepted yet fills the queue; a net conn asks no cookie.
	filler, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// Until the server has made the filler's conn, the queue may take another.
	for queued := uint32(0); queued == 0; time.Sleep(time.Millisecond) {
		rc.Control(func(fd uintptr) {
			if info, err := tcpInfo(int(fd)); err == nil {
				queued = info.Unacked // of a listener: its accept queue (tcp_get_info)
			}
		})
	}
	served := make(chan func(), 1)
	start := time.AfterFunc(slowFor, func() {
		served <- workload.Serve(ln, func(c net.Conn) { answer(c.(*net.TCPConn)) })
	})
	t.Cleanup(func() {
		filler.Close()
		if start.Stop() {
			ln.Close()
			return
		}
		(<-served)()
	})
}

// addrKind is what a host's address does in TestRaceWonByHandshake.
type addrKind int

const (
	slowAddr     addrKind = iota // drops SYNs for slowFor, then answers
	silentAddr                   // drops everything
	refusingAddr                 // resets the SYN
)

func (k addrKind) String() string { return [...]string{"slow", "silent", "refusing"}[k] }

// loopbacks counts the fresh IPv4 loopback addresses that TestRaceWonByHandshake takes.
var loopbacks int

// hostOf makes a server of kind on a fresh loopback address of the family, ::1 for
// IPv6, at port (0 for any), with a cookie cached for it or none, and returns its
// address.
func hostOf(t *testing.T, kind addrKind, six bool, port string, cookie bool) netip.AddrPort {
	t.Helper()
	ip := netip.MustParseAddr("::1")
	if !six {
		loopbacks++
		ip = netip.AddrFrom4([4]byte{127, 0, 3, byte(loopbacks)})
	}
	address := net.JoinHostPort(ip.String(), port)
	switch kind {
	case slowAddr:
		setCookie(t, ip, cookie) // before the server, whose queue it would take
		slowOn(t, address)
		// The port slowOn took; with port 0, the caller lets the next address take it.
		if port == "0" {
			t.Fatal("a slow address needs its port given")
		}
	case silentAddr:
		address = blackholeOn(t, address) // fetches a cookie
		if !cookie {
			setCookie(t, ip, false)
		}
	case refusingAddr:
		setCookie(t, ip, cookie)
		if port == "0" {
			ln, err := net.Listen("tcp", address) // a free port, then none listening
			if err != nil {
				t.Fatal(err)
			}
			address = ln.Addr().String()
			ln.Close()
		}
	}
	return netip.MustParseAddrPort(address)
}

// TestRaceWonByHandshake dials hosts of two addresses, one of each family in each
// order, whose first address is slow but alive (it drops SYNs for slowFor, then
// answers) and whose second is silent or refuses, with cookies cached for neither, either or
// both: as with net, the conn is made to the first address, once its handshake
// completes, and the request is answered as soon as net's. A deferred connect, which
// sends nothing until the first Write, never beats a handshake that can still complete.
func TestRaceWonByHandshake(t *testing.T) {
	checkNoLeaks(t)
	requireWire(t)
	forgetSYNDataLoss(t) // the slow and silent addresses lose SYNs with data
	for _, second := range []addrKind{silentAddr, refusingAddr} {
		for _, sixFirst := range []bool{true, false} {
			for _, cookies := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				name := fmt.Sprintf("slow IPv6 first, %v IPv4, cookies %v", second, cookies)
				if !sixFirst {
					name = fmt.Sprintf("slow IPv4 first, %v IPv6, cookies %v", second, cookies)
				}
				t.Run(name, func(t *testing.T) {
					var times [2]time.Duration
					for i, client := range []string{"net", "tfo"} {
						// Fresh servers for each client: the slow one is slow once.
						other := hostOf(t, second, !sixFirst, "0", cookies[1])
						first := hostOf(t, slowAddr, sixFirst, fmt.Sprint(other.Port()), cookies[0])
						r := tableResolver(t, map[string][]netip.Addr{"slow.tfo.test": {first.Addr(), other.Addr()}})
						address := net.JoinHostPort("slow.tfo.test", fmt.Sprint(first.Port()))
						var dial func(context.Context, string, string) (net.Conn, error)
						if client == "net" {
							dial = (&net.Dialer{Resolver: r}).DialContext
						} else {
							dial = (&Dialer{Dialer: net.Dialer{Resolver: r}}).DialContext
						}
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						start := time.Now()
						c, err := dial(ctx, "tcp", address)
						cancel()
						if err != nil {
							t.Fatalf("%s: dial: %v", client, err)
						}
						dialed := time.Since(start)
						c.SetDeadline(time.Now().Add(5 * time.Second))
						checkAnswer(t, c, "req\n")
						times[i] = time.Since(start)
						t.Logf("%s: dialed after %v, answered after %v, by %v", client, dialed.Round(time.Millisecond), times[i].Round(time.Millisecond), c.RemoteAddr())
						if got := netip.MustParseAddrPort(c.RemoteAddr().String()); got.Addr().Unmap() != first.Addr() {
							t.Errorf("%s: connected to %v; want %v", client, got, first)
						}
						c.Close()
					}
					// The slow server answers a conn once it accepts again, or once the SYN is
					// sent again: with either client, a conn may take either.
					if limit := max(times[0], initialRTO+slowFor) + 200*time.Millisecond; times[1] > limit {
						t.Errorf("tfo took %v, net %v", times[1], times[0])
					}
				})
			}
		}
	}
}

// TestDeferredErrorsLikeNet fails deferred connects by every path, with cookies cached
// for every address, and checks that the first Write's error has the shape of the
// error net.Dialer returns for the same host: a *net.OpError with Op "dial", the same
// Net, Source and Addr, and an Err that matches the same errno or timeout.
func TestDeferredErrorsLikeNet(t *testing.T) {
	checkNoLeaks(t)
	requireWire(t)
	forgetSYNDataLoss(t) // the silent addresses lose SYNs with data
	type host struct {
		kinds   []addrKind
		six     []bool
		cookies []bool // nil: cached for every address
	}
	for _, tt := range []struct {
		name    string
		host    host
		dialer  net.Dialer
		network string
		want    error // nil: a timeout
	}{
		{"one address, refusing", host{[]addrKind{refusingAddr}, []bool{false}, nil}, net.Dialer{}, "tcp", syscall.ECONNREFUSED},
		{"two addresses, both refusing", host{[]addrKind{refusingAddr, refusingAddr}, []bool{false, false}, nil}, net.Dialer{}, "tcp", syscall.ECONNREFUSED},
		{"both families refusing", host{[]addrKind{refusingAddr, refusingAddr}, []bool{true, false}, nil}, net.Dialer{}, "tcp", syscall.ECONNREFUSED},
		{"both families refusing, a cookie for the second", host{[]addrKind{refusingAddr, refusingAddr}, []bool{true, false}, []bool{false, true}}, net.Dialer{}, "tcp", syscall.ECONNREFUSED},
		{"two addresses refusing, a cookie for the second", host{[]addrKind{refusingAddr, refusingAddr}, []bool{false, false}, []bool{false, true}}, net.Dialer{}, "tcp", syscall.ECONNREFUSED},
		{"silent, then refusing, Timeout", host{[]addrKind{silentAddr, refusingAddr}, []bool{false, false}, nil}, net.Dialer{Timeout: 500 * time.Millisecond}, "tcp", nil},
		{"both families silent, Timeout", host{[]addrKind{silentAddr, silentAddr}, []bool{true, false}, nil}, net.Dialer{Timeout: 500 * time.Millisecond}, "tcp", nil},
		{"refusing, tcp4, with LocalAddr", host{[]addrKind{refusingAddr}, []bool{false}, nil}, net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}, "tcp4", syscall.ECONNREFUSED},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var errs [2]error
			var hosts [2][]netip.Addr
			for i, client := range []string{"net", "tfo"} {
				port := "0"
				var ips []netip.Addr
				for j, k := range tt.host.kinds {
					a := hostOf(t, k, tt.host.six[j], port, tt.host.cookies == nil || tt.host.cookies[j])
					port = fmt.Sprint(a.Port())
					ips = append(ips, a.Addr())
				}
				hosts[i] = ips
				d := tt.dialer
				d.Resolver = tableResolver(t, map[string][]netip.Addr{"fail.tfo.test": ips})
				address := net.JoinHostPort("fail.tfo.test", port)
				if client == "net" {
					_, errs[i] = d.Dial(tt.network, address)
					continue
				}
				c, err := (&Dialer{Dialer: d}).Dial(tt.network, address)
				if err == nil {
					if !deferred(c.(*Conn).tc) {
						t.Fatal("the connect was not deferred although cookies are cached")
					}
					_, err = c.Write([]byte("req\n"))
					c.Close()
				}
				errs[i] = err
			}
			t.Logf("net: %v\ntfo: %v", errs[0], errs[1])
			var oes [2]*net.OpError
			for i, err := range errs {
				if !errors.As(err, &oes[i]) {
					t.Fatalf("%T %v is not a *net.OpError", err, err)
				}
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Errorf("%v does not match %v", err, tt.want)
				}
				if tt.want == nil && !oes[i].Timeout() {
					t.Errorf("%v is not a timeout", err)
				}
			}
			n, f := oes[0], oes[1]
			if f.Op != n.Op || f.Net != n.Net || fmt.Sprint(f.Source) != fmt.Sprint(n.Source) || (f.Addr == nil) != (n.Addr == nil) {
				t.Errorf("tfo's error %#v; net's %#v", *f, *n)
			}
			// Each client had addresses of its own: the error names the same one of them.
			if f.Addr != nil {
				at := func(a net.Addr, ips []netip.Addr) int {
					return slices.Index(ips, netip.MustParseAddrPort(a.String()).Addr())
				}
				// When the dial's time runs out, net names the address it was dialing,
				// or the next if its context ended first: either will do.
				same := at(f.Addr, hosts[1]) == at(n.Addr, hosts[0]) || tt.want == nil
				if !same || at(n.Addr, hosts[0]) < 0 || at(f.Addr, hosts[1]) < 0 {
					t.Errorf("tfo's error names %v of %v, net's %v of %v", f.Addr, hosts[1], n.Addr, hosts[0])
				}
			}
			if f.Timeout() != n.Timeout() {
				t.Errorf("Timeout: tfo %v, net %v", f.Timeout(), n.Timeout())
			}
		})
	}
}

// TestLoopbackDefault checks that a default Dialer connects to a loopback address as
// net.Dialer does, though a cookie is cached: during the dial, with no data in the
// SYN, and Report says why; with Loopback it fast-opens.
func TestLoopbackDefault(t *testing.T) {
	checkNoLeaks(t)
	requireWire(t)
	defer func(hook bool) { testHookLoopback = hook }(testHookLoopback)
	testHookLoopback = false
	synData := make(chan int, 4)
	s := newServer(t, func(c *net.TCPConn) {
		n, _ := SYNData(c)
		synData <- n
		answer(c)
	})
	// A cookie, if none is cached for the address.
	warm, err := (&Dialer{Loopback: true}).Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, warm, "warm\n")
	warm.Close()
	<-synData
	for _, tt := range []struct {
		d       *Dialer
		fast    bool
		outcome Outcome
	}{
		{&Dialer{}, false, OutcomeLoopback},
		{&Dialer{Loopback: true}, true, OutcomeFastOpened},
	} {
		before := readTCPExt(t)
		nc, err := tt.d.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := nc.(*Conn)
		if deferred(c.tc) == !tt.fast {
			t.Errorf("Loopback %v: deferred %v", tt.d.Loopback, deferred(c.tc))
		}
		checkAnswer(t, c, "req\n")
		if o, _ := Report(c); o != tt.outcome {
			t.Errorf("Loopback %v: Report %v; want %v", tt.d.Loopback, o, tt.outcome)
		}
		c.Close()
		n := <-synData
		d := readTCPExt(t).since(before, "TCPFastOpenActive")
		if (n > 0) != tt.fast || (d["TCPFastOpenActive"] == 1) != tt.fast {
			t.Errorf("Loopback %v: SYN data %d, TcpExt %v; want fast open %v", tt.d.Loopback, n, d, tt.fast)
		}
	}
}

// TestFallbackAddrsLikeNet dials hosts whose first address refuses and whose second
// serves, with cookies cached for both, and checks that once the first Write is done
// the conn's methods answer as net's conn does: the remote address is the second's,
// the local one of its family, and the conn works as any other.
func TestFallbackAddrsLikeNet(t *testing.T) {
	checkNoLeaks(t)
	requireWire(t)
	forgetSYNDataLoss(t)
	for _, six := range [][2]bool{{false, false}, {true, false}, {false, true}} {
		t.Run(fmt.Sprintf("IPv6 %v", six), func(t *testing.T) {
			var remote, local [2]string
			for i, client := range []string{"net", "tfo"} {
				refusing := hostOf(t, refusingAddr, six[0], "0", true)
				var serving netip.Addr
				if six[1] {
					serving = netip.MustParseAddr("::1")
				} else {
					loopbacks++
					serving = netip.AddrFrom4([4]byte{127, 0, 3, byte(loopbacks)})
				}
				setCookie(t, serving, true)
				newServerOn(t, netip.AddrPortFrom(serving, refusing.Port()).String(), func(c *net.TCPConn) {
					b := make([]byte, 1024)
					for {
						n, err := c.Read(b)
						if err != nil {
							return
						}
						c.Write(append([]byte("re:"), b[:n]...))
					}
				})
				r := tableResolver(t, map[string][]netip.Addr{"fall.tfo.test": {refusing.Addr(), serving}})
				address := net.JoinHostPort("fall.tfo.test", fmt.Sprint(refusing.Port()))
				d := net.Dialer{Resolver: r}
				var c net.Conn
				var err error
				if client == "net" {
					c, err = d.Dial("tcp", address)
				} else {
					c, err = (&Dialer{Dialer: d}).Dial("tcp", address)
				}
				if err != nil {
					t.Fatal(err)
				}
				if tc, ok := c.(*Conn); ok && !deferred(tc.tc) {
					t.Fatal("the connect was not deferred although cookies are cached")
				}
				checkAnswer(t, c, "req\n")
				ra, la := netip.MustParseAddrPort(c.RemoteAddr().String()), netip.MustParseAddrPort(c.LocalAddr().String())
				if ra.Addr().Unmap() != serving {
					t.Errorf("%s: RemoteAddr %v; want %v", client, ra, serving)
				}
				remote[i], local[i] = fmt.Sprint(ra.Addr().Unmap().Is4()), fmt.Sprint(la.Addr().Unmap().Is4())
				if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
					t.Errorf("%s: SetDeadline: %v", client, err)
				}
				checkAnswer(t, c, "again\n")
				if err := c.Close(); err != nil {
					t.Errorf("%s: Close: %v", client, err)
				}
				if err := c.Close(); err == nil || !errors.Is(err, net.ErrClosed) {
					t.Errorf("%s: second Close: %v; want net.ErrClosed", client, err)
				}
			}
			if remote[0] != remote[1] || local[0] != local[1] {
				t.Errorf("families of the remote and local addresses: net %s %s, tfo %s %s", remote[0], local[0], remote[1], local[1])
			}
		})
	}
}
