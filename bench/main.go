// Bench measures what TCP Fast Open gains over package net, on loopback.
//
// It runs rounds of each measurement, alternating package net and package tfo so that
// drift in the machine's speed hits both, and prints for each the median over rounds,
// the range, and the ratio tfo/net:
//
//   - dial, write 64 bytes, read a 64-byte reply and close, as cycles per second;
//   - heap allocations per such cycle, client and server together;
//   - 64-byte round trips per second over an established connection.
//
// It also reports, from the TcpExt counters TCPFastOpenActive and TCPFastOpenPassive,
// whether the tfo cycles were really fast-opened.
//
// As root on Linux, bench runs in a private network namespace of its own, with lo up
// and net.ipv4.tcp_fastopen=3, and leaves the host's settings alone. Otherwise it runs
// on the host, where fast open happens only if the host's settings allow it.
//
// Usage:
//
//	go run ./bench [-n cycles] [-rounds rounds]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fastopen/tfo"
	"github.com/fastopen/tfo/internal/netns"
	"github.com/fastopen/tfo/internal/workload"
)

// A side is one of the two packages compared.
type side struct {
	name   string
	listen func(network, address string) (net.Listener, error)
	dial   workload.Dial
}

var sides = [2]side{
	{"net", net.Listen, net.Dial},
	{"tfo", tfo.Listen, tfo.Dial},
}

