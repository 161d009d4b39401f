package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/fastopen/tfo/internal/netns"
)

// The table of where fast open cannot help compares three clients: package net,
// package tfo, and the kernel's own mechanism, net.Dialer with a Control that sets
// TCP_FASTOPEN_CONNECT. Fast open gains nothing in these cases; the goal is that tfo
// loses nothing either: at most noHelpGoal times net's median, or, where the kernel's
// fast open does help, no less than the kernel's gain.
const (
	sideNet = iota
	sideTFO
	sideKernel
)

var noHelpSides = [3]string{"net", "tfo", "kernel"}

const (
	noHelpGoal = 1.05
	// noHelpRTT is the round trip of the table's links, the one that the figures quoted
	// for these cases were measured with.
	noHelpRTT = 10 * time.Millisecond
	// The lossy path: the share of the packets lost each way, and the seed of the loss.
	noHelpLoss = 0.03
	noHelpSeed = 1
	// dualTimeout is the Dialer.Timeout of the dials to a host whose first address is
	// silent, which net.Dialer spreads over the host's addresses.
	dualTimeout = 4 * time.Second
	// Whoever waits longer for the first byte than these has failed: a client waits
	// silentWait in the silent-address case, hangWait where the kernel's mechanism is
	// only probed, and sampleWait elsewhere.
	silentWait = 1500 * time.Millisecond
	hangWait   = time.Second
	sampleWait = 10 * time.Second
	// synRetransmit is the initial retransmission timeout (RFC 6298): a conn that took
	// as long paid for a lost SYN.
	synRetransmit = time.Second
)

// noHelpConfig says how much the table measures.
type noHelpConfig struct {
	rtt   time.Duration // of the links
	n     int           // conns per client for a server that speaks first and the relay; at most 3 for the silent address
	lossN int           // conns per client over the lossy path and behind the middlebox
}

// A noHelpRow holds the samples of one case, per client.
type noHelpRow struct {
	name string
	// probed marks the clients measured once, to show that they hang.
	probed [3]bool
	ms     [3][]float64 // times to the first byte, +Inf for a failure
	fast   [3]int       // conns fast-opened
	// lossy is true on the lossy path, whose goal is the kernel's gain; paid is true
	// behind the middlebox, whose goal counts the conns that paid for a lost SYN.
	lossy, paid bool
	errs        [3]error // the first failure of each client
}

func (r *noHelpRow) failed(side int) int {
	n := 0
	for _, v := range r.ms[side] {
		if math.IsInf(v, 1) {
			n++
		}
	}
	return n
}

// slow counts the conns of side that took a SYN retransmission or longer.
func (r *noHelpRow) slow(side int) int {
	n := 0
	for _, v := range r.ms[side] {
		if v >= float64(synRetransmit/time.Millisecond) {
			n++
		}
	}
	return n
}

// ratio returns side's median over net's; a failure counts as slower than any success,
// so the ratio is +Inf when more than half of side's samples failed.
func (r *noHelpRow) ratio(side int) float64 { return median(r.ms[side]) / median(r.ms[sideNet]) }

// goal describes the row's goal and tells whether tfo met it.
func (r *noHelpRow) goal() (string, bool) {
	switch {
	case r.lossy:
		want := r.ratio(sideKernel) + 0.05
		return "≤ kernel+0.05, ≥ 85% fast", r.ratio(sideTFO) <= want && float64(r.fast[sideTFO]) >= 0.85*float64(len(r.ms[sideTFO]))
	case r.paid:
		return "paid ≤ 3%", float64(r.slow(sideTFO)) <= 0.03*float64(len(r.ms[sideTFO])) && r.ratio(sideTFO) <= noHelpGoal
	}
	return fmt.Sprintf("≤ %.2f", noHelpGoal), r.ratio(sideTFO) <= noHelpGoal
}

// noHelpResults holds the rows of the table.
type noHelpResults struct {
	cfg   noHelpConfig
	rows  []*noHelpRow
	lost  float64 // the share of packets the lossy link lost
	first string  // the address the silent-address case dials first
}

