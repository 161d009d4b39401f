package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fastopen/tfo"
)

// What a conn sends first.
const (
	sendHTTP = "http-head"
	sendTLS  = "tls-client-hello"
	sendData = "data"
)

// maxRounds bounds -n.
const maxRounds = 1000

// A probeConfig is what the command line of probe says.
type probeConfig struct {
	target  string // host:port
	json    bool
	n       int
	tls     bool
	data    []byte // with -data
	timeout time.Duration
}

// send returns what each conn sends first, as Result.Send names it.
func (cfg *probeConfig) send() string {
	switch {
	case cfg.tls:
		return sendTLS
	case cfg.data != nil:
		return sendData
	}
	return sendHTTP
}

// A usageError is an error in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// parseProbe parses the arguments of probe. Flags may come before and after the
// address.
func parseProbe(args []string) (probeConfig, error) {
	cfg := probeConfig{n: 5, timeout: 10 * time.Second}
	var data *string
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&cfg.json, "json", false, "")
	fs.IntVar(&cfg.n, "n", cfg.n, "")
	fs.BoolVar(&cfg.tls, "tls", false, "")
	fs.Func("data", "", func(s string) error { data = &s; return nil })
	fs.DurationVar(&cfg.timeout, "timeout", cfg.timeout, "")

	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return cfg, err
			}
			return cfg, &usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(rest) == 0:
		return cfg, usageErrorf("no host:port to probe")
	case len(rest) > 1:
		return cfg, usageErrorf("one host:port to probe, not %d: %q", len(rest), rest)
	case cfg.n < 1 || cfg.n > maxRounds:
		return cfg, usageErrorf("-n %d: from 1 to %d", cfg.n, maxRounds)
	case cfg.timeout <= 0:
		return cfg, usageErrorf("-timeout %v: must be positive", cfg.timeout)
	case cfg.tls && data != nil:
		return cfg, usageErrorf("-tls and -data: one or the other")
	}
	cfg.target = rest[0]
	host, port, err := net.SplitHostPort(cfg.target)
	if err != nil || host == "" || port == "" {
		return cfg, usageErrorf("%q: want host:port", cfg.target)
	}
	if data != nil {
		b, err := unescape(*data)
		if err != nil {
			return cfg, usageErrorf("-data %q: %v", *data, err)
		}
		if len(b) == 0 {
			return cfg, usageErrorf("-data: no bytes to send")
		}
		cfg.data = b
	}
	return cfg, nil
}

// unescape returns the bytes of s, in which the escapes of a Go string literal stand
// for the bytes they name.
func unescape(s string) ([]byte, error) {
	var b []byte
	for s != "" {
		r, multibyte, tail, err := strconv.UnquoteChar(s, 0)
		if err != nil {
			return nil, errors.New("a bad escape: use those of a Go string literal, such as \\r, \\n, \\x00")
		}
		if multibyte {
			b = utf8.AppendRune(b, r)
		} else {
			b = append(b, byte(r))
		}
		s = tail
	}
	return b, nil
}

// runProbe runs probe with args, its command line, and returns the exit code.
func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseProbe(args)
	if err != nil && wantsJSON(args) {
		// Standard output is JSON whatever happens: the usage, and the error if any.
		res := &Result{Rounds: []Round{}, Usage: usage}
		if !errors.Is(err, flag.ErrHelp) {
			res.Error = err.Error()
			fmt.Fprintf(stderr, "tfo probe: %v\n%s", err, usage)
		}
		if !printJSON(stdout, stderr, res) || res.Error != "" {
			return exitUsage
		}
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "tfo probe: %v\n%s", err, usage)
		return exitUsage
	}
	res := probe(ctx, cfg)
	if cfg.json {
		if !printJSON(stdout, stderr, res) {
			return exitFails
		}
	} else {
		printResult(stdout, res)
	}
	if res.Error != "" {
		fmt.Fprintln(stderr, "tfo probe:", res.Error)
		return exitFails
	}
	if res.Verdict != verdictWorks.name {
		return exitFails
	}
	return exitOK
}

// wantsJSON reports whether args, which did not parse, ask for -json, so that a usage
// error is printed as JSON too.
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-json", "--json", "-json=true", "--json=true":
			return true
		}
	}
	return false
}

