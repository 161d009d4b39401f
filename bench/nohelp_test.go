package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestNoHelp measures a few conns of each case where fast open cannot help and checks
// what can be checked without timing tfo, whose figures are the table's point: that
// each case happened on the wire as it says (net's conns to the host whose first address
// is silent waited for its fallback, the server accepted tfo's conns to a server that
// speaks first at their SYN, the lossy link lost packets, the middlebox made the
// kernel's conns pay), that each row has the limit it should, and that each client
// made the conns it should.
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
	for _, name := range []string{"silent IPv6 first", "drops SYN data"} {
		if r := rows[name]; r.limit != noGainLimit || r.lossy {
			t.Errorf("%s: limit %v, lossy %v; want %v, not lossy", name, r.limit, r.lossy, noGainLimit)
		}
	}
	if r := rows["3% loss"]; !r.lossy || r.paid || r.bound() != r.ratio(sideKernel) {
		t.Errorf("3%% loss: lossy %v, paid %v, limit %v: want the kernel's ratio %v", r.lossy, r.paid, r.bound(), r.ratio(sideKernel))
	}
	if r := rows["drops SYN data"]; !r.paid {
		t.Error("drops SYN data: the row does not count the conns that paid")
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
	// With a cookie in its SYN, even without data, the server accepts a conn at the SYN
	// and sends its banner behind the SYN-ACK: the limit of 0.50 the table gives these
	// rows. tfo's conns, to a server it knows to speak first, are so; net's never.
	for _, name := range []string{"server speaks first", "relay, server first"} {
		r := rows[name]
		if r.atSYN == nil || r.atSYN[sideNet] != 0 || r.atSYN[sideTFO] != cfg.n || r.limit != bannerLimit {
			t.Errorf("%s: the server accepted at the SYN %v of %d conns per package (net, tfo, kernel), limit %v; want none of net's, all of tfo's, limit %v",
				name, r.atSYN, cfg.n, r.limit, bannerLimit)
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

// TestNoHelpPrint checks the tables on made-up samples: each figure is printed as
// computed, failures as such, with no verdict beside it; the limit is the row's own, or
// the kernel's ratio on the lossy path; the counts and their intervals are tfo's, with
// the kernel's count as the lossy path's limit and one conn as the middlebox's.
func TestNoHelpPrint(t *testing.T) {
	inf := math.Inf(1)
	probed := [3]bool{sideKernel: true}
	res := &noHelpResults{
		cfg:   noHelpConfig{rtt: 10 * time.Millisecond},
		first: "::1",
		lost:  0.029,
		rows: []*noHelpRow{
			{name: "silent IPv6 first", probed: probed, limit: noGainLimit,
				ms: [3][]float64{{300, 302, 304}, {301, 303, inf}, {inf}}, errs: [3]error{sideTFO: os.ErrDeadlineExceeded, sideKernel: os.ErrDeadlineExceeded}},
			{name: "server speaks first", probed: probed, limit: bannerLimit, atSYN: &[3]int{0, 4, 0},
				ms: [3][]float64{{20, 22, 24, 26}, {11, 12, 13, 15}, {inf}}, errs: [3]error{sideKernel: os.ErrDeadlineExceeded}},
			{name: "3% loss", lossy: true, limit: noGainLimit, fast: [3]int{0, 3, 4},
				ms: [3][]float64{{20, 22, 24, 1020}, {10, 11, 1011, 12}, {10, 10, 12, 11}}},
			{name: "drops SYN data", paid: true, limit: noGainLimit,
				ms: [3][]float64{{20, 21, 22, 23}, {1020, 1021, 22, 21}, {1020, 1021}}},
		},
	}
	var out strings.Builder
	res.print(&out)
	// The rows, by their first word, with their cells joined by single spaces; the
	// second table's rows start with the same words as the first's.
	lines := map[string][]string{}
	for line := range strings.Lines(out.String()) {
		if f := strings.Fields(line); len(f) > 0 {
			lines[f[0]] = append(lines[f[0]], strings.Join(f, " "))
		}
	}
	for _, tt := range []struct {
		word string
		want []string
	}{
		{"silent", []string{"silent IPv6 first 3 302.0 ms 300.4–303.6 303.0 ms 301.4–∞ 1.00 1.00–∞ 1.00 hangs —"}},
		{"server", []string{"server speaks first 4 23.0 ms 20.6–25.4 12.5 ms 11.3–14.4 0.54 0.54–0.57 0.50 hangs —"}},
		{"3%", []string{
			"3% loss 4 23.0 ms 20.6–721.2 11.5 ms 10.3–711.3 0.50 0.16–29.64 0.46 10.5 ms 0.46",
			"3% loss fast-opened 0/4 3/4 36%–94% 4/4 4/4",
		}},
		{"drops", []string{
			"drops SYN data 4 21.5 ms 20.3–22.7 521.0 ms 21.3–1020.7 24.23 0.94–50.29 1.00 1020.5 ms 47.47",
			"drops SYN data paid 0/4 2/4 18%–82% 2/2 1/4",
		}},
	} {
		got := lines[tt.word]
		if len(got) < len(tt.want) {
			t.Errorf("rows %q: got %q, want %q in\n%s", tt.word, got, tt.want, out.String())
			continue
		}
		for i, want := range tt.want {
			if got[i] != want {
				t.Errorf("row %q:\n got %s\nwant %s", tt.word, got[i], want)
			}
		}
	}
	for _, want := range []string{
		"silent IPv6 first: tfo failed 1/3 (i/o timeout); kernel failed 1/1 (i/o timeout)\n",
		"server speaks first: kernel failed 1/1 (i/o timeout); the server accepted at the SYN net 0/4, tfo 4/4\n",
		"3% loss: every conn answered\n",
		"drops SYN data: tfo's conns that paid: #1, #2\n",
		"the link lost 2.9% of its packets",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if v := regexp.MustCompile(`\b(goal|met|missed)\b`).FindString(out.String()); v != "" {
		t.Errorf("table says %q:\n%s", v, out.String())
	}
}
