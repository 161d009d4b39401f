package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"time"

	"github.com/fastopen/tfo/internal/netns"
	"github.com/fastopen/tfo/internal/workload"
)

// loopback holds the values of each loopback measurement, per side and round.
type loopback struct {
	n, rounds    int
	cyclesPerSec [2][]float64
	allocs       [2][]float64
	cpuPerCycle  [2][]float64 // microseconds of process CPU, user and system
	tripsPerSec  [2][]float64

	// The same measures of cycles with the kernel's mechanism alone (a net.Dialer that
	// sets TCP_FASTOPEN_CONNECT) against tfo's server, in the same rounds.
	kernelCyclesPerSec, kernelAllocs, kernelCPU []float64

	counted         bool  // the TcpExt counters could be read
	active, passive int64 // fast opens during the tfo cycles
	tfoCycles       int64

	// TCP segments sent, both ends counting (Tcp OutSegs), during each side's cycles
	// and round trips, and how many of those there were; segsCounted is false where
	// the count includes other traffic, on the host, or could not be read.
	segsCounted           bool
	cycleSegs, tripSegs   [2]int64
	cyclesMade, tripsMade [2]int64
}

// tripsPerCycle is how many round trips a round makes per cycle, so that both
// measurements take about as long.
const tripsPerCycle = 5

// measureLoopback runs rounds rounds of each measurement over 127.0.0.1, of n cycles or
// tripsPerCycle*n round trips, alternating the sides, until ctx is done.
func measureLoopback(ctx context.Context, n, rounds int, prog *progress) (*loopback, error) {
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
	res := &loopback{n: n, rounds: rounds, segsCounted: netns.Inside()}
	segs := func() int64 {
		v, err := readOutSegs()
		if err != nil {
			res.segsCounted = false
		}
		return v
	}
	for r := range rounds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		prog.set("loopback: round %d/%d", r+1, rounds)
		if err := res.round(r, replyAddr, echoAddr, segs); err != nil {
			return nil, err
		}
	}
	prog.clear()
	return res, nil
}

