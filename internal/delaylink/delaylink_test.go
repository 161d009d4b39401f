//go:build linux

package delaylink_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/fastopen/tfo"
	"github.com/fastopen/tfo/internal/delaylink"
	"github.com/fastopen/tfo/internal/workload"
)

// requireRoot skips a test that makes a link unless it runs as root on Linux; with
// CI=true it fails instead.
func requireRoot(t testing.TB) {
	t.Helper()
	if runtime.GOOS == "linux" && os.Geteuid() == 0 {
		return
	}
	msg := "needs root on Linux, to make network namespaces and TUN devices"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true does not let it skip")
	}
	t.Skip(msg)
}

// newLink returns a link that the test closes when it ends, after which no goroutine
// may be left.
func newLink(t *testing.T, cfg delaylink.Config) *delaylink.Link {
	t.Helper()
	requireRoot(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })
	l, err := delaylink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// listenIn makes a listener in ns, on its address for network, that the test closes.
func listenIn(t testing.TB, ns *delaylink.Namespace, listen func(network, address string) (net.Listener, error), network string) net.Listener {
	t.Helper()
	addr := ns.Addr()
	if network == "tcp6" {
		addr = ns.Addr6()
	}
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = listen(network, netip.AddrPortFrom(addr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serve runs handle on the connections ln accepts until the test ends.
func serve(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	t.Cleanup(workload.Serve(ln, handle))
}

// answer answers the first read with "re:" and what it read.
func answer(c net.Conn) {
	b := make([]byte, 1500)
	n, err := c.Read(b)
	if err == nil {
		c.Write(append([]byte("re:"), b[:n]...))
	}
}

// udpPair returns a UDP socket in l.A connected to one in l.B.
func udpPair(t testing.TB, l *delaylink.Link) (a, b *net.UDPConn) {
	t.Helper()
	if err := l.B.Do(func() (err error) {
		b, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.B.Addr(), 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := l.A.Do(func() (err error) {
		a, err = net.DialUDP("udp4", nil, b.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, b
}

// TestRTT checks, with a UDP ping across the link, that the round trip takes the RTT
// it was made with, within 10%.
func TestRTT(t *testing.T) {
	var base time.Duration
	t.Run("0s", func(t *testing.T) { base = medianRoundTrip(t, 0) })
	for _, rtt := range []time.Duration{20 * time.Millisecond, 50 * time.Millisecond} {
		t.Run(rtt.String(), func(t *testing.T) {
			median := medianRoundTrip(t, rtt)
			// On top of the delay comes what the machine adds: a round trip without
			// delay, and how late its timers fire for two sleeps of half the delay, as
			// the link's two directions hold a packet; both grow on a loaded machine.
			late := timerLateness(rtt / 2)
			t.Logf("without delay %v; timers late by %v", base, late)
			if d := median - rtt; d < -rtt/10 || d > rtt/10+base+late {
				t.Errorf("median round trip %v, want %v within 10%%, and %v of the machine's own", median, rtt, base+late)
			}
		})
	}
}

// timerLateness returns the median, over 11 tries, of how much longer than 2d two
// sleeps of d take.
func timerLateness(d time.Duration) time.Duration {
	var late []time.Duration
	for range 11 {
		start := time.Now()
		time.Sleep(d)
		time.Sleep(d)
		late = append(late, time.Since(start)-2*d)
	}
	slices.Sort(late)
	return late[len(late)/2]
}

// medianRoundTrip returns the median round trip of UDP datagrams over a link of rtt.
func medianRoundTrip(t *testing.T, rtt time.Duration) time.Duration {
	t.Helper()
	l := newLink(t, delaylink.Config{RTT: rtt})
	if l.RTT() != rtt {
		t.Errorf("RTT() = %v, want %v", l.RTT(), rtt)
	}
	a, b := udpPair(t, l)
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := b.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			b.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	var times []time.Duration
	buf := make([]byte, 64)
	a.SetDeadline(time.Now().Add(10 * time.Second))
	for i := range 21 {
		start := time.Now()
		if _, err := a.Write([]byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Read(buf); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	median := times[len(times)/2]
	t.Logf("RTT %v: median %v, min %v, max %v", rtt, median, times[0], times[len(times)-1])
	return median
}

// TestOrder sends a burst of datagrams of many sizes across the link and checks that
// every one arrives, in the order sent.
func TestOrder(t *testing.T) {
	const count = 3000
	l := newLink(t, delaylink.Config{RTT: 20 * time.Millisecond})
	a, b := udpPair(t, l)
	// Room for the whole burst, beyond net.core.rmem_max, as root may.
	rc, _ := b.SyscallConn()
	rc.Control(func(fd uintptr) {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			t.Error(err)
		}
	})
	got := make(chan []uint32, 1)
	go func() {
		var seqs []uint32
		buf := make([]byte, delaylink.MTU)
		b.SetReadDeadline(time.Now().Add(10 * time.Second))
		for len(seqs) < count {
			n, err := b.Read(buf)
			if err != nil {
				break
			}
			seqs = append(seqs, binary.BigEndian.Uint32(buf[:n]))
		}
		got <- seqs
	}()
	msg := make([]byte, 1400)
	for i := range count {
		binary.BigEndian.PutUint32(msg, uint32(i))
		if _, err := a.Write(msg[:4+i*397%1396]); err != nil {
			t.Fatal(err)
		}
	}
	seqs := <-got
	if len(seqs) != count {
		t.Errorf("%d datagrams arrived, want %d", len(seqs), count)
	}
	for i, s := range seqs {
		if s != uint32(i) {
			t.Fatalf("datagram %d arrived in place %d", s, i)
		}
	}
	// The link counts a packet just after the datagram's arrival.
	s := l.Stats()
	for deadline := time.Now().Add(time.Second); s.Forwarded < count && time.Now().Before(deadline); s = l.Stats() {
		time.Sleep(time.Millisecond)
	}
	if s.Forwarded < count || s.Dropped != 0 || s.Failed != 0 {
		t.Errorf("Stats = %+v, want %d forwarded at least, none dropped or failed", s, count)
	}
}

// devStats holds a device's counters from /proc/net/dev.
type devStats struct {
	rxPackets, rxDropped, txPackets, txDropped int64
}

// readDevStats reads the counters of the link's device in ns.
func readDevStats(t testing.TB, ns *delaylink.Namespace) devStats {
	t.Helper()
	var d devStats
	err := ns.Do(func() error {
		f, err := os.Open("/proc/thread-self/net/dev")
		if err != nil {
			return err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			name, rest, ok := strings.Cut(s.Text(), ":")
			if !ok || strings.TrimSpace(name) != delaylink.Device {
				continue
			}
			var v [16]int64
			for i, f := range strings.Fields(rest) {
				if v[i], err = strconv.ParseInt(f, 10, 64); err != nil {
					return err
				}
			}
			// Receive: bytes packets errs drop ...; transmit from the 9th on.
			d = devStats{rxPackets: v[1], rxDropped: v[3], txPackets: v[9], txDropped: v[11]}
			return nil
		}
		return errors.New("no " + delaylink.Device + " in /proc/net/dev")
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestNoDropUnderLoad runs connections of the kind go run ./bench makes, several at
// once, next to a bulk transfer, and checks that every packet one device sent reached
// the other.
func TestNoDropUnderLoad(t *testing.T) {
	l := newLink(t, delaylink.Config{RTT: 20 * time.Millisecond})
	ln := listenIn(t, l.B, tfo.Listen, "tcp4")
	serve(t, ln, answer)
	bulk := listenIn(t, l.B, net.Listen, "tcp4")
	const bulkSize = 16 << 20
	serve(t, bulk, func(c net.Conn) { c.Write(make([]byte, bulkSize)) })

	dial := l.A.Dial((&tfo.Dialer{}).DialContext)
	bulkDone := make(chan error, 1)
	go func() {
		c, err := dial(t.Context(), "tcp", bulk.Addr().String())
		if err == nil {
			var n int64
			n, err = io.Copy(io.Discard, c)
			c.Close()
			if err == nil && n != bulkSize {
				err = fmt.Errorf("bulk transfer: %d bytes, want %d", n, bulkSize)
			}
		}
		bulkDone <- err
	}()
	const workers, conns = 8, 25
	errc := make(chan error, workers)
	for w := range workers {
		go func() {
			req := make([]byte, 64+w*180) // up to a TLS ClientHello's size
			for range conns {
				c, err := dial(t.Context(), "tcp", ln.Addr().String())
				if err != nil {
					errc <- err
					return
				}
				_, err = c.Write(req)
				if err == nil {
					_, err = io.ReadFull(c, make([]byte, 3+len(req)))
				}
				c.Close()
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range workers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-bulkDone; err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * l.RTT()) // for the last packets, such as FINs
	s := l.Stats()
	da, db := readDevStats(t, l.A), readDevStats(t, l.B)
	t.Logf("Stats %+v, A %+v, B %+v", s, da, db)
	if s.Dropped != 0 || s.Failed != 0 || da.txDropped != 0 || db.txDropped != 0 || da.rxDropped != 0 || db.rxDropped != 0 {
		t.Errorf("packets dropped: Stats %+v, A %+v, B %+v", s, da, db)
	}
	if da.txPackets != db.rxPackets || db.txPackets != da.rxPackets || s.Forwarded != da.txPackets+db.txPackets {
		t.Errorf("packets lost: A sent %d, B received %d; B sent %d, A received %d; forwarded %d",
			da.txPackets, db.rxPackets, db.txPackets, da.rxPackets, s.Forwarded)
	}
	if s.Forwarded < workers*conns*6 {
		t.Errorf("only %d packets forwarded", s.Forwarded)
	}
}

// kernelFastOpen dials with TCP_FASTOPEN_CONNECT.
var kernelFastOpen = &net.Dialer{Control: workload.KernelFastOpen}

// TestDropSYNWithData checks that a link dropping SYNs with data makes a fast open dial
// with a cookie fall back to a handshake without data, and drops nothing else.
func TestDropSYNWithData(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			l := newLink(t, delaylink.Config{RTT: 10 * time.Millisecond, Drop: delaylink.SYNWithData})
			ln := listenIn(t, l.B, tfo.Listen, network)
			serve(t, ln, answer)
			// The kernel's fast open, not tfo's Dialer, which would remember the loss
			// and dial these addresses without fast open in the tests that follow.
			dial := l.A.Dial(kernelFastOpen.DialContext)
			exchange := func(msg string) (fast bool) {
				t.Helper()
				c, err := dial(t.Context(), network, ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				b := make([]byte, 64)
				n, err := c.Read(b)
				if err != nil || string(b[:n]) != "re:"+msg {
					t.Fatalf("answer %q, %v", b[:n], err)
				}
				fast, err = tfo.FastOpened(c)
				if err != nil {
					t.Fatal(err)
				}
				return fast
			}
			exchange("cookie") // asks for a cookie, without data
			if s := l.Stats(); s.Dropped != 0 {
				t.Fatalf("the first connection lost %d packets", s.Dropped)
			}
			before, err := l.A.ReadTCPExt()
			if err != nil {
				t.Fatal(err)
			}
			if exchange("again") {
				t.Error("the connection was fast-opened although its SYN was dropped")
			}
			after, err := l.A.ReadTCPExt()
			if err != nil {
				t.Fatal(err)
			}
			if s := l.Stats(); s.Dropped != 1 {
				t.Errorf("Stats %+v, want one packet dropped", s)
			}
			if d := after["TCPFastOpenActiveFail"] - before["TCPFastOpenActiveFail"]; d != 1 {
				t.Errorf("TCPFastOpenActiveFail +%d, want +1", d)
			}
		})
	}
}

// TestNamespaces checks that the ends are namespaces of their own, with their own
// sysctls and counters, and that Dial makes its socket in its namespace.
func TestNamespaces(t *testing.T) {
	// The main thread's, which /proc/self and /proc/net show.
	main, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	l := newLink(t, delaylink.Config{RTT: 2 * time.Millisecond})
	nsA, nsB := netnsOf(t, l.A), netnsOf(t, l.B)
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if nsA == nsB || nsA == self || nsB == self {
		t.Fatalf("namespaces A %s, B %s, process %s: want three", nsA, nsB, self)
	}
	if now, _ := os.Readlink("/proc/self/ns/net"); now != main {
		t.Errorf("the main thread moved from %s to %s", main, now)
	}

	const name, path = "net.ipv4.tcp_syn_retries", "/proc/sys/net/ipv4/tcp_syn_retries"
	host := readFile(t, path)
	if err := l.A.SetSysctl(name, "2"); err != nil {
		t.Fatal(err)
	}
	inA, inB := readFileIn(t, l.A, path), readFileIn(t, l.B, path)
	fastOpen := readFileIn(t, l.A, "/proc/sys/net/ipv4/tcp_fastopen")
	if inA != "2" || inB == "2" || readFile(t, path) != host {
		t.Errorf("%s: %s in A, %s in B, %s in the process, was %s: want 2 only in A", name, inA, inB, readFile(t, path), host)
	}
	if fastOpen != "3" {
		t.Errorf("net.ipv4.tcp_fastopen = %s in A, want 3", fastOpen)
	}

	ln := listenIn(t, l.B, tfo.Listen, "tcp4")
	serve(t, ln, answer)
	before := readTCPExt(t, l.A)
	for i := range 2 {
		c, err := l.A.Dial((&tfo.Dialer{}).DialContext)(t.Context(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 8)); err != nil {
			t.Fatal(err)
		}
		if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != l.A.Addr() {
			t.Errorf("dial %d: local address %v, want %v", i, got, l.A.Addr())
		}
		c.Close()
	}
	// The second connection was fast-opened, as A's and B's counters say.
	a, b := readTCPExt(t, l.A), readTCPExt(t, l.B)
	if d := a["TCPFastOpenActive"] - before["TCPFastOpenActive"]; d != 1 {
		t.Errorf("TCPFastOpenActive +%d in A, want +1", d)
	}
	if b["TCPFastOpenPassive"] != 1 {
		t.Errorf("TCPFastOpenPassive %d in B, want 1", b["TCPFastOpenPassive"])
	}
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// readFileIn reads a file on a thread of ns.
func readFileIn(t testing.TB, ns *delaylink.Namespace, name string) string {
	t.Helper()
	var b []byte
	if err := ns.Do(func() (err error) {
		b, err = os.ReadFile(name)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func readTCPExt(t testing.TB, ns *delaylink.Namespace) map[string]int64 {
	t.Helper()
	ext, err := ns.ReadTCPExt()
	if err != nil {
		t.Fatal(err)
	}
	return ext
}

// netnsOf returns the name of ns's network namespace, such as net:[4026532177].
func netnsOf(t testing.TB, ns *delaylink.Namespace) string {
	t.Helper()
	var s string
	if err := ns.Do(func() (err error) {
		s, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDoAtOnce checks that calls to Do run at once, each on a thread in the namespace.
func TestDoAtOnce(t *testing.T) {
	l := newLink(t, delaylink.Config{})
	want := netnsOf(t, l.A)
	first, second := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var names [2]string
	for i, ch := range []struct{ mine, other chan struct{} }{{first, second}, {second, first}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.A.Do(func() (err error) {
				close(ch.mine)
				select {
				case <-ch.other:
				case <-time.After(5 * time.Second):
					return errors.New("the other call did not run meanwhile")
				}
				names[i], err = os.Readlink("/proc/thread-self/ns/net")
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if names[0] != want || names[1] != want {
		t.Errorf("calls ran in %v, want %s", names, want)
	}
}

// TestClose checks that Close ends the threads of both namespaces, and the link's
// goroutines and descriptors, even with packets on their way.
func TestClose(t *testing.T) {
	requireRoot(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })
	fds := openFDs(t)
	l, err := delaylink.New(delaylink.Config{RTT: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{netnsOf(t, l.A), netnsOf(t, l.B)}
	a, b := udpPair(t, l)
	a.Write([]byte("on its way"))
	time.Sleep(10 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// A thread ends just after its goroutine.
	var threads []string
	for range 100 {
		if threads = threadsIn(t, names...); len(threads) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(threads) > 0 {
		t.Errorf("threads %v still in the link's namespaces", threads)
	}
	a.Close()
	b.Close()
	if n := openFDs(t); n > fds {
		t.Errorf("%d descriptors open after Close, %d before New", n, fds)
	}
	if err := l.A.Do(func() error { return nil }); err == nil {
		t.Error("Do after Close succeeded")
	}
	_, err = l.A.Dial((&net.Dialer{}).DialContext)(t.Context(), "tcp", "198.18.0.2:1")
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Errorf("Dial after Close: %v, want a *net.OpError", err)
	}
}

// threadsIn returns the process's threads that are in one of the network namespaces
// named.
func threadsIn(t testing.TB, names ...string) []string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var in []string
	for _, task := range tasks {
		ns, err := os.Readlink(task)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // ended meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(names, ns) {
			in = append(in, task)
		}
	}
	return in
}

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestConfigErrors checks that New refuses a loss outside [0, 1], before it makes
// anything.
func TestConfigErrors(t *testing.T) {
	for _, cfg := range []delaylink.Config{{RTT: -time.Millisecond}, {Loss: -0.01}, {Loss: 1.01}, {Loss: math.NaN()}} {
		if l, err := delaylink.New(cfg); err == nil {
			l.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// sendSeqs sends n datagrams numbered from 0 from one end of a UDP pair to the other,
// across l, and returns the numbers that did not arrive, in order. The link must have
// carried nothing else in that direction before.
func sendSeqs(t *testing.T, l *delaylink.Link, from, to *net.UDPConn, n int) []int {
	t.Helper()
	// Room for the whole burst, beyond net.core.rmem_max, as root may.
	rc, _ := to.SyscallConn()
	rc.Control(func(fd uintptr) {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			t.Error(err)
		}
	})
	write := from.Write
	if from.RemoteAddr() == nil {
		dst := to.LocalAddr().(*net.UDPAddr).AddrPort()
		write = func(b []byte) (int, error) { return from.WriteToUDPAddrPort(b, dst) }
	}
	before := l.Stats()
	msg := make([]byte, 100)
	for i := range n {
		binary.BigEndian.PutUint32(msg, uint32(i))
		if _, err := write(msg); err != nil {
			t.Fatal(err)
		}
	}
	// Once the link has seen every datagram, those it forwarded are in to's queue.
	var s delaylink.Stats
	for deadline := time.Now().Add(10 * time.Second); ; {
		s = l.Stats()
		if s.Forwarded+s.Dropped+s.Lost-before.Forwarded-before.Dropped-before.Lost >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the link saw %d of %d datagrams", s.Forwarded+s.Dropped+s.Lost, n)
		}
		time.Sleep(time.Millisecond)
	}
	arrived := make([]bool, n)
	to.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range s.Forwarded - before.Forwarded {
		m, err := to.Read(msg)
		if err != nil {
			t.Fatal(err)
		}
		if seq := binary.BigEndian.Uint32(msg[:m]); seq < uint32(n) {
			arrived[seq] = true
		}
	}
	var missing []int
	for i, ok := range arrived {
		if !ok {
			missing = append(missing, i)
		}
	}
	return missing
}

// TestLoss checks that a link with Loss 3% loses about 3% of the packets in each
// direction, at the places that Seed and the direction decide: the same on two links
// with the same seed, whatever Drop drops, and other places with another seed.
func TestLoss(t *testing.T) {
	const (
		n    = 3000
		loss = 0.03
		seed = 7
	)
	tenth := func(p []byte) bool { // every tenth datagram, by its number
		return len(p) >= 32 && p[9] == unix.IPPROTO_UDP && binary.BigEndian.Uint32(p[28:])%10 == 0
	}
	type result struct {
		missing [2][]int // from A to B, from B to A
		stats   delaylink.Stats
	}
	run := func(name string, cfg delaylink.Config) (r result) {
		t.Run(name, func(t *testing.T) {
			l := newLink(t, cfg)
			a, b := udpPair(t, l)
			r.missing[0] = sendSeqs(t, l, a, b, n)
			r.missing[1] = sendSeqs(t, l, b, a, n)
			r.stats = l.Stats()
		})
		if t.Failed() {
			t.FailNow()
		}
		return r
	}
	first := run("seed", delaylink.Config{RTT: 2 * time.Millisecond, Loss: loss, Seed: seed})
	again := run("same seed, Drop", delaylink.Config{RTT: 2 * time.Millisecond, Loss: loss, Seed: seed, Drop: tenth})
	other := run("other seed", delaylink.Config{RTT: 2 * time.Millisecond, Loss: loss, Seed: seed + 1})
	for dir, name := range []string{"A to B", "B to A"} {
		lost := first.missing[dir]
		t.Logf("%s: lost %d of %d", name, len(lost), n)
		if got := float64(len(lost)) / n; got < loss-0.01 || got > loss+0.01 {
			t.Errorf("%s: lost %.2f%% of the datagrams, want %.0f%% ± 1", name, 100*got, 100*loss)
		}
		if want := delaylink.LossPattern(loss, seed, dir, n); !slices.Equal(lost, want) {
			t.Errorf("%s: lost datagrams %v, want those LossPattern names, %v", name, lost, want)
		}
		var tenths []int
		for i := 0; i < n; i += 10 {
			tenths = append(tenths, i)
		}
		union := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(lost), tenths...))))
		if !slices.Equal(again.missing[dir], union) {
			t.Errorf("%s: with the same seed and Drop taking every tenth, missing %v, want %v", name, again.missing[dir], union)
		}
		if slices.Equal(other.missing[dir], lost) {
			t.Errorf("%s: another seed lost the same datagrams", name)
		}
	}
	if slices.Equal(first.missing[0], first.missing[1]) {
		t.Error("both directions lost the same places")
	}
	if s, want := first.stats, int64(len(first.missing[0])+len(first.missing[1])); s.Lost != want || s.Dropped != 0 || s.Failed != 0 {
		t.Errorf("Stats %+v, want %d lost, none dropped or failed", s, want)
	}
	// A datagram that Drop takes counts as dropped even where it would have been lost.
	if s := again.stats; s.Dropped != 2*n/10 || s.Lost+s.Dropped != int64(len(again.missing[0])+len(again.missing[1])) {
		t.Errorf("with Drop: Stats %+v, want %d dropped, and lost the rest of the %d missing", s, 2*n/10, len(again.missing[0])+len(again.missing[1]))
	}
}

// readTCPCounters returns ns's Tcp counters from /proc/net/snmp, such as InCsumErrors,
// the segments the kernel dropped for a wrong checksum.
func readTCPCounters(t testing.TB, ns *delaylink.Namespace) map[string]int64 {
	t.Helper()
	return readSNMP(t, ns, "/proc/thread-self/net/snmp", "Tcp:")
}

// readSNMP reads the counters of the lines that start with prefix, a line of names
// followed by a line of values, in the file name of ns.
func readSNMP(t testing.TB, ns *delaylink.Namespace, name, prefix string) map[string]int64 {
	t.Helper()
	var names []string
	counters := map[string]int64{}
	for line := range strings.Lines(readFileIn(t, ns, name)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != prefix {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, v := range f[1:] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || i >= len(names) {
				t.Fatalf("%s: %q", name, line)
			}
			counters[names[i]] = n
		}
	}
	if len(counters) == 0 {
		t.Fatalf("%s has no %s counters", name, prefix)
	}
	return counters
}

// synACKs returns a filter that calls f on the SYN-ACKs, and leaves the other packets
// alone.
func synACKs(f func([]byte) bool) func([]byte) bool {
	return func(p []byte) bool {
		var seg []byte
		switch {
		case len(p) >= 20 && p[0] == 0x45 && p[9] == unix.IPPROTO_TCP:
			seg = p[20:]
		case len(p) >= 40 && p[0]>>4 == 6 && p[6] == unix.IPPROTO_TCP:
			seg = p[40:]
		}
		if len(seg) < 20 || seg[13]&0x12 != 0x12 { // SYN and ACK
			return false
		}
		return f(p)
	}
}

// TestStripFastOpenOnWire checks that a link that strips the fast open option from
// SYNs and SYN-ACKs keeps the kernel's fast open and tfo's from ever getting a cookie,
// and that the segments it changes still have the right checksum: the connections work
// and neither end drops a segment for its checksum. TCPFastOpenCookieReqd counts the
// requests for a cookie that a server receives (net/ipv4/tcp_fastopen.c,
// tcp_try_fastopen), so it tells which SYNs reached the server still asking.
func TestStripFastOpenOnWire(t *testing.T) {
	const conns = 3
	for _, network := range []string{"tcp4", "tcp6"} {
		for _, client := range []struct {
			name string
			dial delaylink.DialFunc
		}{
			{"kernel", kernelFastOpen.DialContext},
			{"tfo", (&tfo.Dialer{}).DialContext},
		} {
			for _, tt := range []struct {
				name    string
				rewrite func([]byte) bool
				// Growth of the counters over the connections, and packets rewritten.
				cookieReqd, active, passive, rewritten int64
			}{
				// Without the filter, the first connection fetches a cookie and the others
				// fast-open: the test can tell.
				{"none", nil, 1, conns - 1, conns - 1, 0},
				// The server never sees a request: each SYN's is stripped.
				{"SYNs and SYN-ACKs", delaylink.StripFastOpen, 0, 0, 0, conns},
				// The server sees each request, and the cookie in its SYN-ACK is stripped.
				{"SYN-ACKs", synACKs(delaylink.StripFastOpen), conns, 0, 0, conns},
			} {
				t.Run(network+"/"+client.name+"/"+tt.name, func(t *testing.T) {
					l := newLink(t, delaylink.Config{RTT: 10 * time.Millisecond, Rewrite: tt.rewrite})
					ln := listenIn(t, l.B, tfo.Listen, network)
					serve(t, ln, answer)
					extA, extB := readTCPExt(t, l.A), readTCPExt(t, l.B)
					tcpA, tcpB := readTCPCounters(t, l.A), readTCPCounters(t, l.B)
					dial := l.A.Dial(client.dial)
					fast := 0
					for i := range conns {
						c, err := dial(t.Context(), network, ln.Addr().String())
						if err != nil {
							t.Fatal(err)
						}
						c.SetDeadline(time.Now().Add(10 * time.Second))
						msg := "hello " + strconv.Itoa(i)
						b := make([]byte, 64)
						_, err = c.Write([]byte(msg))
						var n int
						if err == nil {
							n, err = io.ReadAtLeast(c, b, len("re:"+msg))
						}
						if err != nil || string(b[:n]) != "re:"+msg {
							t.Fatalf("connection %d: answer %q, %v", i, b[:n], err)
						}
						if ok, err := tfo.FastOpened(c); err != nil {
							t.Fatal(err)
						} else if ok {
							fast++
						}
						c.Close()
					}
					a, b := readTCPExt(t, l.A), readTCPExt(t, l.B)
					got := [...]int64{
						b["TCPFastOpenCookieReqd"] - extB["TCPFastOpenCookieReqd"],
						a["TCPFastOpenActive"] - extA["TCPFastOpenActive"],
						b["TCPFastOpenPassive"] - extB["TCPFastOpenPassive"],
						l.Stats().Rewritten,
					}
					want := [...]int64{tt.cookieReqd, tt.active, tt.passive, tt.rewritten}
					if got != want {
						t.Errorf("TCPFastOpenCookieReqd +%d in B, TCPFastOpenActive +%d in A, TCPFastOpenPassive +%d in B, %d packets rewritten; want +%d, +%d, +%d, %d",
							got[0], got[1], got[2], got[3], want[0], want[1], want[2], want[3])
					}
					if want := int(tt.active); fast != want {
						t.Errorf("%d connections fast-opened, want %d", fast, want)
					}
					for ns, before := range map[*delaylink.Namespace]map[string]int64{l.A: tcpA, l.B: tcpB} {
						if d := readTCPCounters(t, ns)["InCsumErrors"] - before["InCsumErrors"]; d != 0 {
							t.Errorf("InCsumErrors +%d in %v's namespace", d, ns.Addr())
						}
					}
				})
			}
		}
	}
}

// TestAddAddr6 checks that a server can listen on an address that AddAddr6 added, and
// that the other end reaches it across the link.
func TestAddAddr6(t *testing.T) {
	l := newLink(t, delaylink.Config{RTT: 2 * time.Millisecond})
	extra := netip.MustParseAddr("2001:2::a")
	for _, bad := range []string{"2001:3::1", "198.18.0.6", "::ffff:198.18.0.6"} {
		if err := l.B.AddAddr6(netip.MustParseAddr(bad)); err == nil {
			t.Errorf("AddAddr6(%s) succeeded", bad)
		}
	}
	if err := l.B.AddAddr6(extra); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := l.B.Do(func() (err error) {
		ln, err = net.Listen("tcp6", netip.AddrPortFrom(extra, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	serve(t, ln, answer)
	before := l.Stats().Forwarded
	c, err := l.A.Dial((&net.Dialer{}).DialContext)(t.Context(), "tcp6", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 16)
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(b); err != nil || string(b[:n]) != "re:hi" {
		t.Fatalf("answer %q, %v", b[:n], err)
	}
	if got := l.Stats().Forwarded - before; got < 4 {
		t.Errorf("%d packets crossed the link, want a handshake and an exchange", got)
	}
}

// TestReplaySYNData checks that a link with ReplaySYNData delivers a SYN with data a
// second time, from another port, and that the server accepts the copy as a connection
// of its own, whose data it reads again, while a SYN without data is not sent again.
func TestReplaySYNData(t *testing.T) {
	const replay = 30 * time.Millisecond
	l := newLink(t, delaylink.Config{RTT: 10 * time.Millisecond, ReplaySYNData: replay})
	ln := listenIn(t, l.B, tfo.Listen, "tcp4")
	type accepted struct {
		port int
		data string
	}
	got := make(chan accepted, 10)
	serve(t, ln, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 64)
		n, _ := c.Read(b)
		got <- accepted{c.RemoteAddr().(*net.TCPAddr).Port, string(b[:n])}
		c.Write([]byte("re:" + string(b[:n])))
	})
	dial := l.A.Dial(kernelFastOpen.DialContext)
	send := func(msg string) int {
		t.Helper()
		c, err := dial(t.Context(), "tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		if n, err := c.Read(b); err != nil || string(b[:n]) != "re:"+msg {
			t.Fatalf("answer %q, %v", b[:n], err)
		}
		return c.LocalAddr().(*net.TCPAddr).Port
	}
	send("cookie") // asks for a cookie, without data: not replayed
	if a := <-got; a.data != "cookie" {
		t.Fatalf("first conn read %q", a.data)
	}
	port := send("twice")
	first, second := <-got, <-got
	if first != (accepted{port, "twice"}) {
		t.Errorf("original conn %+v, want port %d with %q", first, port, "twice")
	}
	if want := (accepted{int(delaylink.ReplayPort(uint16(port))), "twice"}); second != want {
		t.Errorf("replayed conn %+v, want %+v", second, want)
	}
	select {
	case a := <-got:
		t.Errorf("a third conn: %+v", a)
	case <-time.After(2 * replay):
	}
	if s := l.Stats(); s.Replayed != 1 {
		t.Errorf("Stats %+v, want one SYN replayed", s)
	}
}
