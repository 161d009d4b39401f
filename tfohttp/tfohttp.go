// Package tfohttp tells the handlers of a [net/http.Server] which requests arrived in
// the SYN of a fast open connection. Such a request may arrive more than once: a copy
// of the SYN, made by the network or by anyone who captured it, opens another
// connection that carries the same bytes (see Replayed data in package tfo). It is the
// early data of RFC 8470, for TCP Fast Open: a server answers 425 Too Early to an early
// request that must not run twice, and a proxy marks it Early-Data: 1 upstream.
//
// A server sets both hooks:
//
//	srv := &http.Server{
//		Handler:     tfohttp.Handler(mux),
//		ConnContext: tfohttp.ConnContext,
//	}
//
// and its handlers ask [Early]. Over TLS the SYN carries the ClientHello, so no request
// is early.
package tfohttp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/fastopen/tfo"
)

// conn is what ConnContext learns of a connection, and Handler counts.
type conn struct {
	c        net.Conn
	synData  bool         // its SYN carried data that the server accepted
	requests atomic.Int64 // its requests that Handler has seen
}

type connKey struct{}

// ConnContext is a ConnContext for a [net/http.Server]: it learns whether the
// connection's SYN carried data, before the server reads from it, and returns ctx
// with that for [Early].
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	cn := &conn{c: c}
	if _, isTLS := c.(*tls.Conn); !isTLS {
		// FastOpened, not SYNData: a count that more data has made unknown still
		// says that the SYN carried some.
		cn.synData, _ = tfo.FastOpened(c)
	}
	return context.WithValue(ctx, connKey{}, cn)
}

// Handler returns a handler that counts the requests of each connection, so that
// [Early] can tell the first from later ones, then passes them to h. A server's HTTP/1
// connection reads each request once the one before it has been handled.
func Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cn, ok := r.Context().Value(connKey{}).(*conn); ok {
			cn.requests.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

// Early reports whether r may have arrived, at least in part, in the SYN of its
// connection, and so may arrive again in a copy of that SYN. It needs the server's
// ConnContext; without it, no request is early.
//
// The first request of a connection whose SYN carried data is early. A later one is
// early only while the server has received nothing but the SYN's data, as on a
// connection that a copy of the SYN opened; it was written after the handshake
// otherwise. Without Handler, Early cannot tell the first request from later ones, and
// every request of such a connection is early. So is every request of such a
// connection where the system does not tell what the server has received since the SYN
// (darwin, FreeBSD: see [tfo.SYNData]).
func Early(r *http.Request) bool {
	cn, ok := r.Context().Value(connKey{}).(*conn)
	if !ok || !cn.synData {
		return false
	}
	if cn.requests.Load() <= 1 {
		return true
	}
	_, err := tfo.SYNData(cn.c)
	return !errors.Is(err, tfo.ErrSYNDataUnknown)
}
