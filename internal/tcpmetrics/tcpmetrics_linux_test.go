package tcpmetrics_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fastopen/tfo"
	"github.com/fastopen/tfo/internal/delaylink"
	"github.com/fastopen/tfo/internal/netns"
	"github.com/fastopen/tfo/internal/tcpmetrics"
	"github.com/fastopen/tfo/internal/workload"
)

// requireNamespace skips a test that needs the private network namespace that
// netns.Enter makes as root; with CI=true it fails instead.
func requireNamespace(t *testing.T) {
	t.Helper()
	netns.Require(t, "needs root on Linux, to run in a private network namespace with fast open on: go test ./... in a root shell, or sudo -E env \"PATH=$PATH\" go test ./...")
}

// requireIP returns the path of ip(8), which CI installs (Debian's iproute2); without it
// the test skips, and with CI=true fails.
func requireIP(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("ip")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v; CI=true does not let the test skip", err)
	}
	t.Skipf("%v (Debian's iproute2)", err)
	return ""
}

// answer answers the first read with "re:" and what it read.
func answer(c net.Conn) {
	b := make([]byte, 64)
	if n, err := c.Read(b); err == nil {
		c.Write(append([]byte("re:"), b[:n]...))
	}
}

// listen starts a fast open server on address that answers each connection's first
// read, until the test ends.
func listen(t *testing.T, network, address string) string {
	t.Helper()
	ln, err := tfo.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(workload.Serve(ln, answer))
	return ln.Addr().String()
}

