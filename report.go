package tfo

import (
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
)

// An Outcome is what became of fast open on a connection: see [Report]. Its String
// says it in words a person can act on; MarshalText gives its short name, which
// [Counts] uses as the key of its map in JSON.
type Outcome uint8

// The outcomes of a dialed connection, then of an accepted one. Those of a dialed
// connection that says fast open was not attempted tell why.
const (
	// OutcomeUnknown: the platform does not tell what became of fast open.
	OutcomeUnknown Outcome = iota
	// OutcomePending: the conn has not connected yet.
	OutcomePending
	// OutcomeNotConnected: the conn was closed, or its connect failed, before it
	// connected.
	OutcomeNotConnected

	// OutcomeFastOpened: the server acknowledged the data carried in the SYN.
	OutcomeFastOpened
	// OutcomeCookieReceived: the conn asked the server for a cookie, as the first conn
	// to a server does, and got one: the next conn to it can fast-open.
	OutcomeCookieReceived
	// OutcomeNoCookie: the conn asked the server for a cookie and got none: the server
	// offers no fast open, or something on the path strips the option.
	OutcomeNoCookie
	// OutcomeDataRefused: the SYN carried data with a cookie, and the server did not
	// accept it: a stale cookie after a key change, its setting off, or its queue
	// full. The data followed the handshake.
	OutcomeDataRefused
	// OutcomeSYNLost: the SYN that carried data got no answer, and was sent again
	// without it: loss, or a middlebox that drops such SYNs.
	OutcomeSYNLost

	// OutcomeDisabled: not attempted, by Dialer.DisableTFO.
	OutcomeDisabled
	// OutcomeSystemRefused: not attempted: the system refused it (the client bit of
	// the fast open setting is off, the kernel is too old, or the platform has none).
	OutcomeSystemRefused
	// OutcomePaused: not attempted: fast open to this server is paused, after SYNs with
	// data to it were lost in a row.
	OutcomePaused
	// OutcomeServerSpeaksFirst: not attempted: the server is known to speak first, so
	// a Read connected the conn at once, without data.
	OutcomeServerSpeaksFirst
	// OutcomeReadWaitPassed: not attempted: a Read waited ReadWait for a Write that
	// did not come, then connected without data.
	OutcomeReadWaitPassed
	// OutcomeNoData: not attempted: the conn connected without data, for CloseWrite or
	// CloseRead before any Write.
	OutcomeNoData
	// OutcomeRaced: not attempted on the address that won: it raced an address that
	// did not answer in time, as the other family does after FallbackDelay, and a
	// racing connect carries no data in its SYN (see Dialer).
	OutcomeRaced
	// OutcomeMultipath: not attempted: the Dialer uses MPTCP, on which the system
	// refused fast open (Linux before 6.1).
	OutcomeMultipath
	// OutcomeLoopback: not attempted: the server is at a loopback address, where the
	// Dialer connects as net.Dialer does unless Dialer.Loopback is set.
	OutcomeLoopback
	// OutcomeNotReplayable: not attempted: the first bytes written must not reach the
	// server twice, as Dialer.Replayable decided, so the conn connected without data
	// and wrote them after the handshake.
	OutcomeNotReplayable

	// OutcomeAcceptedFastOpen: an accepted conn whose SYN carried data accepted
	// through fast open.
	OutcomeAcceptedFastOpen
	// OutcomeAcceptedPlain: an accepted conn that was not fast-opened.
	OutcomeAcceptedPlain

	numOutcomes
)

// More outcomes that a platform tells of a dialed conn, which the package decides
// between: the SYN carried no data, for a reason the package knows; the SYN asked for a
// cookie, which the system may hold now.
const (
	outcomeNotTried = numOutcomes + iota
	outcomeCookieAsked
)