func main() {
	n := flag.Int("n", 1000, "cycles per round; a round also makes 5n round trips")
	rounds := flag.Int("rounds", 20, "rounds of each measurement, per package")
	flag.Parse()
	if *n < 1 || *rounds < 1 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if code, done := netns.Enter("bench"); done {
		os.Exit(code)
	}
	if !netns.Inside() {
		fmt.Println(hostNote())
		fmt.Println()
	}
	res, err := measure(*n, *rounds, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	res.print(os.Stdout)
	if err := res.check(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// hostNote says whether fast open can happen on the host's loopback.
func hostNote() string {
	const full = "Run as root on Linux for the full picture: bench then runs in a private network namespace with net.ipv4.tcp_fastopen=3."
	if runtime.GOOS != "linux" {
		return fmt.Sprintf("Running on the host: package tfo does not fast-open on %s, so tfo measures its fallback.\n%s", runtime.GOOS, full)
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_fastopen")
	if err != nil {
		return fmt.Sprintf("Running on the host: %v.\n%s", err, full)
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseInt(s, 0, 64)
	if err == nil && v&3 == 3 {
		return fmt.Sprintf("Running on the host: net.ipv4.tcp_fastopen=%s lets fast open happen on loopback; the counters below are the host's, other traffic included.\n%s", s, full)
	}
	return fmt.Sprintf("Running on the host: net.ipv4.tcp_fastopen=%s keeps fast open from happening on loopback, which needs the client bit 0x1 and the server bit 0x2; tfo measures its fallback.\n%s", s, full)
}

// results holds the values of each measurement, per side and round.
type results struct {
	n, rounds    int
	cyclesPerSec [2][]float64
	allocs       [2][]float64
	tripsPerSec  [2][]float64

	counted          bool  // the TcpExt counters could be read
	active, passive  int64 // fast opens during the tfo cycles
	tfoCycles        int64
	fastOpenExpected bool // fast open is on, so the tfo cycles must be fast-opened
}

// tripsPerCycle is how many round trips a round makes per cycle, so that both
// measurements take about as long.
const tripsPerCycle = 5

// measure runs rounds rounds of each measurement, of n cycles or tripsPerCycle*n round
// trips, alternating the sides, and writes its progress to progress.
func measure(n, rounds int, progress io.Writer) (*results, error) {
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	start := func(s side, handle func(net.Conn)) (addr string, err error) {
		ln, err := s.listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		stops = append(stops, workload.Serve(ln, handle))
		return ln.Addr().String(), nil
	}
	var replyAddr, echoAddr [2]string
	for i, s := range sides {
		var err error
		if replyAddr[i], err = start(s, workload.Reply); err != nil {
			return nil, err
		}
		if echoAddr[i], err = start(s, workload.Echo); err != nil {
			return nil, err
		}
		// The first tfo cycle fetches the cookie; the others warm both sides up.
		if _, _, err := cycles(s.dial, replyAddr[i], max(n/10, 1)); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	res := &results{n: n, rounds: rounds, fastOpenExpected: netns.Inside()}
	begin := time.Now()
	for r := range rounds {
		fmt.Fprintf(progress, "\rround %d/%d", r+1, rounds)
		for j := range sides {
			i := (j + r) % len(sides) // which side goes first alternates
			s := sides[i]
			var before map[string]int64
			if s.name == "tfo" {
				before, _ = netns.ReadTCPExt()
			}
			perSec, allocs, err := cycles(s.dial, replyAddr[i], n)
			if err != nil {
				return nil, fmt.Errorf("%s cycles: %w", s.name, err)
			}
			res.cyclesPerSec[i] = append(res.cyclesPerSec[i], perSec)
			res.allocs[i] = append(res.allocs[i], allocs)
			if s.name == "tfo" {
				after, err := netns.ReadTCPExt()
				if err == nil && before != nil {
					res.counted = true
					res.active += after["TCPFastOpenActive"] - before["TCPFastOpenActive"]
					res.passive += after["TCPFastOpenPassive"] - before["TCPFastOpenPassive"]
				}
				res.tfoCycles += int64(n)
			}
			perSec, err = roundTrips(s.dial, echoAddr[i], tripsPerCycle*n)
			if err != nil {
				return nil, fmt.Errorf("%s round trips: %w", s.name, err)
			}
			res.tripsPerSec[i] = append(res.tripsPerSec[i], perSec)
		}
	}
	fmt.Fprintf(progress, "\r%d rounds in %.1fs\n", rounds, time.Since(begin).Seconds())
	return res, nil
}

// cycles runs n cycles of dial, write, read and close against addr. It returns how many
// cycles it ran per second, and how many heap allocations the process made per cycle.
func cycles(dial workload.Dial, addr string, n int) (perSec, allocs float64, err error) {
	req, resp := make([]byte, workload.MsgSize), make([]byte, workload.MsgSize)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range n {
		if err := workload.Cycle(dial, addr, req, resp); err != nil {
			return 0, 0, err
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return float64(n) / elapsed.Seconds(), float64(after.Mallocs-before.Mallocs) / float64(n), nil
}

// roundTrips writes a request and reads its echo n times over one connection to addr,
// and returns how many round trips it made per second.
func roundTrips(dial workload.Dial, addr string, n int) (perSec float64, err error) {
	c, err := dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, workload.MsgSize)
	trip := func() error { return workload.RoundTrip(c, buf) }
	if err := trip(); err != nil { // connects a tfo conn
		return 0, err
	}
	start := time.Now()
	for range n {
		if err := trip(); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// print writes the results as a table.
func (res *results) print(w io.Writer) {
	where := "on the host"
	if netns.Inside() {
		where = "in a private network namespace"
	}
	fmt.Fprintf(w, "loopback 127.0.0.1 %s: %d rounds per package of %d cycles and %d round trips, net and tfo alternating\n\n", where, res.rounds, res.n, tripsPerCycle*res.n)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tnet median\tnet min–max\ttfo median\ttfo min–max\ttfo against net\t")
	row := func(name, format string, v [2][]float64, compare func(a, b float64) string) {
		a, b := median(v[0]), median(v[1])
		fmt.Fprintf(tw, "%s\t"+format+"\t%s\t"+format+"\t%s\t%s\t\n", name, a, span(format, v[0]), b, span(format, v[1]), compare(a, b))
	}
	ratio := func(a, b float64) string { return fmt.Sprintf("×%.3f", b/a) }
	row("cycles/s", "%.0f", res.cyclesPerSec, ratio)
	row("allocs/cycle", "%.1f", res.allocs, func(a, b float64) string { return fmt.Sprintf("%+.1f", b-a) })
	row("round trips/s", "%.0f", res.tripsPerSec, ratio)
	tw.Flush()
	fmt.Fprintln(w)
	if !res.counted {
		fmt.Fprintln(w, "fast open: unknown, /proc/net/netstat cannot be read")
		return
	}
	fmt.Fprintf(w, "fast open: TCPFastOpenActive +%d, TCPFastOpenPassive +%d over %d tfo cycles: %s\n", res.active, res.passive, res.tfoCycles, yesNo(res.fastOpened()))
}

// fastOpened reports whether the tfo cycles were fast-opened, both ends counting.
func (res *results) fastOpened() bool {
	want := res.tfoCycles * 99 / 100
	return res.counted && res.active >= want && res.passive >= want
}

// check returns an error if fast open should have happened and did not.
func (res *results) check() error {
	if res.fastOpenExpected && !res.fastOpened() {
		return errors.New("the tfo cycles were not fast-opened")
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func span(format string, v []float64) string {
	return fmt.Sprintf(format+"–"+format, slices.Min(v), slices.Max(v))
}
