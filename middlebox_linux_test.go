package tfo

import (
	"fmt"
	"testing"
	"time"

	"github.com/fastopen/tfo/internal/delaylink"
)

// A middlebox is a link between two private network namespaces that drops every SYN
// that carries data, and passes everything else after a delay, with a recording server
// on the far end and a client on the near one that holds its cookie.
type middlebox struct {
	link     *delaylink.Link
	s        *server
	arrivals chan arrival
	dial     delaylink.DialFunc // dials with a zero Dialer from the near end
}

// initialRTO is the retransmission timeout of a SYN that gets no answer, before any
// RTT is measured (TCP_TIMEOUT_INIT, include/net/tcp.h; RFC 6298, section 2.1).
const initialRTO = time.Second

// newMiddlebox makes a middlebox with a round trip of rtt, and fetches a cookie through
// it with a connection whose SYN carries no data.
func newMiddlebox(t *testing.T, rtt time.Duration) *middlebox {
	t.Helper()
	requireWire(t)
	forgetSYNDataLoss(t)
	link, err := delaylink.New(delaylink.Config{RTT: rtt, Drop: delaylink.SYNWithData})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	ln := farListener(t, link)
	m := &middlebox{link: link, arrivals: make(chan arrival, 128), dial: link.A.Dial(dialZero)}
	m.s = serveListener(t, ln, record(t, m.arrivals))
	send(t, m.dial, m.s.addr, "warm")
	if s := link.Stats(); s.Dropped != 0 {
		t.Fatalf("the connection that fetched the cookie lost %d packets", s.Dropped)
	}
	return m
}

// forgetSYNDataLoss makes the client forget the servers to which it lost SYNs with
// data, for the test and after it.
func forgetSYNDataLoss(t testing.TB) {
	forget := synDataLoss.t.clear
	forget()
	t.Cleanup(forget)
}

// counters returns the TcpExt counters of the near end (the client's).
func (m *middlebox) counters(t testing.TB) tcpExt {
	t.Helper()
	ext, err := m.link.A.ReadTCPExt()
	if err != nil {
		t.Fatal(err)
	}
	return ext
}

// TestMiddleboxDropsSYNData checks a client with a cookie behind a middlebox that drops
// SYNs carrying data. tfo adds no timer of its own: the kernel retransmits the SYN
// without data once its initial timeout (one second) passes, then sends the data after
// the handshake. A timer shorter than that could not tell a dropped SYN from a slow
// one, and dialing again would then deliver the data twice. So the first Write returns
// after that second and a round trip, the data reaches the server once, and the kernel
// counts the failure.
func TestMiddleboxDropsSYNData(t *testing.T) {
	checkNoLeaks(t)
	const rtt = 20 * time.Millisecond
	m := newMiddlebox(t, rtt)
	before := m.counters(t)
	start := time.Now()
	c := send(t, m.dial, m.s.addr, "hello")
	e := time.Since(start)
	if e < initialRTO || e > initialRTO+20*rtt {
		t.Errorf("the exchange took %v; want the initial RTO, %v, and a few round trips of %v", e, initialRTO, rtt)
	}
	if ok, err := FastOpened(c); ok || err != nil {
		t.Errorf("FastOpened = %v, %v; want false", ok, err)
	}
	if f := fastOpenClientFail(t, c); f != failSYNRetransmitted {
		t.Errorf("tcpi_fastopen_client_fail %d; want %d (the SYN was retransmitted)", f, failSYNRetransmitted)
	}
	want := map[string]int64{"TCPFastOpenActive": 0, "TCPFastOpenActiveFail": 1, "TCPSynRetrans": 1}
	if d := m.counters(t).since(before, "TCPFastOpenActive", "TCPFastOpenActiveFail", "TCPSynRetrans"); fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("TcpExt %v; want %v", d, want)
	}
	if s := m.link.Stats(); s.Dropped != 1 {
		t.Errorf("the link dropped %d packets; want the SYN with data", s.Dropped)
	}
	checkArrivals(t, m.s, m.arrivals, arrival{"warm", false}, arrival{"hello", false})
}

// TestMiddleboxPausesFastOpen checks that a client behind a middlebox that drops every
// SYN with data pays for it lossesToPause times, not at every connection: the kernel
// goes on putting data in the SYNs to that server, each of which then waits for the
// initial timeout, so after those losses in a row the dials to that server go without
// fast open. Of 100 conns, at most 3 pay the SYN retransmission, and every conn's data
// arrives once.
func TestMiddleboxPausesFastOpen(t *testing.T) {
	checkNoLeaks(t)
	m := newMiddlebox(t, 5*time.Millisecond)
	const conns = 100
	want := []arrival{{"warm", false}}
	var paid int
	for i := range conns {
		msg := fmt.Sprint("conn ", i)
		start := time.Now()
		c := send(t, m.dial, m.s.addr, msg)
		if time.Since(start) >= initialRTO {
			paid++
			if f := fastOpenClientFail(t, c); f != failSYNRetransmitted {
				t.Errorf("%s: tcpi_fastopen_client_fail %d; want %d (the SYN was retransmitted)", msg, f, failSYNRetransmitted)
			}
		}
		want = append(want, arrival{msg, false})
	}
	if paid != lossesToPause || paid > 3 {
		t.Errorf("%d of %d conns paid the SYN retransmission; want %d", paid, conns, lossesToPause)
	}
	if s := m.link.Stats(); s.Dropped != int64(paid) {
		t.Errorf("the link dropped %d SYNs with data; %d conns paid", s.Dropped, paid)
	}
	checkArrivals(t, m.s, m.arrivals, want...)
}
