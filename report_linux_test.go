package tfo

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/fastopen/tfo/internal/delaylink"
)

// The tests of this file produce each outcome of Report on the wire, and check it
// against what TCP_INFO and the kernel's counters say crossed it.

// checkReport checks that Report says want of c, now and after Close, and that
// Counts counted it once.
func checkReport(t *testing.T, c net.Conn, want Outcome) {
	t.Helper()
	got, err := Report(c)
	if err != nil || got != want {
		t.Errorf("Report = %q, %v; want %q", got, err, want)
	}
	c.Close()
	if after, _ := Report(c); after != got {
		t.Errorf("Report after Close = %q; before: %q", after, got)
	}
}

// forgetCookies makes the package forget what it learnt of the system's cookies, for
// the test and after it: links reuse their addresses.
func forgetCookies(t testing.TB) {
	cookies.t.clear()
	t.Cleanup(cookies.t.clear)
}

// TestReportCookies checks the outcomes of a conn to a server that offers fast open,
// on its first conn (a cookie requested and received) and the next (fast-opened), and
// to one that offers none (a cookie requested, none received), on both ends, and that
// Counts counts each conn once.
func TestReportCookies(t *testing.T) {
	checkNoLeaks(t)
	requireWire(t)
	forgetCookies(t)
	before := Counts()
	accepted := make(chan Outcome, 4)
	s := newServerOn(t, freshHost()+":0", func(c *net.TCPConn) {
		o, err := Report(c)
		if err != nil {
			t.Error(err)
		}
		accepted <- o
		answer(c)
	})
	c, err := Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := Report(c); o != OutcomePending {
		t.Errorf("Report before the first Write = %q", o)
	}
	checkAnswer(t, c, "first")
	checkReport(t, c, OutcomeCookieReceived)
	c = dialPending(t, &Dialer{}, s.addr)
	checkAnswer(t, c, "second")
	checkFastOpened(t, c)
	checkReport(t, c, OutcomeFastOpened)
	if a, b := <-accepted, <-accepted; a != OutcomeAcceptedPlain || b != OutcomeAcceptedFastOpen {
		t.Errorf("the server's reports: %q, %q", a, b)
	}

	// A server without fast open: no cookie, on every conn.
	ln, err := net.Listen("tcp", freshHost()+":0")
	if err != nil {
		t.Fatal(err)
	}
	plain := serveListener(t, ln, answer)
	for range 2 {
		c, err := Dial("tcp", plain.addr)
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, c, "plain")
		checkReport(t, c, OutcomeNoCookie)
	}
	after := Counts()
	for o, n := range map[Outcome]uint64{OutcomeCookieReceived: 1, OutcomeFastOpened: 1, OutcomeNoCookie: 2} {
		if d := after[o] - before[o]; d != n {
			t.Errorf("Counts: %q +%d; want +%d", o, d, n)
		}
	}
	if b, err := json.Marshal(after); err != nil || !json.Valid(b) {
		t.Errorf("Counts as JSON: %s, %v", b, err)
	}
}

// TestReportDataRefused checks a conn whose cookie the server no longer accepts, after
// its key changed: the SYN carried the data, the server acknowledged only the SYN.
func TestReportDataRefused(t *testing.T) {
	checkNoLeaks(t)
	requireWire(t)
	ln, err := Listen("tcp", freshHost()+":0")
	if err != nil {
		t.Fatal(err)
	}
	s := serveListener(t, ln, answer)
	if err := SetKeys(ln, Key{1}); err != nil {
		t.Fatal(err)
	}
	c, err := Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, c, "cookie")
	c.Close()
	if err := SetKeys(ln, Key{2}); err != nil {
		t.Fatal(err)
	}
	before := readTCPExt(t)
	c = dialPending(t, &Dialer{}, s.addr)
	checkAnswer(t, c, "stale")
	if d := readTCPExt(t).since(before, "TCPFastOpenActiveFail"); d["TCPFastOpenActiveFail"] != 1 {
		t.Errorf("TcpExt %v", d)
	}
	checkReport(t, c, OutcomeDataRefused)
}

