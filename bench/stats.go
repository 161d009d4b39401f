package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// median returns the median of v, 0 if v is empty.
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

// percentile returns the p-th percentile of v, 0 ≤ p ≤ 100, interpolating between the
// values nearest to it, +Inf between a value and +Inf; 0 if v is empty.
func percentile(v []float64, p float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s) == 0 {
		return 0
	}
	x := p / 100 * float64(len(s)-1)
	i := int(x)
	if i+1 >= len(s) || x == float64(i) || s[i] == s[i+1] { // +Inf-+Inf is NaN
		return s[i]
	}
	return s[i] + (x-float64(i))*(s[i+1]-s[i])
}

// wilson returns the Wilson score interval of the share k/n for the normal quantile
// z: where the share of a trial with n independent conns lies with the confidence that
// z gives. It returns 0 and 1 if n is 0.
func wilson(k, n int, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p, nf := float64(k)/float64(n), float64(n)
	d := 1 + z*z/nf
	c := (p + z*z/(2*nf)) / d
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / d
	return max(c-h, 0), min(c+h, 1)
}

// ratios returns v[1][i]/v[0][i] for each i of both.
func ratios(v [2][]float64) []float64 {
	r := make([]float64, min(len(v[0]), len(v[1])))
	for i := range r {
		r[i] = v[1][i] / v[0][i]
	}
	return r
}

// differences returns v[1][i]-v[0][i] for each i of both.
func differences(v [2][]float64) []float64 {
	d := make([]float64, min(len(v[0]), len(v[1])))
	for i := range d {
		d[i] = v[1][i] - v[0][i]
	}
	return d
}

// readOutSegs returns the TCP segments sent in the network namespace, Tcp OutSegs of
// /proc/net/snmp (retransmissions left out).
func readOutSegs() (int64, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, v := range fields {
			if i < len(names) && names[i] == "OutSegs" {
				return strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return 0, errors.New("/proc/net/snmp: no Tcp OutSegs")
}

// span formats the least and greatest of v.
func span(format string, v []float64) string {
	return fmt.Sprintf(format+"–"+format, slices.Min(v), slices.Max(v))
}

// A progress writes a line that it rewrites in place, on a terminal; elsewhere it
// writes nothing.
type progress struct {
	w    io.Writer
	last int
}

// newProgress returns a progress that writes to f if f is a terminal.
func newProgress(f *os.File) *progress {
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return &progress{w: io.Discard}
	}
	return &progress{w: f}
}

// set replaces the line with a new one.
func (p *progress) set(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	fmt.Fprintf(p.w, "\r%s%s", s, strings.Repeat(" ", max(p.last-len(s), 0)))
	p.last = len(s)
}

// clear erases the line.
func (p *progress) clear() {
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.last))
	p.last = 0
}

// A table aligns its cells to the right, in columns, and writes its lines to w
// without the spaces that pad empty cells at their ends, when flushed.
type table struct {
	*tabwriter.Writer
	buf bytes.Buffer
	w   io.Writer
}

func newTable(w io.Writer) *table {
	t := &table{w: w}
	t.Writer = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	return t
}

// Flush writes the table.
func (t *table) Flush() error {
	if err := t.Writer.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(t.buf.String()) {
		if _, err := fmt.Fprintln(t.w, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	t.buf.Reset()
	return nil
}
