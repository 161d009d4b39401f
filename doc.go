// Package tfo is a drop-in for the TCP parts of package net that uses TCP Fast Open
// (RFC 7413): on a repeat connection to a server, the first bytes written travel in the
// SYN, and the first response arrives one round trip sooner.
//
// [Dial] replaces [net.Dial], [Listen] replaces [net.Listen], and [Dialer.DialContext]
// fits wherever a DialContext function is expected, such as that of a
// [net/http.Transport]. Where fast open cannot happen (the kernel setting is off, the
// kernel is too old, the server does not offer it, the operating system has no
// support), everything behaves as it does with package net.
//
// # The deferred connect
//
// Once a client holds a fast open cookie for a server, a dial resolves the address and
// makes the socket but sends nothing: the SYN leaves with the first Write, carrying its
// bytes. Errors that net reports at Dial, such as a refused port, then show at that
// first Write (or the first Read) as a [*net.OpError] with Op "dial", the error
// net.Dial would have returned. The connect keeps what net.Dialer promises a dial,
// only later: the dial's timeout and deadline bound it, a host's other addresses are
// tried with the same bytes when the first refuses or does not answer, and the other
// address family races a slow first address (see [Dialer]). A race is won by a
// completed handshake: a connect that was deferred has sent nothing, and never beats
// an address whose handshake may still complete.
//
// The first Write returns once the handshake has completed and its bytes are written,
// or once its deadline passes: the connect then goes on, and carries the bytes that
// went into the SYN (up to 4 KiB of the first Write), which that Write reports as
// written, as a net conn reports bytes that its socket has taken but not yet sent. A
// deadline that passes while a call waits for the connect fails that call, never the
// conn: a later call finds the conn connected once the server answers.
//
// A Read before any Write waits up to [Dialer.ReadWait] for a Write, since clients such
// as net/http start reading before they write; then it connects without data, so that
// protocols in which the server speaks first still work. A server seen to speak first is
// remembered, and Reads on later conns to it connect at once.
//
// # Platforms
//
// On Linux a dial sets TCP_FASTOPEN_CONNECT, and the connect is deferred only when a
// cookie is cached for the server. A dial to a loopback address connects as net's
// does, unless [Dialer.Loopback] asks for fast open there. On macOS and iOS the first Write connects with
// connectx(2), on FreeBSD with sendto(2), and on Windows with ConnectEx carrying its
// bytes; nothing there tells whether a cookie is cached, so every dial defers its
// connect to the first Write. On other systems every dial connects at once, as with
// package net, and listeners are plain.
//
// # Replayed data
//
// A SYN that carries data can reach the server twice. The network may duplicate it,
// and anyone who captured it can send it again while the server's cookie for the
// client's address is valid: the cookie proves the address, not the SYN (RFC 7413,
// section 6). The server takes each copy for a new connection and hands its data to
// the application. A SYN the kernel retransmits carries no data.
//
// So a Dialer puts in the SYN only first bytes that may run twice. By default
// ([DefaultReplayable]) it keeps out an HTTP/1.x request that net/http never sends
// twice: a POST, PUT, PATCH or DELETE, say, without an Idempotency-Key header, or what
// may be the start of one. Those bytes follow the handshake, as with net, and [Report]
// says [OutcomeNotReplayable]. GETs, TLS ClientHellos and other protocols' first
// messages go in the SYN. [Dialer.Replayable] changes the rule: [AlwaysReplayable]
// lets every first Write in, and a function of your own can keep out a protocol's
// first message that must not run twice.
//
// The package sends a SYN's bytes a second time in two cases, both when an address was
// slower than its time allowed: the first address did not complete its handshake
// within its share of the dial's timeout and the next is tried, or the other address
// family won the race against it. Its server may have received them anyway. This
// concerns only bytes that the rule let into the SYN: bytes it kept out are written
// once, on the socket that completed its handshake. A first Write that fails after
// the SYN has left may likewise have delivered its bytes.
//
// A server learns with [SYNData] how many of a conn's first bytes came in its SYN.
// Package github.com/fastopen/tfo/tfohttp tells an http.Server's handlers which
// requests did, so that they can answer 425 Too Early (RFC 8470). Over TLS the SYN
// carries the ClientHello, and no request is early.
package tfo