// round runs round r of the measurements: net, tfo and, where there is one, the
// kernel's mechanism, which goes first rotating with r.
func (res *loopback) round(r int, replyAddr, echoAddr [2]string, segs func() int64) error {
	order := len(sides)
	if kernelDial != nil {
		order++
	}
	for j := range order {
		var err error
		switch i := (j + r) % order; i {
		case len(sides):
			err = res.measureKernel(replyAddr[1])
		default:
			err = res.measure(i, replyAddr[i], echoAddr[i], segs)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// measureKernel runs res.n cycles against addr, tfo's server, with kernelDial, the
// kernel's fast open mechanism alone, and adds what they took to res.
func (res *loopback) measureKernel(addr string) error {
	cpuBefore := processCPU()
	perSec, allocs, err := cycles(kernelDial, addr, res.n)
	if err != nil {
		return fmt.Errorf("kernel cycles: %w", err)
	}
	res.kernelCPU = append(res.kernelCPU, float64(processCPU()-cpuBefore)/float64(time.Microsecond)/float64(res.n))
	res.kernelCyclesPerSec = append(res.kernelCyclesPerSec, perSec)
	res.kernelAllocs = append(res.kernelAllocs, allocs)
	return nil
}

// measure runs res.n cycles against replyAddr and tripsPerCycle*res.n round trips
// against echoAddr with side i, and adds what they took to res; segs reads the segments
// sent so far.
func (res *loopback) measure(i int, replyAddr, echoAddr string, segs func() int64) error {
	s, n := sides[i], res.n
	var before map[string]int64
	if s.name == "tfo" {
		before, _ = netns.ReadTCPExt()
	}
	segsBefore := segs()
	cpuBefore := processCPU()
	perSec, allocs, err := cycles(s.dial, replyAddr, n)
	if err != nil {
		return fmt.Errorf("%s cycles: %w", s.name, err)
	}
	res.cpuPerCycle[i] = append(res.cpuPerCycle[i], float64(processCPU()-cpuBefore)/float64(time.Microsecond)/float64(n))
	res.cycleSegs[i] += segs() - segsBefore
	res.cyclesMade[i] += int64(n)
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
	segsBefore = segs()
	perSec, err = roundTrips(s.dial, echoAddr, tripsPerCycle*n)
	if err != nil {
		return fmt.Errorf("%s round trips: %w", s.name, err)
	}
	res.tripSegs[i] += segs() - segsBefore
	res.tripsMade[i] += int64(tripsPerCycle * n)
	res.tripsPerSec[i] = append(res.tripsPerSec[i], perSec)
	return nil
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

// The ratios tfo/net, each the median of the rounds' ratios: a round runs both sides
// back to back, so a change in the machine's speed between rounds cancels out.
func (res *loopback) cyclesRatio() float64 { return pairedRatio(res.cyclesPerSec) }

func (res *loopback) tripsRatio() float64 { return pairedRatio(res.tripsPerSec) }

// pairedRatio returns the median over i of v[1][i]/v[0][i].
func pairedRatio(v [2][]float64) float64 { return median(ratios(v)) }

// extraAllocs returns how many more allocations a tfo cycle makes than a net one: the
// median of the rounds' differences.
func (res *loopback) extraAllocs() float64 { return median(differences(res.allocs)) }

// segsLimit returns the ratio tfo/net of a rate if its time went by the segments
// sent: net's segments per operation over tfo's. Fast open cannot do better, since
// everything else a cycle does it does as net does, and more. It returns 0 where the
// segments were not counted.
func (res *loopback) segsLimit(segs, made [2]int64) float64 {
	if !res.segsCounted || segs[1] == 0 || made[0] == 0 {
		return 0
	}
	return (float64(segs[0]) / float64(made[0])) / (float64(segs[1]) / float64(made[1]))
}

// print writes the results as a table.
func (res *loopback) print(w io.Writer, inNamespace bool) {
	where := "on the host"
	if inNamespace {
		where = "in a private network namespace"
	}
	fmt.Fprintf(w, "Loopback, 127.0.0.1 %s: %d rounds per package of %d cycles and %d round trips, net and tfo alternating.\n\n", where, res.rounds, res.n, tripsPerCycle*res.n)
	tw := newTable(w)
	fmt.Fprintln(tw, "measurement\tnet median\tnet min–max\ttfo median\ttfo min–max\ttfo/net\trounds min–max\tlimit\t")
	limit := func(x float64) string {
		if x == 0 {
			return ""
		}
		return fmt.Sprintf("×%.3f", x)
	}
	row := func(name, format string, v [2][]float64, compare, spread, limit string) {
		fmt.Fprintf(tw, "%s\t"+format+"\t%s\t"+format+"\t%s\t%s\t%s\t%s\t\n",
			name, median(v[0]), span(format, v[0]), median(v[1]), span(format, v[1]), compare, spread, limit)
	}
	row("cycles/s", "%.0f", res.cyclesPerSec, fmt.Sprintf("×%.3f", res.cyclesRatio()), span("×%.3f", ratios(res.cyclesPerSec)),
		limit(res.segsLimit(res.cycleSegs, res.cyclesMade)))
	row("allocs/cycle", "%.1f", res.allocs, fmt.Sprintf("%+.1f", res.extraAllocs()), span("%+.1f", differences(res.allocs)), "")
	row("CPU µs/cycle", "%.1f", res.cpuPerCycle, fmt.Sprintf("×%.3f", pairedRatio(res.cpuPerCycle)), span("×%.3f", ratios(res.cpuPerCycle)), "")
	row("round trips/s", "%.0f", res.tripsPerSec, fmt.Sprintf("×%.3f", res.tripsRatio()), span("×%.3f", ratios(res.tripsPerSec)),
		limit(res.segsLimit(res.tripSegs, res.tripsMade)))
	tw.Flush()
	if len(res.kernelCyclesPerSec) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "against the kernel\tkernel median\tkernel min–max\ttfo median\ttfo min–max\ttfo/kernel\trounds min–max\t")
		against := func(name, format string, kernel, tfo []float64, compare func([2][]float64) (string, string)) {
			c, spread := compare([2][]float64{kernel, tfo})
			fmt.Fprintf(tw, "%s\t"+format+"\t%s\t"+format+"\t%s\t%s\t%s\t\n", name, median(kernel), span(format, kernel), median(tfo), span(format, tfo), c, spread)
		}
		byRatio := func(v [2][]float64) (string, string) {
			return fmt.Sprintf("×%.3f", pairedRatio(v)), span("×%.3f", ratios(v))
		}
		byDifference := func(v [2][]float64) (string, string) {
			return fmt.Sprintf("%+.1f", median(differences(v))), span("%+.1f", differences(v))
		}
		against("cycles/s", "%.0f", res.kernelCyclesPerSec, res.cyclesPerSec[1], byRatio)
		against("allocs/cycle", "%.1f", res.kernelAllocs, res.allocs[1], byDifference)
		against("CPU µs/cycle", "%.1f", res.kernelCPU, res.cpuPerCycle[1], byRatio)
		tw.Flush()
	}
	fmt.Fprintln(w)
	if len(res.kernelCyclesPerSec) > 0 {
		fmt.Fprintln(w, "The kernel's mechanism is a net.Dialer that sets TCP_FASTOPEN_CONNECT, in the same rounds, the order rotating.")
	}
	fmt.Fprintln(w, "A cycle is dial, write 64 bytes, read a 64-byte reply, close; allocations and CPU (the process's, user and")
	fmt.Fprintln(w, "system) count client and server together.")
	fmt.Fprintln(w, "tfo/net is the median of the rounds' ratios (for allocations, differences), each round running net and tfo back to back;")
	fmt.Fprintln(w, "rounds min–max spans them. The limit is net's TCP segments per cycle or round trip over tfo's, both ends counting:")
	fmt.Fprintln(w, "the ratio if the time went by the segments sent.")
	if !res.counted {
		fmt.Fprintln(w, "fast open: unknown, /proc/net/netstat cannot be read")
		return
	}
	fmt.Fprintf(w, "fast open: TCPFastOpenActive +%d, TCPFastOpenPassive +%d over %d tfo cycles: %s\n", res.active, res.passive, res.tfoCycles, yesNo(res.fastOpened()))
}

// fastOpened reports whether the tfo cycles were fast-opened, both ends counting.
func (res *loopback) fastOpened() bool {
	want := res.tfoCycles * 99 / 100
	return res.counted && res.active >= want && res.passive >= want
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
