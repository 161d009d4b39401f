package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fastopen/tfo/internal/netns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if code, done := netns.Enter("bench tests"); done {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

// requireNamespace skips a test that needs the private network namespace netns.Enter
// makes as root on Linux; with CI=true it fails instead.
func requireNamespace(t *testing.T) {
	t.Helper()
	netns.Require(t, "needs root on Linux, to run in private network namespaces with fast open on")
}

var quiet = &progress{w: io.Discard}

func TestLoopback(t *testing.T) {
	if !netns.Inside() && os.Getenv("CI") == "true" && runtime.GOOS == "linux" {
		t.Fatal("CI=true needs the tests to run as root on Linux, in a private network namespace with fast open on")
	}
	const n, rounds = 20, 2
	res, err := measureLoopback(t.Context(), n, rounds, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if kernelDial != nil && (len(res.kernelCyclesPerSec) != rounds || len(res.kernelAllocs) != rounds || len(res.kernelCPU) != rounds) {
		t.Errorf("the kernel's mechanism: %d, %d and %d rounds; want %d", len(res.kernelCyclesPerSec), len(res.kernelAllocs), len(res.kernelCPU), rounds)
	}
	for name, m := range map[string][2][]float64{
		"cycles/s":      res.cyclesPerSec,
		"allocs/cycle":  res.allocs,
		"CPU µs/cycle":  res.cpuPerCycle,
		"round trips/s": res.tripsPerSec,
	} {
		for i, v := range m {
			if len(v) != rounds {
				t.Errorf("%s %s: %d rounds, want %d", sides[i].name, name, len(v), rounds)
			}
			for _, x := range v {
				if name == "CPU µs/cycle" && processCPU() == 0 {
					break // not told here
				}
				if !(x > 0) {
					t.Errorf("%s %s: %v, want > 0", sides[i].name, name, x)
				}
			}
		}
	}
	if res.tfoCycles != n*rounds {
		t.Errorf("%d tfo cycles counted, want %d", res.tfoCycles, n*rounds)
	}
	if netns.Inside() && !res.fastOpened() {
		t.Errorf("tfo cycles not fast-opened: TCPFastOpenActive +%d, TCPFastOpenPassive +%d over %d cycles", res.active, res.passive, res.tfoCycles)
	}
	var out strings.Builder
	res.print(&out, netns.Inside())
	for _, want := range []string{"cycles/s", "allocs/cycle", "round trips/s", "fast open:", "rounds min–max", "limit"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}

// TestLink measures a few connections of each case over a link and checks what can be
// checked without timing them: that each took at least the round trips it must, and
// that fast open happened with tfo, on the wire, and not with net.
func TestLink(t *testing.T) {
	requireNamespace(t)
	const rtt, n = 10 * time.Millisecond, 3
	res, err := measureLink(t.Context(), rtt, n, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.cases) != len(linkCases) {
		t.Fatalf("%d cases, want %d", len(res.cases), len(linkCases))
	}
	for _, c := range res.cases {
		// net needs a round trip for the handshake and one for the request, plus one for
		// TLS; fast open can save one.
		trips := 2.0
		if c.limit == tlsLimit {
			trips = 3
		}
		for i, ms := range c.ms {
			if len(ms) != n {
				t.Errorf("%s %s: %d samples, want %d", c.name, sides[i].name, len(ms), n)
			}
			least := trips - float64(i)
			for _, v := range ms {
				if v < least*float64(rtt/time.Millisecond) {
					t.Errorf("%s %s: %.1f ms, less than %v round trips of %v", c.name, sides[i].name, v, least, rtt)
				}
			}
		}
		if c.fast[0] != 0 || c.fast[1] != n {
			t.Errorf("%s: fast-opened %d net and %d tfo connections, want 0 and %d", c.name, c.fast[0], c.fast[1], n)
		}
	}
	// The warm-up round makes one connection per case and side; the very first fetches
	// the cookie.
	if want := int64(len(linkCases) * (n + 1)); res.tfoConns != want {
		t.Errorf("%d tfo connections counted, want %d", res.tfoConns, want)
	}
	if !res.fastOpened() {
		t.Errorf("TCPFastOpenActive +%d, TCPFastOpenPassive +%d over %d tfo connections", res.active, res.passive, res.tfoConns)
	}
	if res.helloDefault <= 1420 || res.helloX25519 > 1420 {
		t.Errorf("ClientHello %d bytes by default, %d with X25519: want the first, only, too large for a SYN", res.helloDefault, res.helloX25519)
	}
	var out strings.Builder
	res.print(&out)
	for _, c := range linkCases {
		if !strings.Contains(out.String(), c.name) {
			t.Errorf("table lacks %q:\n%s", c.name, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}

// TestRun runs bench as main does, with small numbers, and checks its output and chart.
func TestRun(t *testing.T) {
	requireNamespace(t)
	cfg := config{rtt: 4 * time.Millisecond, n: 2, cycles: 20, rounds: 2, svg: filepath.Join(t.TempDir(), "bench.svg")}
	var out bytes.Buffer
	if code := run(t.Context(), cfg, &out, quiet); code != 0 {
		t.Fatalf("exit code %d; output:\n%s", code, out.String())
	}
	for _, want := range []string{"tfo against net on ", "HTTPS X25519", "round trips/s", "tfo connections: yes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	f, err := os.Open(cfg.svg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bars, texts := 0, ""
	d := xml.NewDecoder(f)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			for _, a := range tok.Attr {
				if tok.Name.Local == "rect" && a.Name.Local == "fill" && a.Value == "#4a7ab7" {
					bars++
				}
			}
		case xml.CharData:
			texts += string(tok) + "\n"
		}
	}
	if bars != len(linkCases)+1 { // one more in the legend
		t.Errorf("%d bars in the chart, want %d", bars, len(linkCases)+1)
	}
	for _, c := range linkCases {
		if !strings.Contains(texts, c.name) {
			t.Errorf("the chart lacks %q", c.name)
		}
	}
}

// TestInterrupt checks that bench, interrupted while it measures over the link, stops
// at once with exit code 130 and leaves no thread in another network namespace (and,
// with TestMain's check, no goroutine).
func TestInterrupt(t *testing.T) {
	requireNamespace(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Interrupt at the first progress of the measurements over the link.
	prog := &progress{w: writerFunc(func(b []byte) {
		if bytes.Contains(b, []byte("round trip: 1/")) {
			cancel()
		}
	})}
	start := time.Now()
	code := run(ctx, config{rtt: 20 * time.Millisecond, n: 1000, cycles: 1000, rounds: 1000}, io.Discard, prog)
	if code != 130 {
		t.Errorf("exit code %d, want 130", code)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("interrupted run took %v", d)
	}
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	// A thread ends just after its goroutine.
	var others []string
	for range 100 {
		if others = threadsElsewhere(t, self); len(others) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(others) > 0 {
		t.Errorf("threads left in other network namespaces: %v", others)
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) {
	f(b)
	return len(b), nil
}

// threadsElsewhere returns the process's threads whose network namespace is not ns.
func threadsElsewhere(t *testing.T, ns string) []string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, task := range tasks {
		s, err := os.Readlink(task)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if s != ns {
			out = append(out, task+" "+s)
		}
	}
	return out
}

func TestStatistics(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3}
	for _, tt := range []struct{ p, want float64 }{{0, 1}, {10, 1.4}, {50, 3}, {90, 4.6}, {100, 5}} {
		if got := percentile(v, tt.p); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("percentile(%v, %v) = %v, want %v", v, tt.p, got, tt.want)
		}
	}
	// A percentile between a value and a failure, +Inf, is the failure; one at a value
	// is that value, even next to a failure.
	inf := math.Inf(1)
	for _, tt := range []struct{ p, want float64 }{{10, 1.4}, {50, 3}, {60, inf}, {75, inf}, {100, inf}} {
		if got := percentile([]float64{inf, 1, 3, 2, inf}, tt.p); !(got == tt.want || math.Abs(got-tt.want) <= 1e-9) {
			t.Errorf("percentile with failures at %v = %v, want %v", tt.p, got, tt.want)
		}
	}
	// Wilson score intervals at 90%; for none or all of n, the bound is z²/(n+z²) from
	// the end.
	for _, tt := range []struct {
		k, n   int
		lo, hi float64
	}{{97, 100, 0.9273, 0.9879}, {3, 100, 0.0121, 0.0727}, {0, 10, 0, 0.2130}, {10, 10, 0.7870, 1}} {
		if lo, hi := wilson(tt.k, tt.n, 1.645); math.Abs(lo-tt.lo) > 1e-4 || math.Abs(hi-tt.hi) > 1e-4 {
			t.Errorf("wilson(%d, %d) = %.4f–%.4f, want %.4f–%.4f", tt.k, tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median = %v, want 2.5", got)
	}
	// Round by round, 1.1, 0.95 and 1.333; the medians' ratio would be 0.95.
	if got := pairedRatio([2][]float64{{10, 20, 30}, {11, 19, 40}}); math.Abs(got-1.1) > 1e-9 {
		t.Errorf("pairedRatio = %v, want 1.1", got)
	}
}

// TestLoopbackPrint checks the loopback table on made-up rounds: each figure is printed
// as computed, with no verdict beside it, the spread spans the rounds, and the limit is
// net's segments per cycle over tfo's.
func TestLoopbackPrint(t *testing.T) {
	res := &loopback{
		n: 100, rounds: 3,
		cyclesPerSec: [2][]float64{{1000, 1000, 1000}, {1010, 990, 1050}},
		// tfo makes 4.03 allocations more per cycle: once printed as "+4.0 ≤ +4 missed".
		allocs:      [2][]float64{{23, 23, 23}, {27.03, 27.03, 27.03}},
		cpuPerCycle: [2][]float64{{100, 100, 100}, {102, 98, 110}},
		// The kernel's mechanism: tfo makes 1 allocation less, and 2% more cycles.
		kernelCyclesPerSec: []float64{1000, 1000, 1000},
		kernelAllocs:       []float64{28.03, 28.03, 28.03},
		kernelCPU:          []float64{100, 100, 100},
		tripsPerSec:        [2][]float64{{5000, 5000, 5000}, {5000, 4950, 5050}},
		counted:            true, active: 300, passive: 300, tfoCycles: 300,
		segsCounted: true,
		cycleSegs:   [2]int64{3000, 2700}, cyclesMade: [2]int64{300, 300},
		tripSegs: [2]int64{3000, 3000}, tripsMade: [2]int64{1500, 1500},
	}
	var out strings.Builder
	res.print(&out, true)
	lines := map[string]string{} // of the first table
	for line := range strings.Lines(out.String()) {
		if strings.HasPrefix(strings.TrimSpace(line), "against the kernel") {
			break
		}
		if f := strings.Fields(line); len(f) > 0 {
			lines[f[0]] = line
		}
	}
	for _, tt := range []struct{ row, want string }{
		{"cycles/s", "×1.010 ×0.990–×1.050 ×1.111"},
		{"allocs/cycle", "27.0–27.0 +4.0 +4.0–+4.0"},
		{"CPU", "98.0–110.0 ×1.020 ×0.980–×1.100"},
		{"round", "×1.000 ×0.990–×1.010 ×1.000"},
	} {
		if !strings.HasSuffix(strings.Join(strings.Fields(lines[tt.row]), " "), tt.want) {
			t.Errorf("row %s: want %q in\n%s", tt.row, tt.want, out.String())
		}
	}
	var kernel []string
	for line := range strings.Lines(out.String()) {
		if strings.HasPrefix(strings.TrimSpace(line), "against the kernel") || len(kernel) > 0 && len(kernel) < 4 {
			kernel = append(kernel, strings.Join(strings.Fields(line), " "))
		}
	}
	if len(kernel) != 4 || !strings.HasSuffix(kernel[1], "×1.010 ×0.990–×1.050") || !strings.HasSuffix(kernel[2], "-1.0 -1.0–-1.0") || !strings.HasSuffix(kernel[3], "×1.020 ×0.980–×1.100") {
		t.Errorf("the table against the kernel's mechanism:\n%s", strings.Join(kernel, "\n"))
	}
	for _, verdict := range []string{"met", "missed", "goal"} {
		if strings.Contains(out.String(), verdict) {
			t.Errorf("table says %q:\n%s", verdict, out.String())
		}
	}
	res.segsCounted = false
	out.Reset()
	res.print(&out, false)
	if strings.Contains(out.String(), "×1.111") {
		t.Errorf("a limit from segments that were not counted:\n%s", out.String())
	}
}
