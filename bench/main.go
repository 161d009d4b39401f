// Bench measures what TCP Fast Open gains over package net on this machine.
//
// As root on Linux, bench first makes two private network namespaces joined by a link
// that holds each packet for half the round-trip time -rtt (see internal/delaylink),
// with net.ipv4.tcp_fastopen=3 in both. It runs servers in one and clients in the
// other, and measures the time from the start of a fresh connection to the first byte
// of the response, with package net and with package tfo, alternating, after one
// connection each that lets tfo fetch its cookie:
//
//   - raw: dial, write a 64-byte request, read the reply;
//   - HTTP: a GET through an http.Transport, over HTTP/1.1;
//   - HTTPS default: the same over TLS 1.3, with Go's default ClientHello;
//   - HTTPS X25519: the same, with a ClientHello that offers an X25519 key share alone.
//
// Its table has a row per case and these columns:
//
//   - net median, net p10–p90: the median time to the first response byte with net,
//     and its 10th and 90th percentiles;
//   - tfo median, tfo p10–p90: the same with tfo;
//   - tfo/net: the tfo median over the net median; lower is better;
//   - pairs p10–p90: the 10th and 90th percentiles of the ratios tfo/net of the
//     connections made one after the other, the spread of tfo/net;
//   - limit: tfo/net when fast open saves a whole round trip, the best it can do: 0.50
//     when it turns two round trips into one, 0.67 for TLS, three into two; a tfo/net
//     below it comes from noise;
//   - tfo fast-opened: how many tfo connections FastOpened reports as fast-opened.
//
// Then, over loopback in a private network namespace of its own, it measures rounds of
// each of these, alternating net and tfo:
//
//   - dial, write 64 bytes, read a 64-byte reply and close, as cycles per second;
//   - heap allocations per such cycle, client and server together;
//   - 64-byte round trips per second over an established connection.
//
// Its table has a row per measurement and these columns:
//
//   - net median, net min–max: the median over net's rounds, and the least and
//     greatest;
//   - tfo median, tfo min–max: the same for tfo;
//   - tfo/net: the median of the rounds' ratios tfo/net, each round running both
//     packages back to back so that a change in the machine's speed cancels out; for
//     allocations, the median of the differences tfo−net;
//   - rounds min–max: the least and greatest of those ratios or differences, their
//     spread;
//   - limit: net's TCP segments per cycle or round trip over tfo's, both ends counting
//     (Tcp OutSegs): the ratio if the time went by the segments sent, which fast open
//     cannot beat, since it does everything else net does; none for allocations, nor
//     on the host, where other traffic counts too.
//
// Over loopback a round trip costs next to nothing, so fast open, which saves one
// segment per cycle, gains a few percent at most, and the machine's noise may cover it:
// read tfo/net against its spread and its limit.
//
// In both parts it checks, with the kernel's TcpExt counters and FastOpened, that the
// tfo connections were really fast-opened.
//
// Last, it shows where fast open cannot help, or could cost, and what tfo loses there:
// over links with a 10 ms round trip (see nohelp.go), tfo against net and against the
// kernel's own fast open (net.Dialer with TCP_FASTOPEN_CONNECT), in these cases:
//
//   - silent IPv6 first: over loopback, a host whose first address, IPv6, is silent and
//     whose second, IPv4, serves, with a cookie cached for both;
//   - server speaks first: a server that sends a banner on accept, as SMTP does, on
//     repeat conns;
//   - relay, server first: the same server through a relay that dials it with each
//     package and copies both ways;
//   - 3% loss: a path that loses 3% of its packets each way;
//   - drops SYN data: a middlebox that drops every SYN that carries data.
//
// The kernel's mechanism, whose connect sends nothing until the first write, hangs in
// the first three cases; it is tried once there. Its first table has a row per case and
// these columns:
//
//   - n: the conns per package;
//   - net median, net p10–p90: the median time to the first byte from the server with
//     net, and its 10th and 90th percentiles; a conn that failed counts as slower than
//     any answer, and a median that failed reads "fails";
//   - tfo median, tfo p10–p90: the same with tfo;
//   - tfo/net: the tfo median over the net median; lower is better;
//   - pairs p10–p90: the 10th and 90th percentiles of the ratios tfo/net of the conns
//     made together (one after the other, or at once in the last two cases), the spread
//     of tfo/net;
//   - limit: the least tfo/net can be (a figure below it comes from noise): 1.00 where
//     fast open saves nothing (the silent address, which net and tfo leave after
//     net.Dialer's FallbackDelay; the middlebox); 0.50 where the server speaks first,
//     since a SYN with a cookie, even without data, lets the server accept the conn at
//     the SYN and send its banner right behind its SYN-ACK, one round trip after the
//     start instead of two; on the lossy path, the kernel's own kernel/net;
//   - kernel median, kernel/net: the kernel's mechanism's median time and its ratio to
//     net's; "hangs" where it got no answer.
//
// Its second table counts conns in the last two cases, for each client out of its conns:
// on the lossy path those fast-opened (FastOpened), behind the middlebox those that paid
// for a lost SYN, which took its retransmission timeout (a second) or more. Its tfo 90%
// interval is the Wilson score interval of tfo's share at 90% confidence, the spread that
// chance alone gives a count of n conns. Its limit is the best tfo can reach (a count
// beyond it comes from chance): the kernel's own count on the lossy path; one conn
// behind the middlebox, since a client learns that SYNs with data get dropped only by
// losing one. Lines below the tables say
// how many conns failed and why, how many the server accepted at their SYN (TcpExt
// TCPFastOpenPassive), and which of tfo's conns paid.
//
// -tables gains or -tables nohelp measures only the first tables or only the last.
//
// Without root, bench measures loopback on the host, where fast open happens only if
// the host's settings allow it, and says so. Nothing it makes outlives it, whether it
// ends or is interrupted.
//
// Usage:
//
//	go run ./bench [-rtt 20ms] [-n 50] [-cycles 1000] [-rounds 20] [-svg file]
//	               [-tables all|gains|nohelp] [-nohelp-n 10] [-loss-n 100]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fastopen/tfo"
	"github.com/fastopen/tfo/internal/delaylink"
	"github.com/fastopen/tfo/internal/netns"
	"github.com/fastopen/tfo/internal/workload"
)

