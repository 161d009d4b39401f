package tfo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastopen/tfo/internal/delaylink"
	"github.com/fastopen/tfo/internal/workload"
)

// mptcpInfo is MPTCP_INFO (include/uapi/linux/mptcp.h), which an MPTCP socket answers
// while its connection uses MPTCP, and refuses once it has fallen back to TCP.
const mptcpInfo = 1

// sockInt returns the socket option level, opt of c.
func sockInt(t testing.TB, c syscall.Conn, level, opt int) (int, error) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return sockOption(rc, level, opt)
}

// mustSockInt is sockInt, failing the test on an error.
func mustSockInt(t testing.TB, c syscall.Conn, level, opt int) int {
	t.Helper()
	v, err := sockInt(t, c, level, opt)
	if err != nil {
		t.Fatal(os.NewSyscallError("getsockopt", err))
	}
	return v
}

// protocol returns the protocol of c's socket: IPPROTO_TCP or IPPROTO_MPTCP.
func protocol(t testing.TB, c syscall.Conn) int {
	t.Helper()
	p, err := sockInt(t, c, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fastOpenQueue returns the fast open queue of ln, TCP_FASTOPEN read back.
func fastOpenQueue(t testing.TB, ln net.Listener) int {
	t.Helper()
	q, err := sockInt(t, ln.(*net.TCPListener), unix.IPPROTO_TCP, unix.TCP_FASTOPEN)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// multipathDialer returns a net.Dialer that dials MPTCP with TCP_FASTOPEN_CONNECT, as a
// client of the kernel's own would.
func multipathDialer() *net.Dialer {
	d := &net.Dialer{Control: workload.KernelFastOpen}
	d.SetMultipathTCP(true)
	return d
}

// TestListenMultipath checks listeners that Go makes MPTCP by default. On this kernel
// MPTCP takes fast open: the listener stays MPTCP, with its queue and keys, and both a
// TCP client and an MPTCP one fast-open to it, the latter over MPTCP. Where MPTCP refuses
// fast open, as Linux before 6.2 does (injected here), the listener is made again as a
// plain TCP one that fast-opens, Control running once on each socket; DisableTFO keeps
// Go's MPTCP listener, and an MPTCP listener the caller turned off stays off.
func TestListenMultipath(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	} else {
		p := protocol(t, ln.(*net.TCPListener))
		ln.Close()
		if p != unix.IPPROTO_MPTCP {
			if os.Getenv("CI") == "true" {
				t.Fatal("net.Listen made no MPTCP listener: the kernel lacks MPTCP, or net.mptcp.enabled is 0")
			}
			t.Skip("net.Listen made no MPTCP listener: the kernel lacks MPTCP, or net.mptcp.enabled is 0")
		}
	}
	refuseMultipath := func(c syscall.RawConn, backlog int) error {
		if isMultipath(c) {
			return os.NewSyscallError("setsockopt", unix.ENOPROTOOPT) // mptcp_setsockopt, Linux 5.14 to 6.1
		}
		return listenFastOpen(c, backlog)
	}
	k := key(0x70)
	for _, tt := range []struct {
		name      string
		refuse    bool // MPTCP refuses fast open
		lc        ListenConfig
		noMPTCP   bool // SetMultipathTCP(false)
		protocol  int
		controls  int
		fastOpens bool
	}{
		{"MPTCP takes fast open", false, ListenConfig{Backlog: 9, Keys: []Key{k}}, false, unix.IPPROTO_MPTCP, 1, true},
		{"MPTCP refuses fast open", true, ListenConfig{Backlog: 9, Keys: []Key{k}}, false, unix.IPPROTO_TCP, 2, true},
		{"MPTCP refuses fast open, DisableTFO", true, ListenConfig{DisableTFO: true}, false, unix.IPPROTO_MPTCP, 1, false},
		{"MPTCP turned off", true, ListenConfig{Backlog: 9, Keys: []Key{k}}, true, unix.IPPROTO_TCP, 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			if tt.refuse {
				setListenFastOpen = refuseMultipath
				t.Cleanup(func() { setListenFastOpen = listenFastOpen })
			}
			refusals := listenRefusals.Load()
			lc := tt.lc
			var controls []int
			lc.Control = func(_, _ string, c syscall.RawConn) error {
				p, _ := sockOption(c, unix.SOL_SOCKET, unix.SO_PROTOCOL)
				controls = append(controls, p)
				return nil
			}
			if tt.noMPTCP {
				lc.SetMultipathTCP(false)
			}
			ln, err := lc.Listen(context.Background(), "tcp", freshHost()+":0")
			if err != nil {
				t.Fatal(err)
			}
			arrivals, multipath := make(chan arrival, 4), make(chan bool, 4)
			rec := record(t, arrivals)
			s := serveListener(t, ln, func(c *net.TCPConn) {
				multipath <- isMultipathConn(c)
				rec(c)
			})
			tl := ln.(*net.TCPListener)
			if p := protocol(t, tl); p != tt.protocol || len(controls) != tt.controls {
				t.Errorf("listener of protocol %d after %d Controls (on %v); want %d after %d", p, len(controls), controls, tt.protocol, tt.controls)
			}
			if tt.controls == 2 && (controls[0] != unix.IPPROTO_MPTCP || controls[1] != unix.IPPROTO_TCP) {
				t.Errorf("Control ran on sockets of protocols %v; want MPTCP, then TCP", controls)
			}
			if n := listenRefusals.Load() - refusals; n != 0 {
				t.Errorf("%d listener refusals counted", n)
			}
			if !tt.fastOpens {
				if q := fastOpenQueue(t, ln); q != 0 {
					t.Errorf("DisableTFO: fast open queue %d", q)
				}
				return
			}
			if q := fastOpenQueue(t, ln); q != lc.Backlog {
				t.Errorf("fast open queue %d; want %d", q, lc.Backlog)
			}
			checkKeys(t, ln, k)

			send(t, dialZero, s.addr, "warm")
			sendCounted(t, dialZero, s.addr, "from a TCP client", openedWithKey)
			want := []arrival{{"warm", false}, {"from a TCP client", true}}
			if tt.protocol == unix.IPPROTO_MPTCP {
				checkMultipathClient(t, s.addr)
				want = append(want, arrival{"from an MPTCP client", true})
			}
			checkArrivals(t, s, arrivals, want...)
			for i, a := range want {
				if mp := <-multipath; mp != (a.data == "from an MPTCP client") {
					t.Errorf("accepted conn %d (%q): MPTCP %v", i, a.data, mp)
				}
			}
		})
	}
}

// checkMultipathClient checks that an MPTCP client with a cookie fast-opens to the MPTCP
// listener at address, and that the connection is an MPTCP one at both ends.
func checkMultipathClient(t testing.TB, address string) {
	t.Helper()
	d := multipathDialer()
	before := readTCPExt(t)
	c, err := d.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	if _, err := c.Write([]byte("from an MPTCP client")); err != nil {
		t.Fatal(err)
	}
	tc.CloseWrite()
	if b := readAll(t, c, 5*time.Second); string(b) != "done" {
		t.Fatalf("server answered %q", b)
	}
	if d := readTCPExt(t).since(before, "TCPFastOpenActive", "TCPFastOpenPassive"); d["TCPFastOpenActive"] != 1 || d["TCPFastOpenPassive"] != 1 {
		t.Errorf("MPTCP client: TcpExt %v; want one fast open at each end", d)
	}
	if ok, err := FastOpened(tc); !ok || err != nil {
		t.Errorf("MPTCP client: FastOpened = %v, %v; want true", ok, err)
	}
	if !isMultipathConn(tc) {
		t.Error("MPTCP client: the connection does not use MPTCP")
	}
}

// isMultipathConn reports whether c's connection uses MPTCP: its socket is an MPTCP one
// that has not fallen back to TCP.
func isMultipathConn(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	p, _ := sockOption(rc, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	_, err = sockOption(rc, unix.SOL_MPTCP, mptcpInfo)
	return p == unix.IPPROTO_MPTCP && err == nil
}

// sockOption returns the socket option level, opt of the socket behind c.
func sockOption(c syscall.RawConn, level, opt int) (int, error) {
	var (
		v    int
		serr error
	)
	if err := c.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		return 0, err
	}
	return v, serr
}

// TestFastOpenQueue sends a burst of conns with cookies over a link with a long round
// trip, so that all their SYNs reach the listener before the first handshake completes.
// The listener fast-opens as many as its queue holds; the kernel gives the others a
// plain handshake and counts them in TCPFastOpenListenOverflow, their clients send
// their data after it, and the server reads every conn's data once.
func TestFastOpenQueue(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	const (
		rtt   = 150 * time.Millisecond
		conns = 12
	)
	for _, tt := range []struct {
		backlog, fastOpened int
	}{
		{4, 4},
		{0, conns}, // DefaultBacklog
	} {
		t.Run(fmt.Sprint("Backlog=", tt.backlog), func(t *testing.T) {
			checkNoLeaks(t)
			link, err := delaylink.New(delaylink.Config{RTT: rtt})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { link.Close() })
			var ln net.Listener
			if err := link.B.Do(func() (err error) {
				lc := ListenConfig{Backlog: tt.backlog}
				ln, err = lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(link.B.Addr(), 0).String())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			arrivals := make(chan arrival, conns+1)
			s := serveListener(t, ln, record(t, arrivals))
			dial := link.A.Dial(dialZero)
			send(t, dial, s.addr, "warm")
			<-arrivals

			counters := func() (client, server tcpExt) {
				a, err := link.A.ReadTCPExt()
				if err != nil {
					t.Fatal(err)
				}
				b, err := link.B.ReadTCPExt()
				if err != nil {
					t.Fatal(err)
				}
				return a, b
			}
			client0, server0 := counters()
			cs := make([]*Conn, conns)
			for i := range cs {
				nc, err := dial(context.Background(), "tcp", s.addr)
				if err != nil {
					t.Fatal(err)
				}
				cs[i] = nc.(*Conn)
				defer cs[i].Close()
				if !deferred(cs[i].tc) {
					t.Fatal("the connect was not deferred although a cookie is cached")
				}
			}
			// Every SYN leaves with its conn's first Write.
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				starts []time.Time
				errs   = make(chan error, conns)
				start  = make(chan struct{})
			)
			for i, c := range cs {
				wg.Go(func() {
					<-start
					mu.Lock()
					starts = append(starts, time.Now())
					mu.Unlock()
					msg := fmt.Sprint("request ", i)
					if _, err := c.Write([]byte(msg)); err != nil {
						errs <- fmt.Errorf("%s: %v", msg, err)
						return
					}
					c.CloseWrite()
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if b, err := io.ReadAll(c); err != nil || string(b) != "done" {
						errs <- fmt.Errorf("%s: the server answered %q, %v", msg, b, err)
					}
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			slices.SortFunc(starts, time.Time.Compare)
			if spread := starts[len(starts)-1].Sub(starts[0]); spread > rtt/2 {
				t.Fatalf("the burst took %v, more than half the round trip (%v): the first handshakes completed before the last SYNs came", spread, rtt)
			}

			client, server := counters()
			overflowed := conns - tt.fastOpened
			wantServer := map[string]int64{"TCPFastOpenPassive": int64(tt.fastOpened), "TCPFastOpenListenOverflow": int64(overflowed)}
			if d := server.since(server0, "TCPFastOpenPassive", "TCPFastOpenListenOverflow"); fmt.Sprint(d) != fmt.Sprint(wantServer) {
				t.Errorf("server TcpExt %v; want %v", d, wantServer)
			}
			wantClient := map[string]int64{"TCPFastOpenActive": int64(tt.fastOpened), "TCPFastOpenActiveFail": int64(overflowed)}
			if d := client.since(client0, "TCPFastOpenActive", "TCPFastOpenActiveFail"); fmt.Sprint(d) != fmt.Sprint(wantClient) {
				t.Errorf("client TcpExt %v; want %v", d, wantClient)
			}
			opened := 0
			for i, c := range cs {
				ok, err := FastOpened(c)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					opened++
				} else if f := fastOpenClientFail(t, c); f != failDataNotAcked {
					t.Errorf("request %d: tcpi_fastopen_client_fail %d; want %d (the data in the SYN was not acknowledged)", i, f, failDataNotAcked)
				}
			}
			s.close()
			got := map[string]int{}
			serverOpened := 0
			for len(arrivals) > 0 {
				a := <-arrivals
				got[a.data]++
				if a.fastOpened {
					serverOpened++
				}
			}
			if opened != tt.fastOpened || serverOpened != tt.fastOpened {
				t.Errorf("%d conns fast-opened by the client, %d by the server; want %d", opened, serverOpened, tt.fastOpened)
			}
			for i := range conns {
				if n := got[fmt.Sprint("request ", i)]; n != 1 {
					t.Errorf("request %d arrived %d times", i, n)
				}
			}
			if len(got) != conns {
				t.Errorf("the server read %v", got)
			}
			t.Logf("%d conns in %v: %d fast-opened, %d past the queue", conns, starts[len(starts)-1].Sub(starts[0]), tt.fastOpened, overflowed)
		})
	}
}
