package main

import (
	"fmt"
	"html"
	"io"
	"os"
)

// Chart geometry, in pixels.
const (
	chartWidth  = 720
	chartHeight = 440
	plotLeft    = 70
	plotRight   = 700
	plotTop     = 95
	plotBottom  = 350
	chartMax    = 1.1 // the ratio at the top of the plot
)

// writeChart writes to name an SVG bar chart of the link's ratios tfo/net, each next to
// its limit.
func writeChart(name string, res *linkResults, machine string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := chart(f, res, machine); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// chart writes the chart of writeChart to w.
func chart(w io.Writer, res *linkResults, machine string) error {
	y := func(ratio float64) float64 {
		return plotBottom - ratio/chartMax*(plotBottom-plotTop)
	}
	var err error
	p := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format+"\n", args...)
		}
	}
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`, chartWidth, chartHeight, chartWidth, chartHeight)
	p(`<rect width="100%%" height="100%%" fill="white"/>`)
	p(`<text x="%d" y="28" font-size="17" font-weight="bold">tfo/net: time to the first response byte, %v round trip</text>`, plotLeft, res.rtt)
	p(`<text x="%d" y="50" fill="#555">%s</text>`, plotLeft, html.EscapeString(machine))
	p(`<text x="%d" y="68" fill="#555">lower is better; medians of %d fresh connections per bar and package, net and tfo alternating</text>`, plotLeft, res.n)
	for _, r := range []float64{0, 0.25, 0.5, 0.75, 1} {
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`, plotLeft, y(r), plotRight, y(r))
		p(`<text x="%d" y="%.1f" text-anchor="end">%.2f</text>`, plotLeft-8, y(r)+4, r)
	}
	p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#333" stroke-width="1.5"/>`, plotLeft, y(1), plotRight, y(1))
	p(`<text x="%d" y="%.1f" text-anchor="end" fill="#333">net = 1</text>`, plotRight, y(1)-6)
	slot := float64(plotRight-plotLeft) / float64(len(res.cases))
	for i, c := range res.cases {
		x := plotLeft + float64(i)*slot
		mid := x + slot/2
		ratio := c.ratio()
		p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4a7ab7"/>`, mid-slot/4, y(ratio), slot/2, y(0)-y(ratio))
		p(`<text x="%.1f" y="%.1f" text-anchor="middle" font-weight="bold" fill="white">%.3f</text>`, mid, y(ratio)+20, ratio)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c0392b" stroke-width="2" stroke-dasharray="6 4"/>`, mid-slot/2.6, y(c.limit), mid+slot/2.6, y(c.limit))
		p(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, mid, plotBottom+20, html.EscapeString(c.name))
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%.1f → %.1f ms</text>`, mid, plotBottom+38, median(c.ms[0]), median(c.ms[1]))
	}
	ly := plotBottom + 70
	p(`<rect x="%d" y="%d" width="14" height="10" fill="#4a7ab7"/>`, plotLeft, ly-9)
	p(`<text x="%d" y="%d">tfo/net, median against median</text>`, plotLeft+20, ly)
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#c0392b" stroke-width="2" stroke-dasharray="6 4"/>`, plotLeft+250, ly-4, plotLeft+280, ly-4)
	p(`<text x="%d" y="%d">limit: a round trip saved</text>`, plotLeft+286, ly)
	p(`</svg>`)
	return err
}
