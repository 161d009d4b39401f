package tfo

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// DefaultBacklog is the fast open queue of a listener whose [ListenConfig.Backlog] is
// zero: how many connections that carried data in their SYN may wait for their handshake
// to complete at once. Past it, further SYNs get a plain handshake.
//
// A connection waits in the queue from its SYN until the client's ACK completes the
// handshake, about one round trip, so a listener needs a queue of about the number of
// fast open connections that arrive in a round trip at its busiest: 256 holds 2,560 new
// connections a second from clients 100 ms away. A connection past the queue loses
// only the round trip that fast open saves: the server ignores the data of its SYN,
// and the client sends it after the handshake, once (TcpExt TCPFastOpenListenOverflow
// counts these). The queue is also what bounds the memory that a flood of SYNs with
// valid cookies and data can hold (RFC 7413, section 5.1), so it should not be much
// longer than needed.
const DefaultBacklog = 256

// ListenConfig is like [net.ListenConfig] but makes listeners that accept fast open
// connections. Every field of the embedded net.ListenConfig keeps its meaning; Control
// runs before the option that enables fast open is set. The zero value is ready to use.
//
// If the system refuses fast open on the listener, the listener works without it, with
// one exception. Since Go 1.24 a listener is an MPTCP one by default where the system
// has MPTCP (see [net.ListenConfig.SetMultipathTCP]), and Linux before 6.2 refuses fast
// open on an MPTCP socket: the listener is then made as a plain TCP one, which takes
// fast open, and Control runs a second time, on the new socket. Set DisableTFO to keep
// Go's choice there.
//
// Networks other than "tcp", "tcp4" and "tcp6" are passed to net.ListenConfig unchanged.
type ListenConfig struct {
	net.ListenConfig

	// Backlog is the length of the fast open queue; see DefaultBacklog for how to
	// choose it. Zero or a negative value means DefaultBacklog. Only Linux takes it:
	// darwin and FreeBSD size the queue themselves, and Windows takes fast open on or
	// off.
	Backlog int

	// Keys, if not empty, are the listener's fast open keys, as SetKeys sets them: the
	// first makes cookies, and a cookie made with either is accepted. More than two
	// make Listen fail. Empty, the listener uses the system's key, as every listener
	// does by default. Where the system refuses them (see SetKeys), the listener uses
	// the system's key; SetKeys tells why.
	Keys []Key

	// DisableTFO, if true, makes the listener exactly like one made by net.ListenConfig,
	// and Backlog and Keys are not used.
	DisableTFO bool
}

// Listen is like [net.Listen] but the listener accepts fast open connections. For TCP
// networks it is a [*net.TCPListener], whose Accept returns plain [*net.TCPConn]s.
func Listen(network, address string) (net.Listener, error) {
	var lc ListenConfig
	return lc.Listen(context.Background(), network, address)
}

// ListenTCP is like [net.ListenTCP] but the listener accepts fast open connections.
func ListenTCP(network string, laddr *net.TCPAddr) (*net.TCPListener, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Source: nil, Addr: opAddr(laddr), Err: net.UnknownNetworkError(network)}
	}
	if laddr == nil {
		laddr = &net.TCPAddr{}
	}
	if !addrsFit(network, laddr) {
		// As in DialTCP: net's error.
		return net.ListenTCP(network, laddr)
	}
	var lc ListenConfig
	ln, err := lc.Listen(context.Background(), network, laddr.String())
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

// Listen is like [net.ListenConfig.Listen] but the listener accepts fast open
// connections.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	nlc := lc.ListenConfig
	fastOpen := false
	switch network {
	case "tcp", "tcp4", "tcp6":
		fastOpen = !lc.DisableTFO
	}
	if fastOpen && len(lc.Keys) > maxKeys {
		return nil, &net.OpError{Op: "listen", Net: network, Source: nil, Addr: nil, Err: keyCountError(len(lc.Keys))}
	}
	if fastOpen && !fastOpenAfterListen {
		nlc.Control = lc.control()
	}
	ln, err := nlc.Listen(ctx, network, address)
	if err != nil || !fastOpen || !fastOpenAfterListen {
		return ln, err
	}
	// This platform takes the option only on a socket that listens already.
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil || setListenFastOpen(rc, lc.backlog()) != nil {
		listenRefusals.Add(1)
	} else if len(lc.Keys) > 0 {
		setKeys(rc, lc.Keys)
	}
	return ln, nil
}

func (lc *ListenConfig) backlog() int {
	if lc.Backlog <= 0 {
		return DefaultBacklog
	}
	return lc.Backlog
}

// control returns the Control of a fast open listener: the caller's Control, then the
// option that enables fast open, whose refusal leaves a plain listener, then the keys.
//
// An MPTCP socket that refuses fast open fails instead, and net then makes the listener
// again as plain TCP, calling control again: it falls back to TCP on any error of an
// MPTCP listen (listenMPTCP in net/mptcpsock_linux.go).
func (lc *ListenConfig) control() func(network, address string, c syscall.RawConn) error {
	user := lc.Control
	backlog := lc.backlog()
	keys := lc.Keys
	return func(network, address string, c syscall.RawConn) error {
		if user != nil {
			if err := user(network, address, c); err != nil {
				return err
			}
		}
		if err := setListenFastOpen(c, backlog); err != nil {
			if isMultipath(c) {
				return errMultipathRefused
			}
			listenRefusals.Add(1)
			return nil
		}
		if len(keys) > 0 {
			setKeys(c, keys) // the system's key, if refused
		}
		return nil
	}
}

// errMultipathRefused fails the making of an MPTCP listener on which the system refuses
// fast open.
var errMultipathRefused = errors.New("tfo: MPTCP refuses fast open on this system")

// setListenFastOpen is the platform's listenFastOpen, replaceable by tests.
var setListenFastOpen = listenFastOpen

// listenRefusals counts listeners on which the system refused fast open.
var listenRefusals atomic.Int64