// print writes the table.
func (res *noHelpResults) print(w io.Writer) {
	fmt.Fprintf(w, "Where fast open cannot help: time to the first byte from the server over a link with a %v round trip, "+
		"tfo against net and against the kernel's own fast open (net.Dialer with TCP_FASTOPEN_CONNECT), in the same run.\n\n", res.cfg.rtt)
	tw := newTable(w)
	fmt.Fprintln(tw, "case\tn\tnet median\ttfo median\ttfo/net\tkernel median\tkernel/net\tgoal\t\t")
	ms := func(v []float64) string {
		m := median(v)
		if math.IsInf(m, 1) {
			return "fails"
		}
		return fmt.Sprintf("%.1f ms", m)
	}
	ratio := func(x float64) string {
		if math.IsInf(x, 1) {
			return "∞"
		}
		return fmt.Sprintf("%.2f", x)
	}
	for _, r := range res.rows {
		goal, met := r.goal()
		kernel, kratio := ms(r.ms[sideKernel]), ratio(r.ratio(sideKernel))
		if r.probed[sideKernel] {
			kernel, kratio = "—", "—"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.name, len(r.ms[sideNet]),
			ms(r.ms[sideNet]), ms(r.ms[sideTFO]), ratio(r.ratio(sideTFO)), kernel, kratio, goal, metOrMissed(met))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range res.rows {
		fmt.Fprintf(w, "%s: %s\n", r.name, r.detail())
	}
	fmt.Fprintf(w, `
silent IPv6 first: over loopback, a host whose addresses are %s, first as Go sorts them
(RFC 6724), whose SYNs a listener with a full accept queue drops, and 127.0.0.1, which
serves; Dialer.Timeout %v, each conn given %v. server speaks first: a banner on accept,
as SMTP or MySQL send. relay: the same through a relay that dials out with each package
and copies both ways. The kernel's mechanism, whose connect waits for a first write, is
tried once in these three. 3%% loss: the link lost %.1f%% of its packets (seed %d). drops
SYN data: a middlebox drops every SYN that carries data; paid counts the conns that took
a SYN retransmission (%v) or more. In these two the packages run at once, each to a
server of its own.
`, res.first, dualTimeout, silentWait, 100*res.lost, noHelpSeed, synRetransmit)
}

// detail says what the medians do not: fast opens, failures, conns that paid.
func (r *noHelpRow) detail() string {
	var parts []string
	for side, name := range noHelpSides {
		tries := len(r.ms[side])
		var s []string
		if f := r.failed(side); f > 0 {
			s = append(s, fmt.Sprintf("failed %d/%d (%v)", f, tries, shortErr(r.errs[side])))
		}
		if r.lossy || r.paid {
			s = append(s, fmt.Sprintf("fast-opened %d/%d", r.fast[side], tries))
		}
		if r.paid {
			s = append(s, fmt.Sprintf("paid %d/%d", r.slow(side), tries))
		}
		if len(s) > 0 {
			parts = append(parts, name+" "+strings.Join(s, ", "))
		}
	}
	if len(parts) == 0 {
		return "every conn answered"
	}
	return strings.Join(parts, "; ")
}

// shortErr names an error by its last part, such as "i/o timeout".
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// noHelpTable measures the cases where fast open cannot help and writes their table to
// w; without the private network namespace, in which it makes its links, it says so.
func noHelpTable(ctx context.Context, cfg noHelpConfig, w io.Writer, prog *progress) error {
	if !netns.Inside() {
		fmt.Fprintln(w, "Where fast open cannot help: not measured; the links it needs take root on Linux.")
		return nil
	}
	res, err := measureNoHelp(ctx, cfg, prog)
	if err != nil {
		return fmt.Errorf("where fast open cannot help: %w", err)
	}
	res.print(w)
	return nil
}

// metOrMissed names whether a goal was met.
func metOrMissed(met bool) string {
	if met {
		return "met"
	}
	return "missed"
}
