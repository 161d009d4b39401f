//go:build darwin || freebsd || windows

package tfo

import (
	"context"
	"errors"
	"net"
)

// On these platforms a fast open connect is a single call that carries the first bytes
// (connectx, sendto, ConnectEx), so the dial only resolves the address and makes the
// socket: dialSocket returns a *net.TCPConn around a socket that has not connected, and
// sendFirst connects it. This file holds what their dialSocket shares.

// dialUnconnected resolves address for a dial with d and makes the socket for the
// address it dials first, with the platform's newSocket: the work of dialSocket on
// these platforms. The socket has not connected.
func dialUnconnected(ctx context.Context, d *net.Dialer, network, address string) (*net.TCPConn, *net.TCPAddr, error) {
	if address == "" {
		return nil, nil, &net.OpError{Op: "dial", Net: network, Err: errMissingAddress}
	}
	ctx, cancel := dialContext(ctx, d)
	defer cancel()
	ra, err := resolveFirst(ctx, d, network, address)
	if err != nil {
		// As with net, an address that does not resolve is the error's only part.
		return nil, nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, dialOpError(d, network, ra, err)
	}
	var la *net.TCPAddr
	if d.LocalAddr != nil {
		var ok bool
		if la, ok = d.LocalAddr.(*net.TCPAddr); !ok {
			return nil, nil, dialOpError(d, network, ra, &net.AddrError{Err: "mismatched local address type", Addr: d.LocalAddr.String()})
		}
	}
	tc, err := newSocket(ctx, d, network, la, ra)
	if err != nil {
		return nil, nil, dialOpError(d, network, ra, err)
	}
	return tc, ra, nil
}

// resolveFirst resolves address for a dial with d, as net.Dialer does, and returns the
// address it would dial first. An empty host, or an unspecified address, means the local
// system, which is dialed on its loopback address.
func resolveFirst(ctx context.Context, d *net.Dialer, network, address string) (*net.TCPAddr, error) {
	addrs, err := resolveAddrs(ctx, d, network, address)
	if err != nil {
		return nil, err
	}
	ra := addrs[0]
	if ra.IP.IsUnspecified() {
		if ra.IP.To4() != nil {
			ra = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: ra.Port}
		} else {
			ra = &net.TCPAddr{IP: net.IPv6loopback, Port: ra.Port}
		}
	}
	return ra, nil
}

// ctrlNetwork returns the network that package net passes to a Dialer's Control for a
// socket of the IPv4 family, if ip4, or else of the IPv6 one: the network named by the
// family.
func ctrlNetwork(network string, ip4 bool) string {
	switch {
	case network == "tcp4" || network == "tcp6":
		return network
	case ip4:
		return "tcp4"
	}
	return "tcp6"
}

// setKeepAlive gives tc, which net.FileConn made, the keep-alive that d asks for, as
// net.Dialer sets it on the conns it dials.
func setKeepAlive(tc *net.TCPConn, d *net.Dialer) error {
	cfg := d.KeepAliveConfig
	if !cfg.Enable && d.KeepAlive >= 0 {
		cfg = net.KeepAliveConfig{Enable: true, Idle: d.KeepAlive}
	}
	if !cfg.Enable {
		return tc.SetKeepAlive(false)
	}
	return tc.SetKeepAliveConfig(cfg)
}

// rawSocket is a syscall.RawConn for a socket not yet wrapped by package net, so that
// the Dialer's Control can run on it before it is bound.
type rawSocket uintptr

func (s rawSocket) Control(f func(fd uintptr)) error { f(uintptr(s)); return nil }
func (rawSocket) Read(func(fd uintptr) bool) error   { return errors.ErrUnsupported }
func (rawSocket) Write(func(fd uintptr) bool) error  { return errors.ErrUnsupported }