var outcomeNames = [numOutcomes]struct{ name, text string }{
	OutcomeUnknown:           {"unknown", "fast open unknown: the platform does not tell"},
	OutcomePending:           {"pending", "not connected yet: the connect waits for the first Write or Read"},
	OutcomeNotConnected:      {"not-connected", "closed, or failed, before it connected"},
	OutcomeFastOpened:        {"fast-opened", "fast-opened: the server acknowledged the data in the SYN"},
	OutcomeCookieReceived:    {"cookie-received", "not fast-opened: this conn asked the server for a cookie and got one; the next conn to it can fast-open"},
	OutcomeNoCookie:          {"no-cookie", "not fast-opened: this conn asked the server for a cookie and got none; the server offers no fast open, or something on the path strips the option"},
	OutcomeDataRefused:       {"data-refused", "not fast-opened: the server did not accept the data in the SYN (a stale cookie after a key change, its fast open setting off, or its queue full); the data followed the handshake"},
	OutcomeSYNLost:           {"syn-lost", "not fast-opened: the SYN with data got no answer and was sent again without it (packet loss, or a middlebox that drops such SYNs)"},
	OutcomeDisabled:          {"disabled", "not attempted: Dialer.DisableTFO is set"},
	OutcomeSystemRefused:     {"system-refused", "not attempted: the system refused fast open (the client bit of net.ipv4.tcp_fastopen is off, the kernel is too old, or the platform has none)"},
	OutcomePaused:            {"paused", "not attempted: fast open to this server is paused, after SYNs with data to it were lost in a row"},
	OutcomeServerSpeaksFirst: {"server-speaks-first", "not attempted: the server is known to speak first, so the first Read connected at once, without data"},
	OutcomeReadWaitPassed:    {"read-wait-passed", "not attempted: a Read waited Dialer.ReadWait for a Write that did not come, then connected without data"},
	OutcomeNoData:            {"no-data", "not attempted: the conn connected without data, for CloseWrite or CloseRead before any Write"},
	OutcomeRaced:             {"raced", "not attempted: the address that won raced one that did not answer in time, such as the first address of the other family, and a racing connect carries no data"},
	OutcomeMultipath:         {"multipath", "not attempted: the Dialer uses MPTCP, on which the system refused fast open (Linux before 6.1)"},
	OutcomeLoopback:          {"loopback", "not attempted: the server is at a loopback address, where fast open saves microseconds and a response that overtakes its SYN-ACK waits 200 ms; Dialer.Loopback asks for it"},
	OutcomeNotReplayable:     {"not-replayable", "not attempted: the first bytes written must not reach the server twice (Dialer.Replayable), so the conn connected without data and wrote them after the handshake"},
	OutcomeAcceptedFastOpen:  {"accepted-fast-open", "accepted, fast-opened: the SYN carried data accepted through fast open"},
	OutcomeAcceptedPlain:     {"accepted-plain", "accepted, not fast-opened"},
}

// String says what the outcome means, and what to look at.
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o].text
	}
	return fmt.Sprintf("tfo.Outcome(%d)", uint8(o))
}

// MarshalText returns the outcome's short name, such as "fast-opened".
func (o Outcome) MarshalText() ([]byte, error) {
	if o < numOutcomes {
		return []byte(outcomeNames[o].name), nil
	}
	return nil, fmt.Errorf("tfo: unknown Outcome %d", uint8(o))
}

// UnmarshalText sets the outcome from its short name.
func (o *Outcome) UnmarshalText(b []byte) error {
	for i, n := range outcomeNames {
		if n.name == string(b) {
			*o = Outcome(i)
			return nil
		}
	}
	return fmt.Errorf("tfo: unknown Outcome %q", b)
}

