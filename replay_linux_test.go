package tfo

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastopen/tfo/internal/delaylink"
)

// replayDelay is how long after a SYN with data the replaying link sends its copy.
const replayDelay = 50 * time.Millisecond

// newReplayLink makes a link with a round trip of rtt that sends every SYN with data a
// second time, replayDelay later, from another port.
func newReplayLink(t *testing.T, rtt time.Duration) *delaylink.Link {
	t.Helper()
	requireWire(t)
	link, err := delaylink.New(delaylink.Config{RTT: rtt, ReplaySYNData: replayDelay})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	return link
}

// listenFar listens with lc on the far end of link.
func listenFar(t testing.TB, link *delaylink.Link, lc *ListenConfig) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := link.B.Do(func() (err error) {
		ln, err = lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(link.B.Addr(), 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ln
}

// synArrival is what a server learnt of one accepted conn.
type synArrival struct {
	port    int    // the client's
	data    string // what the conn carried
	synData int
	err     error
}

// TestSYNData checks SYNData on the wire, on an MPTCP listener (Go's default) and on a
// plain one, over a link that replays each SYN with data: 0 for the conn that fetched
// the cookie, the SYN's length exactly on the fast-opened conn and on its replayed
// copy, and ErrSYNDataUnknown once a second segment with data has come.
func TestSYNData(t *testing.T) {
	checkNoLeaks(t)
	for _, multipath := range []bool{true, false} {
		name := "TCP"
		if multipath {
			name = "MPTCP"
		}
		t.Run(name, func(t *testing.T) {
			link := newReplayLink(t, 10*time.Millisecond)
			var lc ListenConfig
			lc.SetMultipathTCP(multipath)
			ln := listenFar(t, link, &lc)
			rc, _ := ln.(*net.TCPListener).SyscallConn()
			if isMultipath(rc) != multipath {
				t.Fatalf("listener MPTCP %v, want %v", isMultipath(rc), multipath)
			}
			arrivals := make(chan synArrival, 10)
			s := serveListener(t, ln, func(c *net.TCPConn) {
				n, err := SYNData(c) // before reading, as a server should
				b, _ := io.ReadAll(c)
				arrivals <- synArrival{c.RemoteAddr().(*net.TCPAddr).Port, string(b), n, err}
			})
			dial := link.A.Dial(dialZero)
			send := func(addr string, msgs ...string) *Conn {
				t.Helper()
				nc, err := dial(context.Background(), "tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				c := nc.(*Conn)
				t.Cleanup(func() { c.Close() })
				for _, m := range msgs {
					if _, err := c.Write([]byte(m)); err != nil {
						t.Fatal(err)
					}
				}
				c.CloseWrite()
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				io.ReadAll(c)
				return c
			}
			next := func() synArrival {
				t.Helper()
				select {
				case a := <-arrivals:
					return a
				case <-time.After(5 * time.Second):
					t.Fatal("no conn accepted")
				}
				return synArrival{}
			}

			send(s.addr, "cookie\n")
			if a := next(); a.synData != 0 || a.err != nil || a.data != "cookie\n" {
				t.Errorf("conn that fetched the cookie: %+v; want SYNData 0", a)
			}

			const msg = "PING 1\r\n"
			c := send(s.addr, msg)
			checkFastOpened(t, c)
			if n, err := SYNData(c); n != 0 || err != nil {
				t.Errorf("SYNData of the dialed conn = %d, %v; want 0", n, err)
			}
			port := c.LocalAddr().(*net.TCPAddr).Port
			original, replayed := next(), next()
			if original.port != port || original.synData != len(msg) || original.err != nil || original.data != msg {
				t.Errorf("fast-opened conn: %+v; want port %d, SYNData %d", original, port, len(msg))
			}
			if replayed.port != int(delaylink.ReplayPort(uint16(port))) || replayed.synData != len(msg) || replayed.err != nil || replayed.data != msg {
				t.Errorf("replayed conn: %+v; want SYNData %d, from port %d", replayed, len(msg), delaylink.ReplayPort(uint16(port)))
			}
			if st := link.Stats(); st.Replayed != 1 {
				t.Errorf("link replayed %d SYNs, want 1", st.Replayed)
			}

			// Once a second segment with data has come, the count is no longer known.
			// The cookie is cached for the server's address, so the first Write goes in
			// the SYN, and the second follows the handshake.
			later := make(chan synArrival, 10)
			s2 := serveListener(t, listenFar(t, link, &lc), func(c *net.TCPConn) {
				b := make([]byte, 64)
				got := 0
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				for got < len("one\ntwo\n") {
					n, err := c.Read(b[got:])
					if err != nil {
						break
					}
					got += n
				}
				n, err := SYNData(c)
				later <- synArrival{port: c.RemoteAddr().(*net.TCPAddr).Port, data: string(b[:got]), synData: n, err: err}
			})
			port = send(s2.addr, "one\n", "two\n").LocalAddr().(*net.TCPAddr).Port
			for range 2 {
				select {
				case a := <-later:
					switch a.port {
					case port:
						if !errors.Is(a.err, ErrSYNDataUnknown) || a.data != "one\ntwo\n" {
							t.Errorf("after a second segment: %+v; want ErrSYNDataUnknown", a)
						}
					default: // the replayed copy, which has the SYN's data alone
						if a.synData != len("one\n") || a.err != nil || a.data != "one\n" {
							t.Errorf("replayed copy: %+v; want SYNData %d", a, len("one\n"))
						}
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no conn accepted")
				}
			}
			s2.close()
		})
	}
}

// TestReplayedHTTPRequests sends requests through an http.Transport over a link that
// replays every SYN with data, with tfo's default Dialer and with net's. POST, PATCH
// and a DELETE without a body reach the handler once, as through net, and their SYNs
// carry no data; GETs fast-open, and the link's copy of their SYN runs them again,
// as it would any SYN with data.
func TestReplayedHTTPRequests(t *testing.T) {
	checkNoLeaks(t)
	link := newReplayLink(t, 10*time.Millisecond)
	ln := listenFar(t, link, &ListenConfig{})
	type run struct {
		synData int
		err     error
	}
	var mu sync.Mutex
	runs := map[string][]run{}
	srv := &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			n, err := SYNData(c)
			return context.WithValue(ctx, connKey{}, run{n, err})
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			runs[r.Method+" "+r.URL.Path] = append(runs[r.Method+" "+r.URL.Path], r.Context().Value(connKey{}).(run))
			mu.Unlock()
			io.WriteString(w, "ok")
		}),
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	defer func() { srv.Close(); <-done }()

	base := "http://" + ln.Addr().String()
	for _, client := range []struct {
		name string
		dial delaylink.DialFunc
	}{
		{"tfo", link.A.Dial((&Dialer{}).DialContext)},
		{"net", link.A.Dial((&net.Dialer{}).DialContext)},
	} {
		tr := &http.Transport{DialContext: client.dial, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		do := func(method, path string, body io.Reader) Outcome {
			t.Helper()
			var conn net.Conn
			trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { conn = info.Conn }}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, base+path, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			o, _ := Report(conn)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "ok" {
				t.Fatalf("%s %s: %q", method, path, b)
			}
			return o
		}
		do("GET", "/warm-"+client.name, nil) // fetches the cookie
		for _, tt := range []struct {
			method string
			body   io.Reader
			want   Outcome // tfo's
		}{
			{"POST", strings.NewReader(strings.Repeat("b", 40)), OutcomeNotReplayable},
			{"PATCH", strings.NewReader("{}"), OutcomeNotReplayable},
			{"DELETE", nil, OutcomeNotReplayable},
			{"GET", nil, OutcomeFastOpened},
		} {
			o := do(tt.method, "/"+client.name, tt.body)
			if client.name == "tfo" && o != tt.want {
				t.Errorf("tfo %s: Report %v; want %v", tt.method, o, tt.want)
			}
		}
	}
	time.Sleep(replayDelay + 2*link.RTT()) // the last copies
	mu.Lock()
	defer mu.Unlock()
	for key, got := range runs {
		t.Logf("%s: %d runs %v", key, len(got), got)
	}
	for _, method := range []string{"POST", "PATCH", "DELETE"} {
		for _, client := range []string{"tfo", "net"} {
			key := method + " /" + client
			if got := runs[key]; len(got) != 1 || got[0] != (run{}) {
				t.Errorf("%s: runs %v; want one, with no SYN data", key, got)
			}
		}
	}
	if got := runs["GET /tfo"]; len(got) != 2 || got[0].synData == 0 || got[0] != got[1] {
		t.Errorf("tfo's GET: runs %v; want two with the same SYN data, the request and its copy", got)
	}
	if got := runs["GET /net"]; len(got) != 1 || got[0] != (run{}) {
		t.Errorf("net's GET: runs %v; want one, with no SYN data", got)
	}
	if st := link.Stats(); st.Replayed != 1 {
		t.Errorf("the link replayed %d SYNs with data; want 1, the GET's", st.Replayed)
	}
}

// TestNotReplayableWrite checks the first Write of bytes that must not travel in the
// SYN, over a link with a round trip of 100 ms: with a write deadline of half the round
// trip it does as net's does, the bytes reach the server once and after the handshake,
// and a Dialer's own Replayable decides which bytes those are.
func TestNotReplayableWrite(t *testing.T) {
	checkNoLeaks(t)
	const rtt = 100 * time.Millisecond
	link := newReplayLink(t, rtt)
	arrivals := make(chan synArrival, 10)
	ln := listenFar(t, link, &ListenConfig{})
	s := serveListener(t, ln, func(c *net.TCPConn) {
		n, err := SYNData(c)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 64)
		m, _ := c.Read(b)
		arrivals <- synArrival{data: string(b[:m]), synData: n, err: err}
		c.Write([]byte("re:" + string(b[:m])))
	})
	once := &Dialer{Replayable: func(b []byte) bool { return !strings.HasPrefix(string(b), "pay ") }}
	for _, tt := range []struct {
		name string
		dial delaylink.DialFunc
		msg  string
		syn  bool // whether the bytes travel in the SYN
	}{
		{"warm", link.A.Dial(dialZero), "warm\n", false},
		{"tfo POST", link.A.Dial(dialZero), "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", false},
		{"net POST", link.A.Dial((&net.Dialer{}).DialContext), "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", false},
		{"tfo own rule, refused", link.A.Dial(once.DialContext), "pay 10\n", false},
		{"tfo own rule, taken", link.A.Dial(once.DialContext), "show 10\n", true},
		{"tfo AlwaysReplayable", link.A.Dial((&Dialer{Replayable: AlwaysReplayable}).DialContext), "POST /p HTTP/1.1\r\n\r\n", true},
	} {
		c, err := tt.dial(context.Background(), "tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetWriteDeadline(time.Now().Add(rtt / 2))
		n, err := c.Write([]byte(tt.msg))
		if n != len(tt.msg) || err != nil {
			t.Errorf("%s: Write with a deadline of half the round trip = %d, %v; want %d, nil", tt.name, n, err, len(tt.msg))
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 128)
		m, err := c.Read(b)
		if err != nil || string(b[:m]) != "re:"+tt.msg {
			t.Errorf("%s: answer %q, %v", tt.name, b[:m], err)
		}
		a := <-arrivals
		if (a.synData > 0) != tt.syn || a.data != tt.msg {
			t.Errorf("%s: server read %q, SYNData %d, %v; want SYN data %v", tt.name, a.data, a.synData, a.err, tt.syn)
		}
		if tc, ok := c.(*Conn); ok && !tt.syn && tt.name != "warm" {
			if o, _ := Report(tc); o != OutcomeNotReplayable {
				t.Errorf("%s: Report %v", tt.name, o)
			}
		}
		c.Close()
		if tt.syn {
			if a := <-arrivals; a.data != tt.msg {
				t.Errorf("%s: the replayed copy read %q", tt.name, a.data)
			}
		}
	}
	select {
	case a := <-arrivals:
		t.Errorf("a conn more: %+v", a)
	case <-time.After(replayDelay + rtt):
	}
}

// TestConnectThroughProxy sends HTTPS requests through an http.Transport whose Proxy
// is a CONNECT proxy across a link with a round trip of 20 ms: with tfo's default
// Dialer the CONNECT request travels in the SYN to the proxy, a replayed CONNECT being
// a tunnel that carries nothing, and the response comes a round trip sooner than with
// net's.
func TestConnectThroughProxy(t *testing.T) {
	checkNoLeaks(t)
	const rtt = 20 * time.Millisecond
	link := newLinkRTT(t, rtt)
	target := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	target.Listener.Close()
	target.Listener = listenFar(t, link, &ListenConfig{})
	target.StartTLS()
	defer target.Close()
	connects := make(chan int, 8)
	upstream := link.B.Dial((&net.Dialer{}).DialContext) // the proxy's side of the link
	proxy := serveListener(t, listenFar(t, link, &ListenConfig{}), func(c *net.TCPConn) {
		n, _ := SYNData(c)
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || req.Method != "CONNECT" {
			return
		}
		connects <- n
		up, err := upstream(context.Background(), "tcp", req.Host)
		if err != nil {
			return
		}
		defer up.Close()
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		// Plain writers: io.Copy between two TCP conns would splice through pipes that
		// Go keeps for later, which the count of descriptors would see.
		go func() { io.Copy(struct{ io.Writer }{up}, br); up.(*net.TCPConn).CloseWrite() }()
		io.Copy(struct{ io.Writer }{c}, up)
	})
	proxyURL, _ := url.Parse("http://" + proxy.addr)
	get := func(dial delaylink.DialFunc) (time.Duration, int) {
		t.Helper()
		tr := &http.Transport{
			Proxy:             http.ProxyURL(proxyURL),
			DialContext:       dial,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.X25519}},
			DisableKeepAlives: true,
		}
		defer tr.CloseIdleConnections()
		start := time.Now()
		resp, err := (&http.Client{Transport: tr}).Get(target.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello" {
			t.Fatalf("body %q", b)
		}
		return time.Since(start), <-connects
	}
	tfoDial, netDial := link.A.Dial(dialZero), link.A.Dial((&net.Dialer{}).DialContext)
	get(tfoDial) // fetches the proxy's cookie
	var tfoTimes, netTimes []time.Duration
	for range 5 {
		d, n := get(tfoDial)
		if n == 0 {
			t.Error("tfo's CONNECT did not travel in the SYN")
		}
		tfoTimes = append(tfoTimes, d)
		d, n = get(netDial)
		if n != 0 {
			t.Errorf("net's CONNECT came in the SYN: %d bytes", n)
		}
		netTimes = append(netTimes, d)
	}
	slices.Sort(tfoTimes)
	slices.Sort(netTimes)
	tfoMedian, netMedian := tfoTimes[2], netTimes[2]
	t.Logf("HTTPS through a CONNECT proxy, 20 ms round trip: tfo %v, net %v (medians of 5), tfo/net %.2f", tfoMedian, netMedian, float64(tfoMedian)/float64(netMedian))
	if tfoMedian > netMedian-rtt/2 {
		t.Errorf("tfo took %v, net %v: want a round trip saved", tfoMedian, netMedian)
	}
}
