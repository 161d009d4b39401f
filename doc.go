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
// first Write (or the first Read) as a [*net.OpError] with Op "dial". The connect keeps
// what net.Dialer promises a dial, only later: the dial's timeout and deadline bound
// it, a host's other addresses are tried with the same bytes when the first refuses or
// does not answer, and the other address family races a slow first address (see
// [Dialer]).
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
// cookie is cached for the server. On macOS and iOS the first Write connects with
// connectx(2), on FreeBSD with sendto(2), and on Windows with ConnectEx carrying its
// bytes; nothing there tells whether a cookie is cached, so every dial defers its
// connect to the first Write. On other systems every dial connects at once, as with
// package net, and listeners are plain.
//
// # Replayed data
//
// Data carried in a SYN can be delivered to the server application twice: a SYN can be
// retransmitted, or duplicated in the network, and a server accepts each copy that holds
// a valid cookie. Write only idempotent first bytes, such as an HTTP GET or a TLS
// ClientHello. The package itself sends the first bytes a second time in two cases
// only, both when an address took longer to answer than its time allowed: when the
// first address does not complete its handshake within its share of the dial's timeout
// and the next address is tried, and when the other address family wins the race
// against a first address that was slow rather than silent. In both the first
// address's server may have received the SYN and its bytes. A first Write that fails
// after the SYN has left may likewise have delivered its bytes anyway.
package tfo
