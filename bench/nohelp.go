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
// TCP_FASTOPEN_CONNECT. These are cases in which a request in the SYN gains nothing,
// or in which fast open could cost time, where tfo must lose nothing to net; each row
// shows what tfo measured, its spread, and the best it could do.
const (
	sideNet = iota
	sideTFO
	sideKernel
)

var noHelpSides = [3]string{"net", "tfo", "kernel"}

// The limits of tfo/net, the best it can reach: where fast open saves nothing, and where
// a server speaks first: with a cookie in a SYN without data, the server accepts the
// conn at the SYN and sends its banner right behind its SYN-ACK, one round trip after
// the start instead of two.
const (
	noGainLimit = 1.0
	bannerLimit = 1.0 / 2
)

const (
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
	// shareZ is the normal quantile of the interval given for a count of conns: 90%.
	shareZ = 1.645
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
	ms     [3][]float64 // times to the first byte, +Inf for a failure; [1][i] came with [0][i]
	fast   [3]int       // conns fast-opened, as FastOpened reports
	// atSYN counts the conns that the server accepted at their SYN, for a cookie it
	// carried (TCPFastOpenPassive), where the server speaks first; nil elsewhere.
	atSYN *[3]int
	// limit is the least tfo/net can be, on every row but the lossy path's.
	limit float64
	// lossy is true on the lossy path, where the count is of the conns fast-opened and
	// the limit is the kernel's own; paid is true behind the middlebox, where the count
	// is of the conns that paid for a lost SYN.
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
func (r *noHelpRow) slow(side int) int { return len(r.slowConns(side)) }

// slowConns returns the numbers, from 1, of the conns of side that took a SYN
// retransmission or longer.
func (r *noHelpRow) slowConns(side int) []int {
	var s []int
	for i, v := range r.ms[side] {
		if v >= float64(synRetransmit/time.Millisecond) {
			s = append(s, i+1)
		}
	}
	return s
}

// ratio returns side's median over net's; a failure counts as slower than any success,
// so the ratio is +Inf when more than half of side's samples failed.
func (r *noHelpRow) ratio(side int) float64 { return median(r.ms[side]) / median(r.ms[sideNet]) }

// pairRatios returns the ratios tfo/net of the conns made together, leaving out the
// pairs in which both failed.
func (r *noHelpRow) pairRatios() []float64 {
	var v []float64
	for i, x := range ratios([2][]float64{r.ms[sideNet], r.ms[sideTFO]}) {
		if !math.IsInf(r.ms[sideNet][i], 1) || !math.IsInf(r.ms[sideTFO][i], 1) {
			v = append(v, x)
		}
	}
	return v
}

// bound returns the least tfo/net can be: on the lossy path the kernel's kernel/net,
// which tfo's fast open cannot beat, elsewhere limit.
func (r *noHelpRow) bound() float64 {
	if r.lossy {
		return r.ratio(sideKernel)
	}
	return r.limit
}

// counted reports whether the row has a count of conns, and returns it for side: the
// conns fast-opened on the lossy path, those that paid behind the middlebox.
func (r *noHelpRow) counted(side int) (int, bool) {
	switch {
	case r.lossy:
		return r.fast[side], true
	case r.paid:
		return r.slow(side), true
	}
	return 0, false
}

// countLimit returns the best count tfo can reach out of its conns: the kernel's share
// of its conns fast-opened on the lossy path, and one conn behind the middlebox, since
// a client learns that SYNs with data get dropped only by losing one.
func (r *noHelpRow) countLimit() string {
	if r.lossy {
		return fmt.Sprintf("%d/%d", r.fast[sideKernel], len(r.ms[sideKernel]))
	}
	return fmt.Sprintf("1/%d", len(r.ms[sideTFO]))
}

// noHelpResults holds the rows of the table.
type noHelpResults struct {
	cfg   noHelpConfig
	rows  []*noHelpRow
	lost  float64 // the share of packets the lossy link lost
	first string  // the address the silent-address case dials first
}

// print writes the tables.
func (res *noHelpResults) print(w io.Writer) {
	fmt.Fprintf(w, "Where fast open cannot help, or could cost: time to the first byte from the server over a link with a %v round trip, "+
		"tfo against net and against the kernel's own fast open (net.Dialer with TCP_FASTOPEN_CONNECT), in the same run.\n\n", res.cfg.rtt)
	tw := newTable(w)
	fmt.Fprintln(tw, "case\tn\tnet median\tnet p10–p90\ttfo median\ttfo p10–p90\ttfo/net\tpairs p10–p90\tlimit\tkernel median\tkernel/net\t")
	for _, r := range res.rows {
		kernel, kratio := msCell(median(r.ms[sideKernel])), ratioCell(r.ratio(sideKernel))
		if r.probed[sideKernel] {
			kernel, kratio = "hangs", "—"
			if r.failed(sideKernel) == 0 {
				kernel = msCell(median(r.ms[sideKernel]))
			}
		}
		pairs := r.pairRatios()
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.name, len(r.ms[sideNet]),
			msCell(median(r.ms[sideNet])), spreadCell("%.1f", r.ms[sideNet]),
			msCell(median(r.ms[sideTFO])), spreadCell("%.1f", r.ms[sideTFO]),
			ratioCell(r.ratio(sideTFO)), spreadCell("%.2f", pairs), ratioCell(r.bound()), kernel, kratio)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "case\tcounted\tnet\ttfo\ttfo 90% interval\tkernel\tlimit\t")
	for _, r := range res.rows {
		if _, ok := r.counted(sideTFO); !ok {
			continue
		}
		what := "fast-opened"
		if r.paid {
			what = "paid"
		}
		var cells [3]string
		for side := range cells {
			k, _ := r.counted(side)
			cells[side] = fmt.Sprintf("%d/%d", k, len(r.ms[side]))
		}
		k, _ := r.counted(sideTFO)
		lo, hi := wilson(k, len(r.ms[sideTFO]), shareZ)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f%%–%.0f%%\t%s\t%s\t\n", r.name, what,
			cells[sideNet], cells[sideTFO], 100*lo, 100*hi, cells[sideKernel], r.countLimit())
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range res.rows {
		fmt.Fprintf(w, "%s: %s\n", r.name, r.detail())
	}
	fmt.Fprintf(w, `
n is the conns per package; the kernel's mechanism makes fewer where it hangs or pays.
The median and p10–p90 are of the time to the first byte from the server; tfo/net is
the tfo median over the net median, and pairs p10–p90 spans the ratios of the conns
made together, the spread of tfo/net. A failure counts as slower than any answer. The
limit is the least tfo/net can be: 1.00 where fast open saves nothing; 0.50 where the
server speaks first, since a SYN with a cookie and no data lets the server accept at
the SYN and send its banner behind its SYN-ACK, one round trip in place of two; on the
lossy path, the kernel's own kernel/net. Below it is noise. The second table counts
the conns fast-opened (FastOpened) on the lossy path, and those that paid for a lost
SYN, taking its retransmission (%v) or more, behind the middlebox; the 90%% interval
is the spread that chance alone gives tfo's count (Wilson score). Its limit, beyond
which a count comes from chance, is the kernel's count on the lossy path, and one conn
behind the middlebox: a client learns that SYNs with data get dropped only by losing
one.

silent IPv6 first: over loopback, a host whose addresses are %s, first as Go sorts them
(RFC 6724), whose SYNs a listener with a full accept queue drops, and 127.0.0.1, which
serves; Dialer.Timeout %v, each conn given %v. server speaks first: a banner on accept,
as SMTP or MySQL send. relay: the same through a relay that dials out with each package
and copies both ways. The kernel's mechanism, whose connect waits for a first write, is
tried once in these three. 3%% loss: the link lost %.1f%% of its packets (seed %d). drops
SYN data: a middlebox drops every SYN that carries data. In these two the packages run
at once, each to a server of its own.
`, synRetransmit, res.first, dualTimeout, silentWait, 100*res.lost, noHelpSeed)
}