// printJSON prints res to stdout as JSON, and reports whether it could.
func printJSON(stdout, stderr io.Writer, res *Result) bool {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(stderr, "tfo probe:", err)
		return false
	}
	return true
}

// probe probes the server that cfg names and returns what it found. Its sockets are
// made in the network namespace of the calling thread.
func probe(ctx context.Context, cfg probeConfig) *Result {
	res := &Result{Target: cfg.target, Send: cfg.send(), Rounds: []Round{}, Summary: summarize(nil)}
	res.Local = localFacts()
	ap, host, err := resolve(ctx, cfg.target)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Address = ap.String()
	res.Local.Cache = readCache(ap.Addr())
	res.Local.Path = pathTo(ap.Addr())
	ex := newExchange(cfg, host, ap)

	res.First = dialTFO(ctx, cfg, ex)
	res.SendBytes = ex.sent
	if res.First.Error != "" {
		res.CacheAfter = readCache(ap.Addr())
		res.Error = "the first conn failed: " + res.First.Error
		return res
	}
	for i := range cfg.n {
		r := Round{NetFirst: i%2 == 1}
		if r.NetFirst {
			r.Net = dialNet(ctx, cfg, ex)
			r.TFO = dialTFO(ctx, cfg, ex)
		} else {
			r.TFO = dialTFO(ctx, cfg, ex)
			r.Net = dialNet(ctx, cfg, ex)
		}
		res.Rounds = append(res.Rounds, r)
		if ctx.Err() != nil {
			break
		}
	}
	res.CacheAfter = readCache(ap.Addr())
	res.Summary = summarize(res.Rounds)
	if ctx.Err() != nil {
		res.Error = "interrupted"
		return res
	}
	v, ok := decide(res.Local, res.Rounds, res.Summary)
	if !ok {
		res.Error = "no tfo conn of the rounds reached the server"
		return res
	}
	res.Verdict, res.VerdictText, res.Advice = v.name, v.text, v.advice
	return res
}

// resolve returns the first address that target, a host:port, resolves to, and the
// host.
func resolve(ctx context.Context, target string) (netip.AddrPort, string, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return netip.AddrPort{}, "", err
	}
	portnum, err := net.DefaultResolver.LookupPort(ctx, "tcp", port)
	if err != nil {
		return netip.AddrPort{}, "", err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return netip.AddrPort{}, "", err
		}
		ip = ips[0]
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(portnum)), host, nil
}

// An exchange is what each conn sends first, and how it reads the first byte of the
// answer.
type exchange struct {
	kind    string // as Result.Send names it
	addr    string
	first   []byte      // what a conn writes first; nil with TLS
	tls     *tls.Config // with -tls
	timeout time.Duration
	sent    int // the bytes the last conn wrote first
}

func newExchange(cfg probeConfig, host string, ap netip.AddrPort) *exchange {
	ex := &exchange{kind: cfg.send(), addr: ap.String(), timeout: cfg.timeout}
	switch ex.kind {
	case sendTLS:
		ex.tls = &tls.Config{
			// X25519 alone keeps the ClientHello small enough for a SYN: Go's default
			// post-quantum key share does not fit.
			CurvePreferences: []tls.CurveID{tls.X25519},
			// The probe times the ServerHello, and sends nothing over the session.
			InsecureSkipVerify: true,
		}
		if _, err := netip.ParseAddr(host); err != nil {
			ex.tls.ServerName = host
		}
	case sendData:
		ex.first = cfg.data
	default:
		h := host
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		if ap.Port() != 80 {
			h += ":" + strconv.Itoa(int(ap.Port()))
		}
		ex.first = []byte("HEAD / HTTP/1.1\r\nHost: " + h + "\r\nUser-Agent: tfo-probe\r\nConnection: close\r\n\r\n")
	}
	return ex
}