// A side is one of the two packages compared.
type side struct {
	name        string
	listen      func(network, address string) (net.Listener, error)
	dial        workload.Dial
	dialContext delaylink.DialFunc
}

var sides = [2]side{
	{"net", net.Listen, net.Dial, (&net.Dialer{}).DialContext},
	{"tfo", tfo.Listen, loopbackTFO.Dial, loopbackTFO.DialContext},
}

// loopbackTFO is tfo's Dialer for the loopback table too, which asks for fast open to
// loopback addresses: without it, such a dial connects as net's does.
var loopbackTFO = &tfo.Dialer{Loopback: true}

// config is what the flags set.
type config struct {
	rtt            time.Duration
	n              int
	cycles, rounds int
	svg            string
	tables         string // all, gains or nohelp
	noHelp         noHelpConfig
}

func main() {
	var cfg config
	flag.DurationVar(&cfg.rtt, "rtt", 20*time.Millisecond, "round-trip time of the link between the namespaces")
	flag.IntVar(&cfg.n, "n", 50, "fresh connections per case and package over the link")
	flag.IntVar(&cfg.cycles, "cycles", 1000, "loopback: cycles per round; a round also makes 5 round trips per cycle")
	flag.IntVar(&cfg.rounds, "rounds", 20, "loopback: rounds per package")
	flag.StringVar(&cfg.svg, "svg", "", "write a chart of the link's ratios to `file`, as SVG")
	flag.StringVar(&cfg.tables, "tables", "all", "the tables to measure: all, gains (over the link and loopback) or nohelp (where fast open cannot help)")
	flag.IntVar(&cfg.noHelp.n, "nohelp-n", 10, "where fast open cannot help: conns per package to a server that speaks first, directly and through a relay; at most 3 to a host whose first address is silent")
	flag.IntVar(&cfg.noHelp.lossN, "loss-n", 100, "where fast open cannot help: conns per package over the lossy path and behind the middlebox")
	flag.Parse()
	cfg.noHelp.rtt = noHelpRTT
	if cfg.rtt <= 0 || cfg.n < 1 || cfg.cycles < 1 || cfg.rounds < 1 || flag.NArg() > 0 ||
		!slices.Contains([]string{"all", "gains", "nohelp"}, cfg.tables) || cfg.noHelp.n < 1 || cfg.noHelp.lossN < 1 {
		flag.Usage()
		os.Exit(2)
	}
	// Ctrl-C interrupts the copy of bench that netns.Enter runs, which stops, closes
	// what it made and exits; this one waits for it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if code, done := netns.Enter("bench"); done {
		os.Exit(code)
	}
	os.Exit(run(ctx, cfg, os.Stdout, newProgress(os.Stderr)))
}