// TestReportNotAttempted checks the outcomes of conns on which fast open was not
// attempted, each for its reason.
func TestReportNotAttempted(t *testing.T) {
	checkNoLeaks(t)
	requirePending(t)
	s := newServer(t, answer)

	t.Run("DisableTFO", func(t *testing.T) {
		c, err := (&Dialer{DisableTFO: true}).Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, c, "x")
		checkReport(t, c, OutcomeDisabled)
	})
	t.Run("client setting off", func(t *testing.T) {
		setSysctl(t, "net/ipv4/tcp_fastopen", "2")
		resetRefusal(t)
		c, err := Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, c, "x")
		checkReport(t, c, OutcomeSystemRefused)
	})
	t.Run("CloseWrite first", func(t *testing.T) {
		c := dialPending(t, &Dialer{}, s.addr)
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		checkReport(t, c, OutcomeNoData)
	})
	t.Run("refused", func(t *testing.T) {
		c := dialPending(t, &Dialer{}, closedPort(t))
		if _, err := c.Write([]byte("x")); err == nil {
			t.Fatal("Write to a closed port succeeded")
		}
		checkReport(t, c, OutcomeNotConnected)
	})
	t.Run("closed before the connect", func(t *testing.T) {
		c := dialPending(t, &Dialer{}, s.addr)
		if o, _ := Report(c); o != OutcomePending {
			t.Errorf("Report before the connect = %q", o)
		}
		c.Close()
		if o, _ := Report(c); o != OutcomeNotConnected {
			t.Errorf("Report after Close = %q", o)
		}
	})
}

// TestReportServerSpeaksFirst checks the conns that a Read connected without data: to a
// server not known to speak first, after ReadWait, and to one known to.
func TestReportServerSpeaksFirst(t *testing.T) {
	checkNoLeaks(t)
	requirePending(t)
	speaksFirst.t.clear()
	t.Cleanup(speaksFirst.t.clear)
	s := bannerServer(t, "127.0.0.1:0")
	for _, want := range []Outcome{OutcomeReadWaitPassed, OutcomeServerSpeaksFirst} {
		c := dialPending(t, &Dialer{}, s.addr)
		b := make([]byte, 64)
		if n, err := c.Read(b); err != nil || string(b[:n]) != "220 ready" {
			t.Fatalf("banner %q, %v", b[:n], err)
		}
		checkReport(t, c, want)
	}
}

// TestReportRaced checks a conn whose first address was silent, and which connected to
// the other family's, which races it without data.
func TestReportRaced(t *testing.T) {
	checkNoLeaks(t)
	requirePending(t)
	r, addr, _ := dualStack(t)
	c := dialPending(t, &Dialer{Dialer: net.Dialer{Resolver: r}}, addr)
	checkAnswer(t, c, "x")
	checkReport(t, c, OutcomeRaced)
}

// TestReportPath checks conns whose fast open the path defeats: behind a middlebox that
// drops SYNs with data, the SYN was lost, then fast open to the server paused; through
// one that strips the option, no cookie ever comes.
func TestReportPath(t *testing.T) {
	checkNoLeaks(t)
	t.Run("drops SYN data", func(t *testing.T) {
		m := newMiddlebox(t, 5*time.Millisecond)
		for i := range lossesToPause + 1 {
			want := OutcomeSYNLost
			if i == lossesToPause {
				want = OutcomePaused
			}
			checkReport(t, send(t, m.dial, m.s.addr, "x"), want)
		}
	})
	t.Run("strips the option", func(t *testing.T) {
		forgetCookies(t)
		link, err := delaylink.New(delaylink.Config{RTT: 5 * time.Millisecond, Rewrite: delaylink.StripFastOpen})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { link.Close() })
		ln := farListener(t, link)
		s := serveListener(t, ln, answer)
		for range 2 {
			var o Outcome
			// The conn, and the cookie cache that Report asks, belong to the
			// namespace of the thread that makes and reports it.
			if err := link.A.Do(func() error {
				c, err := (&Dialer{}).DialContext(context.Background(), "tcp", s.addr)
				if err != nil {
					return err
				}
				defer c.Close()
				checkAnswer(t, c, "x")
				o, err = Report(c)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if o != OutcomeNoCookie {
				t.Errorf("Report = %q; want %q", o, OutcomeNoCookie)
			}
		}
		if s := link.Stats(); s.Rewritten == 0 {
			t.Error("the link stripped no option")
		}
	})
}