// Report says what became of fast open on c, which may be a [*Conn], a
// [*net.TCPConn], or a connection that wraps one of them and has a NetConn method,
// such as a [*crypto/tls.Conn]. For a [*Conn] the answer is kept once it connects,
// and still given after Close. An accepted connection was fast-opened or not. Where
// the platform does not tell, the outcome is OutcomeUnknown.
func Report(c net.Conn) (Outcome, error) {
	switch t := unwrap(c).(type) {
	case *Conn:
		if !t.ok() {
			return OutcomeUnknown, syscall.EINVAL
		}
		o := t.outcome()
		if o == OutcomePending && t.establishedSocket() != nil {
			// Connected, and the call that connected it has not told yet.
			t.decideConnected()
			o = t.outcome()
		}
		return o, nil
	case *net.TCPConn:
		return fastOpenOutcome(t, nil)
	default:
		return OutcomeUnknown, fmt.Errorf("tfo: Report: %T is not a TCP connection", t)
	}
}

// counts counts the outcomes of the conns dialed so far, each once.
var counts [numOutcomes]atomic.Uint64

// Counts returns how many dialed conns had each outcome, since the process started:
// a conn counts once its outcome is known, when it connects, fails or is closed
// before connecting. It is cheap enough to call on every scrape of a metrics
// endpoint; with expvar:
//
//	expvar.Publish("tfo", expvar.Func(func() any { return tfo.Counts() }))
//
// publishes them as {"fast-opened": 1200, "cookie-received": 3, ...}.
func Counts() map[Outcome]uint64 {
	m := make(map[Outcome]uint64, numOutcomes)
	for i := range counts {
		if n := counts[i].Load(); n > 0 {
			m[Outcome(i)] = n
		}
	}
	return m
}

// outcome returns c's outcome.
func (c *Conn) outcome() Outcome {
	if o := c.result.Load(); o != 0 {
		return Outcome(o - 1)
	}
	return OutcomePending
}

// decide records o as c's outcome, unless it has one, and counts it.
func (c *Conn) decide(o Outcome) {
	if c.result.CompareAndSwap(0, uint32(o)+1) {
		counts[o].Add(1)
	}
}

// How a pending conn came to connect, for its outcome.
const (
	viaDial          uint8 = iota // it connected during the dial
	viaWrite                      // a Write connected it, with data
	viaKnownSpeaker               // a Read, to a server known to speak first
	viaReadWait                   // a Read, after ReadWait
	viaClose                      // CloseWrite or CloseRead
	viaNotReplayable              // a Write whose bytes must not travel in the SYN
)

// decideConnected records the outcome of a pending conn that has connected: what the
// platform tells of its socket, and where the SYN carried no data, why.
func (c *Conn) decideConnected() {
	p := c.p
	p.mu.Lock()
	tc, raddr, by, raced, told := c.tc, p.raddr, p.by, p.raced, p.told
	dialed, multipath, loopback := p.plan.dialed, p.plan.d.MultipathTCP(), p.plan.loopback
	p.mu.Unlock()
	if raced {
		c.decide(OutcomeRaced)
		return
	}
	o := told
	if o == OutcomePending {
		o, _ = fastOpenOutcome(tc, raddr)
	}
	switch o {
	case outcomeCookieAsked:
		o = OutcomeNoCookie
		if ap, ok := addrPort(raddr); ok && cookies.received(ap.Addr(), cookieCached) {
			o = OutcomeCookieReceived
		}
	case outcomeNotTried:
		switch by {
		case viaKnownSpeaker:
			o = OutcomeServerSpeaksFirst
		case viaReadWait:
			o = OutcomeReadWaitPassed
		case viaClose:
			o = OutcomeNoData
		case viaNotReplayable:
			o = OutcomeNotReplayable
		default:
			o = OutcomeSystemRefused
			ap, ok := addrPort(raddr)
			if ok && !loopback && ap.Addr().IsLoopback() {
				o = OutcomeLoopback
			} else if ok && synDataLoss.paused(ap.Addr(), dialed) {
				o = OutcomePaused
			} else if multipath {
				o = OutcomeMultipath
			}
		}
	}
	c.decide(o)
}