// run measures what cfg says, writes the results to w and returns the exit code.
func run(ctx context.Context, cfg config, w io.Writer, prog *progress) int {
	fail := func(err error) int {
		prog.clear()
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "bench: interrupted")
			return 130
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Fprintf(w, "tfo against net on %s\n\n", machine())
	if cfg.tables == "nohelp" {
		if err := noHelpTable(ctx, cfg.noHelp, w, prog); err != nil {
			return fail(err)
		}
		return 0
	}
	var problems []string
	if netns.Inside() {
		res, err := measureLink(ctx, cfg.rtt, cfg.n, prog)
		if err != nil {
			return fail(fmt.Errorf("link: %w", err))
		}
		res.print(w)
		fmt.Fprintln(w)
		if !res.fastOpened() {
			problems = append(problems, "the tfo connections over the link were not all fast-opened")
		}
		if cfg.svg != "" {
			if err := writeChart(cfg.svg, res, machine()); err != nil {
				return fail(err)
			}
		}
	} else {
		fmt.Fprintln(w, hostNote())
		fmt.Fprintln(w)
		if cfg.svg != "" {
			problems = append(problems, "no chart: it shows the link's measurements, which need root")
		}
	}
	res, err := measureLoopback(ctx, cfg.cycles, cfg.rounds, prog)
	if err != nil {
		return fail(fmt.Errorf("loopback: %w", err))
	}
	res.print(w, netns.Inside())
	if netns.Inside() && !res.fastOpened() {
		problems = append(problems, "the tfo cycles were not fast-opened")
	}
	if cfg.tables == "all" {
		fmt.Fprintln(w)
		if err := noHelpTable(ctx, cfg.noHelp, w, prog); err != nil {
			return fail(err)
		}
	}
	if len(problems) > 0 {
		fmt.Fprintln(os.Stderr, "bench:", strings.Join(problems, "; "))
		return 1
	}
	return 0
}

// machine describes the system, the Go version and the date.
func machine() string {
	system := runtime.GOOS
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		system = "Linux " + strings.TrimSpace(string(b))
	}
	cpu := fmt.Sprintf("%d CPUs", runtime.NumCPU())
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				cpu = strings.TrimSpace(value) + ", " + cpu
				break
			}
		}
	}
	return fmt.Sprintf("%s (%s), %s, %s", system, cpu, runtime.Version(), time.Now().Format(time.DateOnly))
}

// hostNote says whether fast open can happen on the host's loopback, and what the rest
// of the measurements need.
func hostNote() string {
	const full = "The measurements over a link with a round-trip delay need root on Linux: bench then makes network namespaces of its own, and leaves the host's settings alone (in a root shell: go run ./bench; from a user's shell: sudo -E env \"PATH=$PATH\" go run ./bench)."
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