// msCell formats a time in milliseconds, "fails" for a failure.
func msCell(v float64) string {
	if math.IsInf(v, 1) {
		return "fails"
	}
	return fmt.Sprintf("%.1f ms", v)
}

// ratioCell formats a ratio to net's, "∞" where the median failed.
func ratioCell(x float64) string {
	if math.IsInf(x, 1) {
		return "∞"
	}
	return fmt.Sprintf("%.2f", x)
}

// spreadCell formats the 10th and 90th percentiles of v, "∞" for a failure.
func spreadCell(format string, v []float64) string {
	cell := func(x float64) string {
		if math.IsInf(x, 1) {
			return "∞"
		}
		return fmt.Sprintf(format, x)
	}
	if len(v) == 0 {
		return "—"
	}
	return cell(percentile(v, 10)) + "–" + cell(percentile(v, 90))
}

// detail says what the tables do not: failures, conns accepted at their SYN, which
// conns paid.
func (r *noHelpRow) detail() string {
	var parts []string
	for side, name := range noHelpSides {
		if f := r.failed(side); f > 0 {
			parts = append(parts, fmt.Sprintf("%s failed %d/%d (%v)", name, f, len(r.ms[side]), shortErr(r.errs[side])))
		}
	}
	if r.atSYN != nil {
		parts = append(parts, fmt.Sprintf("the server accepted at the SYN net %d/%d, tfo %d/%d",
			r.atSYN[sideNet], len(r.ms[sideNet]), r.atSYN[sideTFO], len(r.ms[sideTFO])))
	}
	if r.paid {
		parts = append(parts, "tfo's conns that paid: "+numbers(r.slowConns(sideTFO)))
	}
	if len(parts) == 0 {
		return "every conn answered"
	}
	return strings.Join(parts, "; ")
}

// numbers lists v, the first ten of it at most.
func numbers(v []int) string {
	if len(v) == 0 {
		return "none"
	}
	s := make([]string, 0, min(len(v), 10))
	for _, x := range v[:min(len(v), 10)] {
		s = append(s, fmt.Sprintf("#%d", x))
	}
	if len(v) > 10 {
		s = append(s, fmt.Sprintf("and %d more", len(v)-10))
	}
	return strings.Join(s, ", ")
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