// run sends the first bytes on c, whose dial started at start, and waits for the first
// byte of the answer. It returns the time from start to that byte, and what the
// answer starts with.
func (ex *exchange) run(c net.Conn, start time.Time) (time.Duration, string, error) {
	c.SetDeadline(start.Add(ex.timeout))
	tc := &timedConn{Conn: c, start: start}
	if ex.tls != nil {
		err := tls.Client(tc, ex.tls).Handshake()
		ex.sent = tc.firstWrite
		if tc.firstByte == 0 {
			return 0, "", noAnswer(err)
		}
		// An error after the first byte, such as an alert, leaves its time good.
		switch tc.head[0] {
		case 22:
			return tc.firstByte, "TLS handshake", nil
		case 21:
			return tc.firstByte, "TLS alert", nil
		}
		return tc.firstByte, "not TLS: " + quote(tc.head), nil
	}
	if _, err := tc.Write(ex.first); err != nil {
		return 0, "", err
	}
	ex.sent = len(ex.first)
	buf := make([]byte, 512)
	n, err := tc.Read(buf)
	if n == 0 {
		return 0, "", noAnswer(err)
	}
	if ex.kind == sendHTTP {
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if len(line) <= 80 && utf8.ValidString(line) {
			return tc.firstByte, line, nil
		}
	}
	return tc.firstByte, quote(buf[:n]), nil
}

// quote quotes the first bytes of b.
func quote(b []byte) string {
	const most = 64
	if len(b) > most {
		return strconv.Quote(string(b[:most])) + "…"
	}
	return strconv.Quote(string(b))
}

// noAnswer returns the error of a conn that got no answer, err from its read.
func noAnswer(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return errors.New("the server closed the conn without answering")
	}
	return err
}

// timedConn notes when the first byte arrives on a conn whose dial started at start,
// and how many bytes the first write took.
type timedConn struct {
	net.Conn
	start      time.Time
	firstByte  time.Duration
	head       []byte // the first bytes read
	firstWrite int
}

func (c *timedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.firstByte == 0 {
		c.firstByte = max(time.Since(c.start), time.Nanosecond)
		c.head = slices.Clone(b[:min(n, 64)])
	}
	return n, err
}

func (c *timedConn) Write(b []byte) (int, error) {
	if c.firstWrite == 0 {
		c.firstWrite = len(b)
	}
	return c.Conn.Write(b)
}

// dialTFO makes a conn with package tfo and reports on it.
func dialTFO(ctx context.Context, cfg probeConfig, ex *exchange) TFOConn {
	d := tfo.Dialer{Dialer: net.Dialer{Timeout: cfg.timeout}}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", ex.addr)
	if err != nil {
		return TFOConn{Outcome: tfo.OutcomeNotConnected, Report: tfo.OutcomeNotConnected.String(), Error: err.Error()}
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	first, resp, err := ex.run(c, start)
	var r TFOConn
	r.Outcome, _ = tfo.Report(c)
	r.Report = r.Outcome.String()
	r.FastOpened, _ = tfo.FastOpened(c)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.FirstByteMS, r.Response = ms(first), resp
	return r
}

// dialNet makes a conn with package net.
func dialNet(ctx context.Context, cfg probeConfig, ex *exchange) NetConn {
	d := net.Dialer{Timeout: cfg.timeout}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", ex.addr)
	if err != nil {
		return NetConn{Error: err.Error()}
	}
	r := NetConn{ConnectMS: ms(time.Since(start))}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	first, _, err := ex.run(c, start)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.FirstByteMS = ms(first)
	return r
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summarize sums up rounds.
func summarize(rounds []Round) Summary {
	s := Summary{Conns: len(rounds), Outcomes: map[tfo.Outcome]int{}}
	var tfoTimes, netTimes, connects []float64
	for _, r := range rounds {
		s.Outcomes[r.TFO.Outcome]++
		if r.TFO.FastOpened {
			s.FastOpened++
		}
		if r.TFO.Error == "" {
			tfoTimes = append(tfoTimes, r.TFO.FirstByteMS)
		}
		if r.Net.Error == "" {
			netTimes = append(netTimes, r.Net.FirstByteMS)
		}
		if r.Net.ConnectMS > 0 {
			connects = append(connects, r.Net.ConnectMS)
		}
	}
	s.TFOFirstByteMS, s.NetFirstByteMS, s.RTTMS = median(tfoTimes), median(netTimes), median(connects)
	if len(tfoTimes) > 0 && len(netTimes) > 0 {
		s.SavedMS = s.NetFirstByteMS - s.TFOFirstByteMS
		if s.RTTMS > 0 {
			s.SavedRTTs = s.SavedMS / s.RTTMS
		}
	}
	return s
}

// median returns the median of xs, 0 if there are none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
