package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestNoHelp measures a few conns of each case where fast open cannot help and checks
// what can be checked without timing tfo, whose figures are the table's point: that
// each case happened on the wire as it says (net's conns to the host whose first address
// is silent waited for its fallback, the lossy link lost packets, the middlebox made the
// kernel's conns pay), and that each client made the conns it should.
func TestNoHelp(t *testing.T) {
	requireNamespace(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const rtt = 4 * time.Millisecond
	cfg := noHelpConfig{rtt: rtt, n: 2, lossN: 10}
	res, err := measureNoHelp(t.Context(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res.print(&out)
	t.Logf("\n%s", out.String())
	names := []string{"silent IPv6 first", "server speaks first", "relay, server first", "3% loss", "drops SYN data"}
	if len(res.rows) != len(names) {
		t.Fatalf("%d rows, want %d", len(res.rows), len(names))
	}
	rows := map[string]*noHelpRow{}
	for i, r := range res.rows {
		if r.name != names[i] {
			t.Errorf("row %d is %q, want %q", i, r.name, names[i])
		}
		rows[r.name] = r
		if !strings.Contains(out.String(), r.name) {
			t.Errorf("the table lacks %q", r.name)
		}
	}
	// Conns per client: net, tfo, kernel.
	for name, want := range map[string][3]int{
		"silent IPv6 first":   {2, 2, 1},
		"server speaks first": {2, 2, 1},
		"relay, server first": {2, 2, 1},
		"3% loss":             {10, 10, 10},
		"drops SYN data":      {10, 10, 3},
	} {
		for side, n := range want {
			if got := len(rows[name].ms[side]); got != n {
				t.Errorf("%s: %d %s samples, want %d", name, got, noHelpSides[side], n)
			}
		}
	}
	for _, r := range res.rows {
		if f := r.failed(sideNet); f != 0 {
			t.Errorf("%s: %d net conns failed: %v", r.name, f, r.errs[sideNet])
		}
		if r.fast[sideNet] != 0 {
			t.Errorf("%s: %d net conns fast-opened", r.name, r.fast[sideNet])
		}
	}

	// net tries the silent IPv6 address first and falls back to IPv4 after 300 ms
	// (net.Dialer.FallbackDelay); the kernel's mechanism connects at once to the silent
	// address, whose SYN carries the data, and never hears back.
	silent := rows["silent IPv6 first"]
	if res.first != "::1" {
		t.Errorf("the resolver names %s first, want ::1", res.first)
	}
	if m := slicesMin(silent.ms[sideNet]); m < 300 {
		t.Errorf("a net conn took %.1f ms, less than Happy Eyeballs' fallback delay: the first address was not tried first, or not silent", m)
	}
	// A server that speaks first answers after a round trip of handshake, and the half
	// of one that the ACK and the banner each take.
	for _, name := range []string{"server speaks first", "relay, server first"} {
		if m := slicesMin(rows[name].ms[sideNet]); m < 2*float64(rtt/time.Millisecond) {
			t.Errorf("%s: a net conn took %.1f ms, less than two round trips of %v", name, m, rtt)
		}
	}
	// The kernel's mechanism waits for a first write that a client of a server that
	// speaks first never makes.
	for _, name := range []string{"silent IPv6 first", "server speaks first", "relay, server first"} {
		if r := rows[name]; r.failed(sideKernel) != 1 {
			t.Errorf("%s: the kernel's mechanism got an answer: %v", name, r.ms[sideKernel])
		}
	}

	loss := rows["3% loss"]
	if res.lost <= 0 || res.lost > 0.1 {
		t.Errorf("the lossy link lost %.1f%% of its packets", 100*res.lost)
	}
	if loss.fast[sideKernel] < cfg.lossN/2 {
		t.Errorf("over the lossy link the kernel fast-opened %d of %d conns", loss.fast[sideKernel], cfg.lossN)
	}
	// Behind the middlebox, every SYN of the kernel's carries data and is dropped; net's
	// carry none.
	mbox := rows["drops SYN data"]
	if mbox.slow(sideKernel) != len(mbox.ms[sideKernel]) || mbox.fast[sideKernel] != 0 || mbox.slow(sideNet) != 0 {
		t.Errorf("behind the middlebox: kernel paid %d of %d and fast-opened %d; net paid %d: want the kernel to pay for each, net for none",
			mbox.slow(sideKernel), len(mbox.ms[sideKernel]), mbox.fast[sideKernel], mbox.slow(sideNet))
	}
}

func slicesMin(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

// TestNoHelpOnly checks that -tables nohelp measures the cases where fast open cannot
// help first, and stops at once when interrupted, leaving no thread in another network
// namespace (and, with its cleanup, no goroutine).
func TestNoHelpOnly(t *testing.T) {
	requireNamespace(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var first string
	prog := &progress{w: writerFunc(func(b []byte) {
		if s := strings.TrimSpace(strings.Trim(string(b), "\r")); first == "" && s != "" {
			first = s
			cancel()
		}
	})}
	var out bytes.Buffer
	cfg := config{rtt: 20 * time.Millisecond, n: 1, cycles: 1, rounds: 1, tables: "nohelp",
		noHelp: noHelpConfig{rtt: 4 * time.Millisecond, n: 1, lossN: 1}}
	if code := run(ctx, cfg, &out, prog); code != 130 {
		t.Errorf("exit code %d, want 130; output:\n%s", code, out.String())
	}
	if !strings.HasPrefix(first, "where fast open cannot help") {
		t.Errorf("first progress %q, want the cases where fast open cannot help", first)
	}
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for range 100 { // a thread ends just after its goroutine
		if others = threadsElsewhere(t, self); len(others) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(others) > 0 {
		t.Errorf("threads left in other network namespaces: %v", others)
	}
}

// TestNoHelpGoals checks each kind of row's goal on made-up figures.
func TestNoHelpGoals(t *testing.T) {
	times := func(v float64, n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	inf := math.Inf(1)
	for _, tt := range []struct {
		name string
		row  noHelpRow
		met  bool
	}{
		{"within 1.05", noHelpRow{ms: [3][]float64{times(100, 5), times(105, 5)}}, true},
		{"beyond 1.05", noHelpRow{ms: [3][]float64{times(100, 5), times(106, 5)}}, false},
		{"tfo fails mostly", noHelpRow{ms: [3][]float64{times(100, 5), {90, 90, inf, inf, inf}}}, false},
		{"tfo fails once", noHelpRow{ms: [3][]float64{times(100, 5), {90, 90, 90, 90, inf}}}, true},
		{"lossy, as the kernel", noHelpRow{lossy: true, ms: [3][]float64{times(100, 10), times(54, 10), times(50, 10)}, fast: [3]int{0, 9, 10}}, true},
		{"lossy, slower than the kernel", noHelpRow{lossy: true, ms: [3][]float64{times(100, 10), times(56, 10), times(50, 10)}, fast: [3]int{0, 9, 10}}, false},
		{"lossy, too few fast opens", noHelpRow{lossy: true, ms: [3][]float64{times(100, 10), times(50, 10), times(50, 10)}, fast: [3]int{0, 8, 10}}, false},
		{"middlebox, 3 of 100 paid", noHelpRow{paid: true, ms: [3][]float64{times(20, 100), append(times(20, 97), 1000, 1000, 1000)}}, true},
		{"middlebox, 4 of 100 paid", noHelpRow{paid: true, ms: [3][]float64{times(20, 100), append(times(20, 96), 1000, 1000, 1000, 1000)}}, false},
	} {
		if _, met := tt.row.goal(); met != tt.met {
			t.Errorf("%s: goal met %v, want %v", tt.name, met, tt.met)
		}
	}
}