// exchange dials addr with dial, writes, reads the answer and closes, and reports
// whether the conn was fast-opened and its local address.
func exchange(t *testing.T, dial delaylink.DialFunc, network, addr string) (fast bool, local netip.Addr) {
	t.Helper()
	c, err := dial(t.Context(), network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	if n, err := io.ReadAtLeast(c, b, len("re:hello")); err != nil || string(b[:n]) != "re:hello" {
		t.Fatalf("answer %q, %v", b[:n], err)
	}
	fast, err = tfo.FastOpened(c)
	if err != nil {
		t.Fatal(err)
	}
	return fast, c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
}

// tfoDial dials with tfo's Dialer, which fast-opens to the tests' loopback servers.
func tfoDial() delaylink.DialFunc { return (&tfo.Dialer{Loopback: true}).DialContext }

// TestCookie checks that after a conn that fetched a fast open cookie, the entry for
// the server's address holds it, and that Delete makes the kernel forget it: the next
// conn is not fast-opened, and fetches one again.
func TestCookie(t *testing.T) {
	requireNamespace(t)
	for _, tt := range []struct{ network, ip string }{{"tcp4", "127.0.0.11"}, {"tcp6", "::1"}} {
		t.Run(tt.network, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			addr := netip.MustParseAddr(tt.ip)
			server := listen(t, tt.network, net.JoinHostPort(tt.ip, "0"))
			if _, err := tcpmetrics.Get(addr, netip.Addr{}); !errors.Is(err, tcpmetrics.ErrNotFound) {
				t.Fatalf("Get before any conn: %v, want ErrNotFound", err)
			}
			fast, local := exchange(t, tfoDial(), tt.network, server)
			if fast {
				t.Fatal("the first conn was fast-opened")
			}
			e, err := tcpmetrics.Get(addr, netip.Addr{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", e)
			if e.Addr != addr || e.Source != local || len(e.Cookie) != 8 || e.FastOpenMSS == 0 || e.SYNDrops != 0 {
				t.Errorf("entry %+v; want address %v, source %v, an 8-byte cookie (TCP_FASTOPEN_COOKIE_SIZE), a fast open MSS and no SYN drops", e, addr, local)
			}
			if from, err := tcpmetrics.Get(addr, local); err != nil || string(from.Cookie) != string(e.Cookie) {
				t.Errorf("Get from %v: %+v, %v; want the same cookie", local, from, err)
			}
			other := netip.MustParseAddr("127.0.0.99")
			if addr.Is6() {
				other = netip.MustParseAddr("::2")
			}
			if _, err := tcpmetrics.Get(addr, other); !errors.Is(err, tcpmetrics.ErrNotFound) {
				t.Errorf("Get from %v: %v, want ErrNotFound", other, err)
			}
			if fast, _ := exchange(t, tfoDial(), tt.network, server); !fast {
				t.Error("the second conn, with the cookie, was not fast-opened")
			}

			if err := tcpmetrics.Delete(addr, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
			// Every socket of the two conns, the server's included (for ::1 to ::1 they
			// write the same entry), writes the entry again when it closes: on
			// entering TIME_WAIT (tcp_time_wait) or on the last ACK (tcp_rcv_state_process
			// calls tcp_update_metrics before tcp_done). Wait for them all, then delete.
			if err := settle(server); err != nil {
				t.Fatal(err)
			}
			if err := tcpmetrics.Delete(addr, netip.Addr{}); err != nil && !errors.Is(err, tcpmetrics.ErrNotFound) {
				t.Fatal(err)
			}
			if e, err := tcpmetrics.Get(addr, netip.Addr{}); !errors.Is(err, tcpmetrics.ErrNotFound) {
				t.Errorf("Get after Delete: %+v, %v; want ErrNotFound", e, err)
			}
			if fast, _ := exchange(t, tfoDial(), tt.network, server); fast {
				t.Error("the conn after Delete was fast-opened")
			}
			if e, err := tcpmetrics.Get(addr, local); err != nil || len(e.Cookie) != 8 {
				t.Errorf("Get after a new conn: %+v, %v; want a cookie again", e, err)
			}
		})
	}
}

// settle waits until no TCP socket of the calling thread's network namespace that
// uses the port of address is in a state but LISTEN or TIME_WAIT: until every conn to
// it has written its metrics for the last time.
func settle(address string) error {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	p, _ := strconv.Atoi(port)
	hexPort := fmt.Sprintf(":%04X", p)
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		busy := ""
		// thread-self: the thread may be in a namespace of a link, not the process's.
		for _, table := range []string{"/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"} {
			b, err := os.ReadFile(table)
			if err != nil {
				return err
			}
			for _, line := range strings.Split(string(b), "\n")[1:] {
				f := strings.Fields(line)
				if len(f) < 4 || (!strings.HasSuffix(f[1], hexPort) && !strings.HasSuffix(f[2], hexPort)) {
					continue
				}
				// include/net/tcp_states.h: 06 TCP_TIME_WAIT, 0A TCP_LISTEN.
				if f[3] != "06" && f[3] != "0A" {
					busy = line
				}
			}
		}
		if busy == "" {
			return nil
		}
		if time.Since(start) > 5*time.Second {
			return fmt.Errorf("a socket of %s is still open after 5 s: %s", address, busy)
		}
	}
}

// TestAgainstIP checks All and Get against what ip tcp_metrics shows, entry by entry
// and field by field (the ages aside), for entries with and without a cookie, IPv4 and
// IPv6.
func TestAgainstIP(t *testing.T) {
	requireNamespace(t)
	ip := requireIP(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })
	servers := []string{listen(t, "tcp4", "127.0.0.21:0"), listen(t, "tcp6", "[::1]:0")}
	exchange(t, tfoDial(), "tcp4", servers[0])
	exchange(t, tfoDial(), "tcp6", servers[1])
	// A server without fast open: the entry has metrics and no cookie.
	ln, err := net.Listen("tcp4", "127.0.0.22:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(workload.Serve(ln, answer))
	servers = append(servers, ln.Addr().String())
	exchange(t, (&net.Dialer{}).DialContext, "tcp4", servers[2])

	all := func() map[string]map[string]string {
		t.Helper()
		all, err := tcpmetrics.All()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]map[string]string{}
		for _, e := range all {
			m[e.Addr.String()+" from "+e.Source.String()] = fields(e)
		}
		return m
	}
	// The kernel writes an entry again as each conn's sockets close (see TestCookie):
	// let them all close, so that All and ip read the same entries.
	for _, server := range servers {
		if err := settle(server); err != nil {
			t.Fatal(err)
		}
	}
	ours, theirs := all(), ipShow(t, ip)
	for _, want := range []string{"127.0.0.21 from 127.0.0.1", "::1 from ::1", "127.0.0.22 from 127.0.0.1"} {
		if _, ok := ours[want]; !ok {
			t.Errorf("All lacks the entry for %s", want)
		}
	}
	if ours["127.0.0.21 from 127.0.0.1"]["fo_cookie"] == "" || ours["127.0.0.22 from 127.0.0.1"]["fo_cookie"] != "" {
		t.Errorf("cookies %v; want one for the fast open server alone", ours)
	}
	if !maps.EqualFunc(ours, theirs, maps.Equal) {
		t.Errorf("All gives\n%v\nip tcp_metrics show gives\n%v", ours, theirs)
	}
	e, err := tcpmetrics.Get(netip.MustParseAddr("127.0.0.21"), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	one := ipShow(t, ip, "127.0.0.21")
	if want := map[string]map[string]string{"127.0.0.21 from 127.0.0.1": fields(e)}; !maps.EqualFunc(one, want, maps.Equal) {
		t.Errorf("Get gives %v, ip tcp_metrics show 127.0.0.21 gives %v", want, one)
	}
}

// fields returns the fields of e that ip tcp_metrics shows, the ages aside, as it
// writes them (ip/tcp_metrics.c in iproute2).
func fields(e tcpmetrics.Entry) map[string]string {
	f := map[string]string{"source": e.Source.String()}
	set := func(name string, v uint64, unit string) {
		if v != 0 {
			f[name] = strconv.FormatUint(v, 10) + unit
		}
	}
	set("rtt", uint64(e.RTT.Microseconds()), "us")
	set("rttvar", uint64(e.RTTVar.Microseconds()), "us")
	set("ssthresh", uint64(e.SSThresh), "")
	set("cwnd", uint64(e.CWnd), "")
	set("reordering", uint64(e.Reordering), "")
	set("fo_mss", uint64(e.FastOpenMSS), "")
	set("fo_syn_drops", uint64(e.SYNDrops), "")
	if e.Cookie != nil {
		f["fo_cookie"] = hex.EncodeToString(e.Cookie)
	}
	return f
}

// ipShow runs ip tcp_metrics show with args and returns its entries' fields by address and source, the ages aside.
func ipShow(t *testing.T, ip string, args ...string) map[string]map[string]string {
	t.Helper()
	out, err := exec.Command(ip, append([]string{"tcp_metrics", "show"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip tcp_metrics show: %v: %s", err, out)
	}
	return parseIP(t, out)
}

// parseIP returns the fields of the entries that ip tcp_metrics show wrote in out.
func parseIP(t *testing.T, out []byte) map[string]map[string]string {
	t.Helper()
	entries := map[string]map[string]string{}
	for line := range strings.Lines(string(out)) {
		tok := strings.Fields(line)
		if len(tok) == 0 {
			continue
		}
		f := map[string]string{}
		for i := 1; i < len(tok); i += 2 {
			if i+1 >= len(tok) {
				t.Fatalf("ip tcp_metrics show: %q", line)
			}
			name, value := tok[i], tok[i+1]
			switch name {
			case "age":
			case "tw_ts", "fo_syn_drops": // "N/0.123sec ago"
				if count, _, _ := strings.Cut(value, "/"); name == "fo_syn_drops" {
					f[name] = count
				}
				i++
			case "rtt", "rttvar", "ssthresh", "cwnd", "reordering", "fo_mss", "fo_cookie", "source":
				f[name] = value
			default:
				t.Fatalf("ip tcp_metrics show: unknown field %q in %q", name, line)
			}
		}
		entries[tok[0]+" from "+f["source"]] = f
	}
	return entries
}

// kernelFastOpen dials with TCP_FASTOPEN_CONNECT: the kernel's own fast open, which
// puts data in each SYN for which it holds a cookie, where tfo's Dialer would stop
// after a loss.
var kernelFastOpen = &net.Dialer{Control: workload.KernelFastOpen}

// TestSYNDrops checks that each SYN with data that a link drops adds one to the
// entry's SYNDrops, as ip tcp_metrics shows too.
func TestSYNDrops(t *testing.T) {
	requireNamespace(t)
	ip := requireIP(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })
	l, err := delaylink.New(delaylink.Config{RTT: 10 * time.Millisecond, Drop: delaylink.SYNWithData})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var ln net.Listener
	if err := l.B.Do(func() (err error) {
		ln, err = tfo.Listen("tcp4", netip.AddrPortFrom(l.B.Addr(), 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(workload.Serve(ln, answer))
	server := ln.Addr().String()
	get := func() (e tcpmetrics.Entry) {
		t.Helper()
		if err := l.A.Do(func() (err error) {
			e, err = tcpmetrics.Get(l.B.Addr(), l.A.Addr())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return e
	}
	dial := l.A.Dial(kernelFastOpen.DialContext)
	exchange(t, dial, "tcp4", server) // fetches the cookie
	if e := get(); len(e.Cookie) == 0 || e.SYNDrops != 0 {
		t.Fatalf("after the first conn: %+v; want a cookie and no SYN drops", e)
	}
	for drops := 1; drops <= 2; drops++ {
		start := time.Now()
		if fast, _ := exchange(t, dial, "tcp4", server); fast {
			t.Fatal("a conn whose SYN with data was dropped was fast-opened")
		}
		e := get()
		if e.SYNDrops != drops || e.SYNDropAge > time.Since(start) {
			t.Errorf("after %d dropped SYNs: %+v; want SYNDrops %d, the last since %v at most", drops, e, drops, time.Since(start))
		}
	}
	if s := l.Stats(); s.Dropped != 2 {
		t.Errorf("the link dropped %d SYNs, want 2", s.Dropped)
	}
	// The conns' sockets write the entry again as they close (see TestCookie): let them
	// all close, so that ip and Get read the same entry.
	if err := l.A.Do(func() error { return settle(server) }); err != nil {
		t.Fatal(err)
	}
	var out []byte
	if err := l.A.Do(func() (err error) {
		out, err = exec.Command(ip, "tcp_metrics", "show", l.B.Addr().String()).CombinedOutput()
		return err
	}); err != nil {
		t.Fatalf("ip tcp_metrics show: %v: %s", err, out)
	}
	shown := parseIP(t, out)
	key := fmt.Sprintf("%v from %v", l.B.Addr(), l.A.Addr())
	if want := fields(get()); !maps.Equal(shown[key], want) {
		t.Errorf("ip tcp_metrics show: %v, want %v", shown, want)
	}
}

// TestErrors checks the errors for bad addresses, and that a call leaves no
// descriptor open.
func TestErrors(t *testing.T) {
	requireNamespace(t)
	fds := openFDs(t)
	v4, v6 := netip.MustParseAddr("127.0.0.31"), netip.MustParseAddr("::1")
	for _, tt := range []struct{ addr, source netip.Addr }{{}, {netip.Addr{}, v4}, {v4, v6}, {v6, v4}} {
		if _, err := tcpmetrics.Get(tt.addr, tt.source); err == nil || errors.Is(err, tcpmetrics.ErrNotFound) {
			t.Errorf("Get(%v, %v): %v, want an error about the addresses", tt.addr, tt.source, err)
		}
		if err := tcpmetrics.Delete(tt.addr, tt.source); err == nil || errors.Is(err, tcpmetrics.ErrNotFound) {
			t.Errorf("Delete(%v, %v): %v, want an error about the addresses", tt.addr, tt.source, err)
		}
	}
	for range 10 {
		if _, err := tcpmetrics.Get(v4, netip.Addr{}); !errors.Is(err, tcpmetrics.ErrNotFound) {
			t.Fatalf("Get(%v): %v, want ErrNotFound", v4, err)
		}
		if err := tcpmetrics.Delete(v4, netip.Addr{}); !errors.Is(err, tcpmetrics.ErrNotFound) {
			t.Fatalf("Delete(%v): %v, want ErrNotFound", v4, err)
		}
		if _, err := tcpmetrics.All(); err != nil {
			t.Fatal(err)
		}
	}
	if n := openFDs(t); n != fds {
		t.Errorf("%d descriptors open, %d before", n, fds)
	}
}

// TestDeleteAll checks that DeleteAll empties the cache.
func TestDeleteAll(t *testing.T) {
	requireNamespace(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })
	exchange(t, tfoDial(), "tcp4", listen(t, "tcp4", "127.0.0.41:0"))
	if all, err := tcpmetrics.All(); err != nil || len(all) == 0 {
		t.Fatalf("All: %v, %v; want an entry", all, err)
	}
	if err := tcpmetrics.DeleteAll(); err != nil {
		t.Fatal(err)
	}
	if all, err := tcpmetrics.All(); err != nil || len(all) != 0 {
		t.Errorf("All after DeleteAll: %v, %v; want none", all, err)
	}
}

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
