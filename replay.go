package tfo

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// This file holds what the package does about replayed SYNs (see Replayed data in the
// package documentation): the rule that decides which first bytes a dialed conn may
// carry in its SYN, and SYNData, which tells a server how many bytes came in one.

// ErrSYNDataUnknown is the error of SYNData for a connection whose SYN carried data
// when more data has arrived since, and the system does not tell how much of it the SYN
// held.
var ErrSYNDataUnknown = errors.New("tfo: SYNData: more data has arrived since the SYN, which held an untold part of it")

// SYNData reports how many of the first bytes of c, an accepted connection, arrived in
// the SYN that opened it: bytes that a copy of the SYN may have delivered to the server
// in another connection too. It is 0 when the SYN carried no data, or data that the
// server did not accept, as without a valid cookie: the client then sent it again after
// the handshake. c may be a [*net.TCPConn], or a connection that wraps one and has a
// NetConn method, such as a [*crypto/tls.Conn], whose SYN carries its ClientHello, not
// application data. A [*Conn] is dialed, and receives nothing in a SYN: SYNData reports
// 0 for it.
//
// The count is exact, or SYNData fails. On Linux it is known until a segment with more
// data arrives, so a server asks for it right after Accept, before the client's next
// segment can come (a round trip after its SYN), as in [net/http.Server.ConnContext];
// afterwards, for a conn whose SYN carried data, the error is ErrSYNDataUnknown. It
// works on MPTCP listeners, Go's default. On darwin and FreeBSD it tells only whether
// the SYN carried data: the count of a conn whose SYN did fails with an error matching
// [errors.ErrUnsupported]. Elsewhere every call fails so.
func SYNData(c net.Conn) (int, error) {
	c = unwrap(c)
	if t, ok := c.(*Conn); ok {
		if !t.ok() {
			return 0, syscall.EINVAL
		}
		return 0, nil
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("tfo: SYNData: %T is not a TCP connection", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	return synData(rc)
}

// DefaultReplayable reports whether b, the first bytes written on a conn, may travel
// in its SYN, where they can reach the server twice. It is the rule of a [Dialer] whose
// Replayable is nil.
//
// It reports false for an HTTP/1.x request that net/http would not send twice (see
// [net/http.Transport]): a method other than GET, HEAD, OPTIONS and TRACE, unless the
// headers in b carry Idempotency-Key or X-Idempotency-Key. Methods are case-sensitive,
// so "get" is not GET. It also reports false when b is too short to tell, such as "PO"
// or "POST /x" without its version: b may be the start of such a request. A request
// line has a target that is a path, "*" or an absolute URI, so "PING 1" is not one; a
// first Write of a lone word, such as "PING", is taken for the start of a request only
// if it begins a registered method that net/http does not replay, such as "P" for POST
// or PUT. It reports
// true for everything else: GET and HEAD requests, CONNECT (a replayed CONNECT opens
// a tunnel that carries nothing: the payload follows the proxy's answer), TLS records,
// the HTTP/2 preface, and the first messages of other protocols.
func DefaultReplayable(b []byte) bool {
	i := 0
	for i < len(b) && isTokenChar(b[i]) {
		i++
	}
	switch {
	case i == len(b):
		// Empty, or a token whose end is not in b yet: the start of a request if it
		// can begin a method that is not replayable.
		return len(b) == 0 || !startsUnsafeMethod(b)
	case i == 0 || b[i] != ' ':
		return true // not a request line
	}
	switch string(b[:i]) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "CONNECT":
		return true
	}
	rest := b[i+1:]
	j := 0
	for j < len(rest) && rest[j] > ' ' && rest[j] != 0x7f {
		j++
	}
	complete := j < len(rest)
	switch {
	case !maybeTarget(rest[:j], complete):
		return true // not HTTP
	case !complete:
		return false // the target's end is not in b yet
	case rest[j] != ' ':
		return true // no version: not HTTP/1.x
	}
	version := rest[j+1:]
	const http1 = "HTTP/1."
	if len(version) < len(http1) {
		return !strings.HasPrefix(http1, string(version))
	}
	if !bytes.HasPrefix(version, []byte(http1)) {
		return true // another protocol's request line, such as the HTTP/2 preface
	}
	return hasIdempotencyKey(version)
}

// AlwaysReplayable reports true: as the Replayable of a [Dialer], it lets every first
// Write travel in the SYN.
func AlwaysReplayable([]byte) bool { return true }

// hasIdempotencyKey reports whether the header lines that follow the request line in
// b, complete up to their line feed, have an Idempotency-Key or X-Idempotency-Key
// field, whose presence makes net/http replay a request of any method.
func hasIdempotencyKey(b []byte) bool {
	for {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			return false
		}
		b = b[nl+1:]
		line := b
		if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
			line = line[:nl]
		} else {
			return false // the line is not complete
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return false // the end of the header
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if ok && (bytes.EqualFold(name, []byte("Idempotency-Key")) || bytes.EqualFold(name, []byte("X-Idempotency-Key"))) {
			return true
		}
	}
}

// unsafeMethods are the methods of the HTTP method registry (RFC 9110, section 16.1)
// that net/http does not replay, less CONNECT.
var unsafeMethods = [...]string{
	"ACL", "BASELINE-CONTROL", "BIND", "CHECKIN", "CHECKOUT", "COPY", "DELETE", "LABEL",
	"LINK", "LOCK", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL", "MKREDIRECTREF",
	"MKWORKSPACE", "MOVE", "ORDERPATCH", "PATCH", "POST", "PROPFIND", "PROPPATCH", "PUT",
	"QUERY", "REBIND", "REPORT", "SEARCH", "UNBIND", "UNCHECKOUT", "UNLINK", "UNLOCK",
	"UPDATE", "UPDATEREDIRECTREF", "VERSION-CONTROL",
}

// startsUnsafeMethod reports whether tok, a token, is the start of one of
// unsafeMethods, or all of one. A token that begins no registered method is not taken
// for the start of a request: an HTTP client writes a method of its own with the rest
// of its request line.
func startsUnsafeMethod(tok []byte) bool {
	for _, m := range unsafeMethods {
		if strings.HasPrefix(m, string(tok)) {
			return true
		}
	}
	return false
}

// maybeTarget reports whether t can be the request target of an HTTP request that
// net/http's server takes (RFC 9112, section 3.2): a path, "*", or an absolute URI,
// whose scheme is a letter, then letters, digits, "+", "-" and ".", then ":". If t is
// not complete, it reports whether t can be the start of one.
func maybeTarget(t []byte, complete bool) bool {
	switch {
	case len(t) == 0:
		return !complete
	case t[0] == '/' || t[0] == '*':
		return true
	}
	for i, c := range t {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return !complete
}

// isTokenChar reports whether c may appear in an HTTP token, such as a method (RFC
// 9110, section 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c != 0 && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
