package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastopen/tfo"
	"github.com/fastopen/tfo/internal/delaylink"
	"github.com/fastopen/tfo/internal/netns"
)

// The tests probe servers in one namespace of a delaylink from the other, and check
// what the probe says against what crossed the link: what each server accepted, and
// whether fast open carried it (tfo.Report on the accepted conn), the kernel's
// counters, and what the link dropped or changed.

// rounds of every probe in these tests, after the first conn.
const testRounds = 5

// lossesToPause is how many SYNs with data to a server must be lost in a row before
// package tfo pauses fast open to it.
const lossesToPause = 3

// requireNamespace skips a test that needs the private network namespaces that root
// can make on Linux; with CI=true it fails instead.
func requireNamespace(t *testing.T) {
	t.Helper()
	netns.Require(t, "needs root on Linux, to probe servers in private network namespaces: go test ./cmd/... in a root shell, or sudo -E env \"PATH=$PATH\" go test ./cmd/...")
}

// newLink makes a link with cfg between two fresh namespaces, whose cookie caches are
// empty.
func newLink(t *testing.T, cfg delaylink.Config) *delaylink.Link {
	t.Helper()
	requireNamespace(t)
	l, err := delaylink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// serverIPs counts the addresses listen has given.
var serverIPs = 0x10

// listen makes a listener with listenFunc on an IPv6 address of the link's B end that
// no other test uses, so that what package tfo remembers of one test's server, by its
// address, says nothing of another's.
func listen(t *testing.T, l *delaylink.Link, listenFunc func(network, address string) (net.Listener, error)) net.Listener {
	t.Helper()
	serverIPs++
	ip := netip.MustParseAddr(fmt.Sprintf("2001:2::%x", serverIPs))
	if err := l.B.AddAddr6(ip); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := l.B.Do(func() (err error) {
		ln, err = listenFunc("tcp", netip.AddrPortFrom(ip, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ln
}

// An accepted conn is what a test server saw of a conn: whether it was fast-opened,
// and what the client sent before the answer.
type accepted struct {
	outcome tfo.Outcome
	request string
}

// A testServer serves the conns its listener accepts, one after the other, as the
// probe makes them, and tells what it saw of each on got.
type testServer struct {
	ln   net.Listener
	addr string
	got  chan accepted
	done chan struct{}
}

// serve serves ln: after each accept, it calls onAccept, if not nil, with the number
// of conns accepted before, then answers the conn with answer, which returns what the
// client sent.
func serve(t *testing.T, ln net.Listener, onAccept func(int), answer func(net.Conn) (string, error)) *testServer {
	s := &testServer{ln: ln, addr: ln.Addr().String(), got: make(chan accepted, 4*maxRounds), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o, err := tfo.Report(c)
			if err != nil {
				t.Errorf("server: Report: %v", err)
			}
			if onAccept != nil {
				onAccept(i)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			req, err := answer(c)
			if err != nil {
				t.Errorf("server: conn %d: %v", i, err)
			}
			c.Close()
			s.got <- accepted{o, req}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-s.done
		if n := len(s.got); n > 0 {
			t.Errorf("the server accepted %d conns that the test did not look at", n)
		}
	})
	return s
}

// accepted returns the next n conns the server served.
func (s *testServer) accepted(t *testing.T, n int) []accepted {
	t.Helper()
	var got []accepted
	for range n {
		select {
		case a := <-s.got:
			got = append(got, a)
		case <-time.After(10 * time.Second):
			t.Errorf("the server served %d conns; want %d", len(got), n)
			return got
		}
	}
	return got
}

const httpOK = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

// answerHTTP reads an HTTP request's head and answers it with 200 OK.
func answerHTTP(c net.Conn) (string, error) {
	r := bufio.NewReader(c)
	var req strings.Builder
	for {
		line, err := r.ReadString('\n')
		req.WriteString(line)
		if err != nil {
			return req.String(), err
		}
		if line == "\r\n" {
			break
		}
	}
	_, err := io.WriteString(c, httpOK)
	return req.String(), err
}

// answerEcho returns a function that reads n bytes and writes them back.
func answerEcho(n int) func(net.Conn) (string, error) {
	return func(c net.Conn) (string, error) {
		b := make([]byte, n)
		if _, err := io.ReadFull(c, b); err != nil {
			return string(b), err
		}
		_, err := c.Write(b)
		return string(b), err
	}
}

// answerTLS returns a function that completes a TLS handshake with cert.
func answerTLS(cert tls.Certificate) func(net.Conn) (string, error) {
	conf := &tls.Config{Certificates: []tls.Certificate{cert}}
	return func(c net.Conn) (string, error) {
		tc := tls.Server(c, conf)
		if err := tc.Handshake(); err != nil {
			return "", err
		}
		return "handshake", nil
	}
}

// selfSigned returns a certificate for ip.
func selfSigned(t *testing.T, ip netip.Addr) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{ip.AsSlice()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// runIn runs the command with args in the link's A end, and returns its exit code,
// standard output and standard error.
func runIn(t *testing.T, l *delaylink.Link, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var code int
	if err := l.A.Do(func() error {
		code = run(t.Context(), args, &stdout, &stderr)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// probeJSON probes address from the link's A end with -json and args, checks that the
// JSON has the documented fields, and returns the exit code and the result.
func probeJSON(t *testing.T, l *delaylink.Link, address string, args ...string) (int, *Result) {
	t.Helper()
	args = append(append([]string{"probe", "-json", "-n", fmt.Sprint(testRounds)}, args...), address)
	code, stdout, stderr := runIn(t, l, args...)
	return code, decodeResult(t, stdout, stderr)
}

// decodeResult decodes the JSON of a probe, after checking that it has the
// documented fields, no more and no fewer.
func decodeResult(t *testing.T, stdout, stderr string) *Result {
	t.Helper()
	var res Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v; standard output:\n%s\nstandard error:\n%s", err, stdout, stderr)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "result", raw, "target", "address", "send", "send_bytes", "local", "first", "rounds", "summary", "cache_after", "verdict", "verdict_text", "advice")
	local := raw["local"].(map[string]any)
	checkKeys(t, "local", local, "os", "kernel", "platform_fast_open", "setting", "cache", "memory", "path")
	checkKeys(t, "local.path", local["path"], "device", "same_host", "rps")
	checkKeys(t, "local.setting", local["setting"], "name", "value", "client")
	cacheKeys := []string{"readable", "cookie", "syn_drops", "syn_drop_age_ms"}
	checkKeys(t, "local.cache", local["cache"], cacheKeys...)
	checkKeys(t, "cache_after", raw["cache_after"], cacheKeys...)
	tfoKeys := []string{"outcome", "report", "fast_opened", "first_byte_ms", "response"}
	checkKeys(t, "first", raw["first"], tfoKeys...)
	for i, r := range raw["rounds"].([]any) {
		checkKeys(t, fmt.Sprint("rounds[", i, "]"), r, "tfo", "net", "net_first")
		checkKeys(t, fmt.Sprint("rounds[", i, "].tfo"), r.(map[string]any)["tfo"], tfoKeys...)
		checkKeys(t, fmt.Sprint("rounds[", i, "].net"), r.(map[string]any)["net"], "connect_ms", "first_byte_ms")
	}
	checkKeys(t, "summary", raw["summary"], "conns", "fast_opened", "outcomes", "tfo_first_byte_ms", "net_first_byte_ms", "rtt_ms", "saved_ms", "saved_rtts")
	return &res
}

// checkKeys checks that v, a JSON object, has the keys want.
func checkKeys(t *testing.T, name string, v any, want ...string) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s: %T; want an object", name, v)
		return
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s has the fields %q; want %q", name, got, want)
	}
}

// expect is what a test expects of a probe.
type expect struct {
	address  string
	send     string
	sent     int  // bytes sent first; 0: any up to 1200, the most that fits a SYN here
	setting  int  // net.ipv4.tcp_fastopen in the client's namespace
	cached   bool // a cookie before the first conn
	first    tfo.Outcome
	rounds   []tfo.Outcome
	response string
	cookie   bool // a cookie after the conns
	synDrops int
	verdict  verdict
	code     int
}

// httpProbe returns what a test expects of a probe of the HTTP server at address from
// a client whose net.ipv4.tcp_fastopen is 3, but for the outcomes, the cache after the
// conns and the verdict.
func httpProbe(address string) expect {
	return expect{address: address, send: sendHTTP, sent: len(request(address)), setting: 3, response: "HTTP/1.1 200 OK"}
}

// checkResult checks res, and the exit code, field by field against e.
func checkResult(t *testing.T, code int, res *Result, e expect) {
	t.Helper()
	if code != e.code {
		t.Errorf("exit %d; want %d", code, e.code)
	}
	if res.Target != e.address || res.Address != e.address {
		t.Errorf("target %q, address %q; want %q", res.Target, res.Address, e.address)
	}
	if res.Send != e.send {
		t.Errorf("send %q; want %q", res.Send, e.send)
	}
	if e.sent != 0 && res.SendBytes != e.sent || e.sent == 0 && (res.SendBytes <= 0 || res.SendBytes > 1200) {
		t.Errorf("send_bytes %d; want %d (0: up to 1200)", res.SendBytes, e.sent)
	}

	l := res.Local
	if want := runtime.GOOS + "/" + runtime.GOARCH; l.OS != want {
		t.Errorf("local.os %q; want %q", l.OS, want)
	}
	if release, err := os.ReadFile("/proc/sys/kernel/osrelease"); err != nil || l.Kernel != strings.TrimSpace(string(release)) {
		t.Errorf("local.kernel %q; want %q (%v)", l.Kernel, release, err)
	}
	if !l.FastOpen {
		t.Error("local.platform_fast_open false; want true")
	}
	s := l.Setting
	if s.Name != "net.ipv4.tcp_fastopen" || s.Value == nil || *s.Value != e.setting || s.Client == nil || *s.Client != (e.setting&1 != 0) || s.Error != "" {
		t.Errorf("local.setting %+v; want net.ipv4.tcp_fastopen = %d", s, e.setting)
	}
	checkCache(t, "local.cache", l.Cache, e.cached, 0)
	if l.Memory != memoryNote {
		t.Errorf("local.memory %q; want %q", l.Memory, memoryNote)
	}

	checkTFOConn(t, "first", res.First, e.first, e.response)
	if len(res.Rounds) != len(e.rounds) {
		t.Fatalf("%d rounds; want %d", len(res.Rounds), len(e.rounds))
	}
	var tfoTimes, netTimes, connects []float64
	fast := 0
	outcomes := map[tfo.Outcome]int{}
	for i, r := range res.Rounds {
		name := fmt.Sprint("rounds[", i, "]")
		checkTFOConn(t, name+".tfo", r.TFO, e.rounds[i], e.response)
		if r.NetFirst != (i%2 == 1) {
			t.Errorf("%s.net_first %v; want %v", name, r.NetFirst, i%2 == 1)
		}
		if n := r.Net; n.Error != "" || !(n.ConnectMS > 0) || !(n.FirstByteMS > n.ConnectMS) {
			t.Errorf("%s.net %+v; want a connect time, and a longer time to the first byte", name, n)
		}
		tfoTimes, netTimes, connects = append(tfoTimes, r.TFO.FirstByteMS), append(netTimes, r.Net.FirstByteMS), append(connects, r.Net.ConnectMS)
		outcomes[e.rounds[i]]++
		if e.rounds[i] == tfo.OutcomeFastOpened {
			fast++
		}
	}

	sum := res.Summary
	if sum.Conns != len(e.rounds) || sum.FastOpened != fast || !mapsEqual(sum.Outcomes, outcomes) {
		t.Errorf("summary: %d conns, %d fast-opened, outcomes %v; want %d, %d, %v", sum.Conns, sum.FastOpened, sum.Outcomes, len(e.rounds), fast, outcomes)
	}
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"tfo_first_byte_ms", sum.TFOFirstByteMS, median(tfoTimes)},
		{"net_first_byte_ms", sum.NetFirstByteMS, median(netTimes)},
		{"rtt_ms", sum.RTTMS, median(connects)},
		{"saved_ms", sum.SavedMS, sum.NetFirstByteMS - sum.TFOFirstByteMS},
		{"saved_rtts", sum.SavedRTTs, sum.SavedMS / sum.RTTMS},
	} {
		if !(f.got > 0 || f.name == "saved_ms" || f.name == "saved_rtts") || math.Abs(f.got-f.want) > 1e-9*math.Abs(f.want) {
			t.Errorf("summary.%s %v; want %v", f.name, f.got, f.want)
		}
	}

	checkCache(t, "cache_after", res.CacheAfter, e.cookie, e.synDrops)
	if res.Verdict != e.verdict.name || res.VerdictText != e.verdict.text || res.Advice != e.verdict.advice || res.Error != "" {
		t.Errorf("verdict %q (%q), advice %q, error %q; want %q (%q), %q", res.Verdict, res.VerdictText, res.Advice, res.Error, e.verdict.name, e.verdict.text, e.verdict.advice)
	}
}

func mapsEqual(a, b map[tfo.Outcome]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkTFOConn checks a tfo conn of a probe.
func checkTFOConn(t *testing.T, name string, c TFOConn, outcome tfo.Outcome, response string) {
	t.Helper()
	if c.Outcome != outcome || c.Report != outcome.String() || c.FastOpened != (outcome == tfo.OutcomeFastOpened) {
		t.Errorf("%s: outcome %v (%q), fast_opened %v; want %v", name, outcomeName(c.Outcome), c.Report, c.FastOpened, outcomeName(outcome))
	}
	if !(c.FirstByteMS > 0) || c.Response != response || c.Error != "" {
		t.Errorf("%s: first_byte_ms %v, response %q, error %q; want a time, %q", name, c.FirstByteMS, c.Response, c.Error, response)
	}
}

// checkCache checks what the probe read of the cookie cache.
func checkCache(t *testing.T, name string, c Cache, cookie bool, drops int) {
	t.Helper()
	// A Linux client cookie is 8 bytes (TCP_FASTOPEN_COOKIE_SIZE in include/net/tcp.h).
	if !c.Readable || c.Error != "" || cookie != (len(c.Cookie) == 16) || !cookie && c.Cookie != "" ||
		c.SYNDrops != drops || (drops > 0) != (c.SYNDropAgeMS > 0) {
		t.Errorf("%s %+v; want a cookie %v, %d SYN drops", name, c, cookie, drops)
	}
}

// request returns the HTTP request the probe sends to address.
func request(address string) string {
	return "HEAD / HTTP/1.1\r\nHost: " + address + "\r\nUser-Agent: tfo-probe\r\nConnection: close\r\n\r\n"
}

// checkAccepted checks what the server accepted against the outcomes of the probe's
// conns, the first and the tfo conn of each round, and that each conn delivered req,
// once.
func checkAccepted(t *testing.T, s *testServer, res *Result, req string) {
	t.Helper()
	var want []accepted
	server := func(o tfo.Outcome) tfo.Outcome {
		if o == tfo.OutcomeFastOpened {
			return tfo.OutcomeAcceptedFastOpen
		}
		return tfo.OutcomeAcceptedPlain
	}
	want = append(want, accepted{server(res.First.Outcome), req})
	for _, r := range res.Rounds {
		tfoConn, netConn := accepted{server(r.TFO.Outcome), req}, accepted{tfo.OutcomeAcceptedPlain, req}
		if r.NetFirst {
			want = append(want, netConn, tfoConn)
		} else {
			want = append(want, tfoConn, netConn)
		}
	}
	got := s.accepted(t, len(want))
	if !slices.Equal(got, want) {
		t.Errorf("the server accepted\n%v\nwant\n%v", got, want)
	}
}

// counters returns the TcpExt counters of ns.
func counters(t *testing.T, ns *delaylink.Namespace) map[string]int64 {
	t.Helper()
	ext, err := ns.ReadTCPExt()
	if err != nil {
		t.Fatal(err)
	}
	return ext
}

// checkCounters checks how much the named TcpExt counters of ns grew since before.
func checkCounters(t *testing.T, ns *delaylink.Namespace, before map[string]int64, want map[string]int64) {
	t.Helper()
	after := counters(t, ns)
	for name, n := range want {
		if d := after[name] - before[name]; d != n {
			t.Errorf("TcpExt %s grew by %d; want %d", name, d, n)
		}
	}
}

// TestProbeWorks probes an HTTP server on a tfo listener over a link with a 40 ms
// round trip: the first conn gets a cookie, every tfo conn after it fast-opens, and
// reaches the first byte one round trip sooner than net's; a second probe finds the
// cookie cached, and its first conn fast-opens too.
func TestProbeWorks(t *testing.T) {
	const rtt = 40 * time.Millisecond
	l := newLink(t, delaylink.Config{RTT: rtt})
	s := serve(t, listen(t, l, tfo.Listen), nil, answerHTTP)
	beforeA, beforeB := counters(t, l.A), counters(t, l.B)
	code, res := probeJSON(t, l, s.addr)
	e := httpProbe(s.addr)
	e.first, e.rounds, e.cookie = tfo.OutcomeCookieReceived, repeat(tfo.OutcomeFastOpened, testRounds), true
	e.verdict, e.code = verdictWorks, exitOK
	checkResult(t, code, res, e)
	checkCounters(t, l.A, beforeA, map[string]int64{"TCPFastOpenActive": testRounds, "TCPFastOpenActiveFail": 0})
	checkCounters(t, l.B, beforeB, map[string]int64{"TCPFastOpenPassive": testRounds, "TCPFastOpenCookieReqd": 1})
	sum := res.Summary
	t.Logf("tfo %.1f ms, net %.1f ms to the first byte; net's connect %.1f ms", sum.TFOFirstByteMS, sum.NetFirstByteMS, sum.RTTMS)
	if sum.TFOFirstByteMS > 0.8*sum.NetFirstByteMS || sum.SavedRTTs < 0.5 {
		t.Errorf("tfo took %.1f ms to the first byte, net %.1f ms, saving %.2f round trips; want about half of net's, a round trip saved",
			sum.TFOFirstByteMS, sum.NetFirstByteMS, sum.SavedRTTs)
	}

	checkAccepted(t, s, res, request(s.addr))

	// Again, for a person to read: the cookie is cached now.
	code, out, _ := runIn(t, l, "probe", "-n", "2", s.addr)
	t.Logf("tfo probe -n 2 %s:\n%s", s.addr, out)
	if code != exitOK {
		t.Errorf("exit %d; want %d", code, exitOK)
	}
	ip := netip.MustParseAddrPort(s.addr).Addr()
	for _, want := range []string{
		"tfo probe " + s.addr + "\n",
		"sends first  an HTTP HEAD request, " + fmt.Sprint(len(request(s.addr))) + " bytes\n",
		"conns        the first, then 2 rounds of a tfo conn and a net conn\n",
		"client setting  net.ipv4.tcp_fastopen = 3: clients may fast-open\n",
		"cookie cache    cookie " + res.CacheAfter.Cookie + " (8 bytes) for " + ip.String() + "; no SYN with data lost\n",
		"first conn  fast-opened, first byte after ",
		": HTTP/1.1 200 OK\n",
		"  2 (net first)  fast-opened  ",
		"  fast-opened  " + tfo.OutcomeFastOpened.String() + "\n",
		"verdict: fast open works (works)\n  " + verdictWorks.advice + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	got := s.accepted(t, 5)
	if len(got) != 5 || slices.ContainsFunc(got, func(a accepted) bool { return a.request != request(s.addr) }) ||
		got[0].outcome != tfo.OutcomeAcceptedFastOpen {
		t.Errorf("the server accepted %v; want 5 conns, the first fast-opened", got)
	}
}

// TestProbeWorksTLS probes a TLS server with -tls: the ClientHello fits in the SYN,
// and the first byte of the ServerHello comes a round trip sooner than with net.
func TestProbeWorksTLS(t *testing.T) {
	l := newLink(t, delaylink.Config{RTT: 40 * time.Millisecond})
	ln := listen(t, l, tfo.Listen)
	s := serve(t, ln, nil, answerTLS(selfSigned(t, netip.MustParseAddrPort(ln.Addr().String()).Addr())))
	code, res := probeJSON(t, l, s.addr, "-tls")
	checkResult(t, code, res, expect{
		address: s.addr, send: sendTLS, setting: 3,
		first:    tfo.OutcomeCookieReceived,
		rounds:   repeat(tfo.OutcomeFastOpened, testRounds),
		response: "TLS handshake", cookie: true,
		verdict: verdictWorks, code: exitOK,
	})
	checkAccepted(t, s, res, "handshake")
	if sum := res.Summary; sum.TFOFirstByteMS > 0.8*sum.NetFirstByteMS {
		t.Errorf("tfo took %.1f ms to the ServerHello, net %.1f ms; want about half of net's", sum.TFOFirstByteMS, sum.NetFirstByteMS)
	}
}

// TestProbeWorksData probes an echo server with -data: each conn delivers the bytes
// given, escapes turned into bytes, once.
func TestProbeWorksData(t *testing.T) {
	l := newLink(t, delaylink.Config{RTT: 10 * time.Millisecond})
	const data = "PING\r\n\x00"
	s := serve(t, listen(t, l, tfo.Listen), nil, answerEcho(len(data)))
	code, res := probeJSON(t, l, s.addr, "-data", `PING\r\n\x00`)
	checkResult(t, code, res, expect{
		address: s.addr, send: sendData, sent: len(data), setting: 3,
		first:    tfo.OutcomeCookieReceived,
		rounds:   repeat(tfo.OutcomeFastOpened, testRounds),
		response: `"PING\r\n\x00"`, cookie: true,
		verdict: verdictWorks, code: exitOK,
	})
	checkAccepted(t, s, res, data)
}

// TestProbeNotReplayable probes an echo server with -data carrying a POST: tfo keeps
// it out of the SYN, the verdict says why, and each conn delivers it once.
func TestProbeNotReplayable(t *testing.T) {
	l := newLink(t, delaylink.Config{RTT: 10 * time.Millisecond})
	const data = "POST / HTTP/1.1\r\nHost: h\r\n\r\n"
	s := serve(t, listen(t, l, tfo.Listen), nil, answerEcho(len(data)))
	code, res := probeJSON(t, l, s.addr, "-data", `POST / HTTP/1.1\r\nHost: h\r\n\r\n`)
	checkResult(t, code, res, expect{
		address: s.addr, send: sendData, sent: len(data), setting: 3,
		first:    tfo.OutcomeCookieReceived,
		rounds:   repeat(tfo.OutcomeNotReplayable, testRounds),
		response: `"POST / HTTP/1.1\r\nHost: h\r\n\r\n"`, cookie: true,
		verdict: verdictNotReplayable, code: exitFails,
	})
	checkAccepted(t, s, res, data)
}

// TestProbeNoCookie probes a server that gives no cookie, a plain net listener, and a
// tfo server behind a link that strips the fast open option from SYNs and SYN-ACKs:
// every tfo conn asks for a cookie and gets none.
func TestProbeNoCookie(t *testing.T) {
	for _, tt := range []struct {
		name    string
		listen  func(network, address string) (net.Listener, error)
		rewrite func([]byte) bool
		asked   int64 // the cookie requests the server saw
	}{
		{"server off", net.Listen, nil, 1 + testRounds},
		{"option stripped", tfo.Listen, delaylink.StripFastOpen, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newLink(t, delaylink.Config{RTT: 10 * time.Millisecond, Rewrite: tt.rewrite})
			s := serve(t, listen(t, l, tt.listen), nil, answerHTTP)
			beforeA, beforeB := counters(t, l.A), counters(t, l.B)
			code, res := probeJSON(t, l, s.addr)
			e := httpProbe(s.addr)
			e.first, e.rounds = tfo.OutcomeNoCookie, repeat(tfo.OutcomeNoCookie, testRounds)
			e.verdict, e.code = verdictNoCookie, exitFails
			checkResult(t, code, res, e)
			checkAccepted(t, s, res, request(s.addr))
			checkCounters(t, l.A, beforeA, map[string]int64{"TCPFastOpenActive": 0})
			// The server without fast open saw the cookie request of each tfo conn; the
			// other, none: the option was stripped on the way.
			checkCounters(t, l.B, beforeB, map[string]int64{"TCPFastOpenCookieReqd": tt.asked, "TCPFastOpenPassive": 0})
			// The SYN of each tfo conn asked for a cookie; net's did not.
			if got, want := l.Stats().Rewritten, int64(1+testRounds); tt.rewrite != nil && got != want {
				t.Errorf("the link stripped the option from %d packets; want %d, the SYN of each tfo conn", got, want)
			}
		})
	}
}

// TestProbeDataRefused probes a server whose key changes: after every conn it
// accepts, so that every cookie it gave is stale at the next conn, and once, after
// the first conn, so that only the next tfo conn's cookie is.
func TestProbeDataRefused(t *testing.T) {
	newKey := func(t *testing.T, ln net.Listener) {
		var k tfo.Key
		rand.Read(k[:])
		if err := tfo.SetKeys(ln, k); err != nil {
			t.Error(err)
		}
	}
	t.Run("every conn", func(t *testing.T) {
		l := newLink(t, delaylink.Config{RTT: 10 * time.Millisecond})
		ln := listen(t, l, tfo.Listen)
		s := serve(t, ln, func(int) { newKey(t, ln) }, answerHTTP)
		before := counters(t, l.B)
		code, res := probeJSON(t, l, s.addr)
		e := httpProbe(s.addr)
		e.first, e.rounds, e.cookie = tfo.OutcomeCookieReceived, repeat(tfo.OutcomeDataRefused, testRounds), true
		e.verdict, e.code = verdictDataRefused, exitFails
		checkResult(t, code, res, e)
		checkAccepted(t, s, res, request(s.addr))
		checkCounters(t, l.B, before, map[string]int64{"TCPFastOpenPassive": 0, "TCPFastOpenPassiveFail": testRounds})
	})
	t.Run("once", func(t *testing.T) {
		l := newLink(t, delaylink.Config{RTT: 10 * time.Millisecond})
		ln := listen(t, l, tfo.Listen)
		s := serve(t, ln, func(i int) {
			if i == 0 {
				newKey(t, ln)
			}
		}, answerHTTP)
		before := counters(t, l.B)
		code, res := probeJSON(t, l, s.addr)
		e := httpProbe(s.addr)
		e.first, e.cookie = tfo.OutcomeCookieReceived, true
		e.rounds = append([]tfo.Outcome{tfo.OutcomeDataRefused}, repeat(tfo.OutcomeFastOpened, testRounds-1)...)
		e.verdict, e.code = verdictWorks, exitOK
		checkResult(t, code, res, e)
		checkAccepted(t, s, res, request(s.addr))
		checkCounters(t, l.B, before, map[string]int64{"TCPFastOpenPassive": testRounds - 1, "TCPFastOpenPassiveFail": 1})
	})
}

// TestProbeSYNLost probes a server behind a link that drops SYNs carrying data: the
// first conn gets its cookie with a SYN without data, the next lossesToPause tfo
// conns lose their SYN, which the kernel sends again without data after a second,
// and package tfo pauses fast open to the server for the rest.
func TestProbeSYNLost(t *testing.T) {
	l := newLink(t, delaylink.Config{RTT: 10 * time.Millisecond, Drop: delaylink.SYNWithData})
	s := serve(t, listen(t, l, tfo.Listen), nil, answerHTTP)
	before := counters(t, l.A)
	code, res := probeJSON(t, l, s.addr)
	e := httpProbe(s.addr)
	e.first, e.cookie, e.synDrops = tfo.OutcomeCookieReceived, true, lossesToPause
	e.rounds = append(repeat(tfo.OutcomeSYNLost, lossesToPause), repeat(tfo.OutcomePaused, testRounds-lossesToPause)...)
	e.verdict, e.code = verdictSYNLost, exitFails
	checkResult(t, code, res, e)
	checkAccepted(t, s, res, request(s.addr))
	checkCounters(t, l.A, before, map[string]int64{"TCPFastOpenActive": 0, "TCPFastOpenActiveFail": lossesToPause})
	if got := l.Stats().Dropped; got != lossesToPause {
		t.Errorf("the link dropped %d SYNs with data; want %d", got, lossesToPause)
	}
	for i, r := range res.Rounds[:lossesToPause] {
		if r.TFO.FirstByteMS < 1000 {
			t.Errorf("rounds[%d].tfo: the first byte after %.1f ms; want the SYN's retransmission timeout, a second, or more", i, r.TFO.FirstByteMS)
		}
	}
}

// TestProbeClientOff probes from a namespace whose net.ipv4.tcp_fastopen has the
// server bit alone: the system refuses fast open on every tfo conn, which connects as
// net's do.
func TestProbeClientOff(t *testing.T) {
	l := newLink(t, delaylink.Config{RTT: 10 * time.Millisecond})
	if err := l.A.SetSysctl("net.ipv4.tcp_fastopen", "2"); err != nil {
		t.Fatal(err)
	}
	s := serve(t, listen(t, l, tfo.Listen), nil, answerHTTP)
	beforeA, beforeB := counters(t, l.A), counters(t, l.B)
	code, res := probeJSON(t, l, s.addr)
	e := httpProbe(s.addr)
	e.setting = 2
	e.first, e.rounds = tfo.OutcomeSystemRefused, repeat(tfo.OutcomeSystemRefused, testRounds)
	e.verdict, e.code = verdictClientOff, exitFails
	checkResult(t, code, res, e)
	checkAccepted(t, s, res, request(s.addr))
	checkCounters(t, l.A, beforeA, map[string]int64{"TCPFastOpenActive": 0, "TCPFastOpenActiveFail": 0})
	checkCounters(t, l.B, beforeB, map[string]int64{"TCPFastOpenCookieReqd": 0, "TCPFastOpenPassive": 0})
}

// TestProbeOldKernel probes from a child process whose setsockopt(2) calls strace(1)
// fails with ENOPROTOOPT, as a kernel without TCP_FASTOPEN_CONNECT (before Linux 4.11)
// does, with the client setting on: the platform has no fast open.
func TestProbeOldKernel(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("strace(1) is needed:", err)
		}
		t.Skip("no strace(1):", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := newLink(t, delaylink.Config{RTT: 10 * time.Millisecond})
	s := serve(t, listen(t, l, tfo.Listen), nil, answerHTTP)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(strace, "-f", "-qq", "-o", "/dev/null", "--seccomp-bpf",
		"-e", "trace=setsockopt", "-e", "inject=setsockopt:error=ENOPROTOOPT", exe)
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join([]string{"probe", "-json", "-n", fmt.Sprint(testRounds), s.addr}, "\n"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The child starts on a thread of A, and so runs in A's namespace.
	if err := l.A.Do(cmd.Run); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	res := decodeResult(t, stdout.String(), stderr.String())
	e := httpProbe(s.addr)
	e.first, e.rounds = tfo.OutcomeSystemRefused, repeat(tfo.OutcomeSystemRefused, testRounds)
	e.verdict, e.code = verdictNoFastOpen, exitFails
	checkResult(t, cmd.ProcessState.ExitCode(), res, e)
	checkAccepted(t, s, res, request(s.addr))
}
