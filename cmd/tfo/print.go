package main

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"text/tabwriter"

	"github.com/fastopen/tfo"
)

// printResult writes res for a person to read.
func printResult(w io.Writer, res *Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }

	p("tfo probe %s", res.Target)
	if res.Address != "" {
		p("  address\t%s", res.Address)
		p("  sends first\t%s", sendText(res))
		p("  conns\tthe first, then %d rounds of a tfo conn and a net conn", len(res.Rounds))
	}
	p("")
	l := res.Local
	p("this machine")
	system := l.OS
	if l.Kernel != "" {
		system += ", kernel " + l.Kernel
	}
	if !l.FastOpen {
		system += ": tfo has no fast open here"
	}
	p("  system\t%s", system)
	p("  client setting\t%s", settingText(l.Setting))
	if res.Address != "" {
		p("  cookie cache\t%s", cacheText(l.Cache, res.Address))
		if t := pathText(l.Path); t != "" {
			p("  path\t%s", t)
		}
	}
	p("  tfo's memory\t%s", l.Memory)
	if res.Address == "" {
		p("")
		p("error: %s", res.Error)
		return
	}
	p("")
	p("first conn\t%s", connText(res.First))
	if len(res.Rounds) > 0 {
		p("")
		printRounds(p, res)
	}
	p("")
	p("cookie cache after\t%s", cacheText(res.CacheAfter, res.Address))
	p("")
	p("outcomes")
	seen := map[tfo.Outcome]bool{}
	for _, o := range append([]tfo.Outcome{res.First.Outcome}, roundOutcomes(res.Rounds)...) {
		if !seen[o] {
			seen[o] = true
			p("  %s\t%s", outcomeName(o), o)
		}
	}
	p("")
	if res.Error != "" {
		p("error: %s", res.Error)
		return
	}
	p("verdict: %s (%s)", res.VerdictText, res.Verdict)
	p("  %s", res.Advice)
}

// printRounds prints the rounds of res with p, their medians and the time saved.
func printRounds(p func(format string, args ...any), res *Result) {
	p("round\ttfo outcome\ttfo first byte\tnet first byte\tnet connect")
	for i, r := range res.Rounds {
		n := strconv.Itoa(i + 1)
		if r.NetFirst {
			n += " (net first)"
		}
		p("  %s\t%s\t%s\t%s\t%s", n, outcomeName(r.TFO.Outcome), tfoTime(r.TFO), netTime(r.Net.FirstByteMS, r.Net.Error), netTime(r.Net.ConnectMS, ""))
	}
	s := res.Summary
	p("  median\t\t%s\t%s\t%s", msText(s.TFOFirstByteMS), msText(s.NetFirstByteMS), msText(s.RTTMS))
	if s.SavedMS >= 0 {
		p("tfo saved %s to the first byte, %.2f round trips (net's connect takes one)", msText(s.SavedMS), s.SavedRTTs)
	} else {
		p("tfo took %s longer to the first byte, %.2f round trips (net's connect takes one)", msText(-s.SavedMS), -s.SavedRTTs)
	}
	for _, r := range res.Rounds {
		for _, e := range []string{r.TFO.Error, r.Net.Error} {
			if e != "" {
				p("  error\t%s", e)
			}
		}
	}
}

func roundOutcomes(rounds []Round) []tfo.Outcome {
	var os []tfo.Outcome
	for _, r := range rounds {
		os = append(os, r.TFO.Outcome)
	}
	return os
}

// sendText says what the conns send first.
func sendText(res *Result) string {
	switch res.Send {
	case sendTLS:
		return fmt.Sprintf("a TLS ClientHello with an X25519 key share alone, %d bytes", res.SendBytes)
	case sendData:
		return fmt.Sprintf("the bytes given, %d", res.SendBytes)
	}
	return fmt.Sprintf("an HTTP HEAD request, %d bytes", res.SendBytes)
}

func settingText(s Setting) string {
	switch {
	case s.Name == "":
		return "unknown: the probe does not read this system's"
	case s.Value == nil:
		return fmt.Sprintf("%s unknown: %s", s.Name, s.Error)
	case *s.Client:
		return fmt.Sprintf("%s = %d: clients may fast-open", s.Name, *s.Value)
	}
	return fmt.Sprintf("%s = %d: clients may not fast-open", s.Name, *s.Value)
}

func cacheText(c Cache, address string) string {
	host := address
	if ap, err := netip.ParseAddrPort(address); err == nil {
		host = ap.Addr().String()
	}
	switch {
	case !c.Readable:
		return "unknown: " + c.Error
	case c.Cookie == "" && c.SYNDrops == 0:
		return "no cookie for " + host
	}
	s := "no cookie for " + host
	if c.Cookie != "" {
		s = fmt.Sprintf("cookie %s (%d bytes) for %s", c.Cookie, len(c.Cookie)/2, host)
	}
	if c.SYNDrops > 0 {
		s += fmt.Sprintf("; %d SYNs with data lost in a row, the last %s ago", c.SYNDrops, msText(c.SYNDropAgeMS))
	} else {
		s += "; no SYN with data lost"
	}
	return s
}

func connText(c TFOConn) string {
	if c.Error != "" {
		return fmt.Sprintf("%s, failed: %s", outcomeName(c.Outcome), c.Error)
	}
	return fmt.Sprintf("%s, first byte after %s: %s", outcomeName(c.Outcome), msText(c.FirstByteMS), c.Response)
}

// outcomeName returns o's short name.
func outcomeName(o tfo.Outcome) string {
	b, err := o.MarshalText()
	if err != nil {
		return o.String()
	}
	return string(b)
}

func tfoTime(c TFOConn) string { return netTime(c.FirstByteMS, c.Error) }

func netTime(v float64, err string) string {
	if err != "" {
		return "failed"
	}
	return msText(v)
}

func msText(v float64) string { return fmt.Sprintf("%.1f ms", v) }

// pathText says what the path is, and warns of a same-host path without RPS; it is
// empty when the path is unknown.
func pathText(path Path) string {
	if path.Device == "" {
		return ""
	}
	t := "by " + path.Device
	if !path.SameHost {
		return t
	}
	t += ", on this machine"
	switch {
	case path.RPS == nil:
		return t
	case *path.RPS:
		return t + ", with RPS"
	}
	return t + ", without RPS: a fast-opened response can overtake its SYN-ACK and wait 200 ms, about one new conn in 20,000 " +
		"(tfo's Dialer does not fast-open to loopback addresses unless Loopback is set; for a veth, write the processors' mask to /sys/class/net/" +
		path.Device + "/queues/rx-0/rps_cpus)"
}
