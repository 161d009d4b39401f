//go:build !linux && !darwin && !freebsd && !windows

package tfo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// On this platform every conn connects during the dial, as with package net, and
// listeners are plain.

var errUnsupported = fmt.Errorf("tfo: TCP Fast Open on this platform: %w", errors.ErrUnsupported)

// dialSocket dials address with d, as net does.
func dialSocket(ctx context.Context, d *net.Dialer, network, address string) (*net.TCPConn, *net.TCPAddr, error) {
	return dialNet(ctx, d, network, address)
}

func dialFastOpen(uintptr) error { return errUnsupported }

const fastOpenAfterListen = false

func listenFastOpen(syscall.RawConn, int) error { return errUnsupported }

func refusedForGood(error) bool { return true }

func deferred(*net.TCPConn) bool { return false }

// tryFirst finds the conn connected: it connected during the dial. It tells no
// outcome: fastOpenOutcome does.
func tryFirst(*net.TCPConn, []byte) (n int, done bool, o Outcome, err error) {
	return 0, true, OutcomePending, nil
}

// sendFirst finds the conn connected, as tryFirst does.
func sendFirst(context.Context, *net.TCPConn, *net.TCPAddr, []byte) (int, net.Addr, error) {
	return 0, nil, nil
}

func unreachable(error) bool { return false }

func synDataLost(*net.TCPConn) bool { return false }

func fastOpened(syscall.RawConn) (bool, error) { return false, errUnsupported }

// fastOpenOutcome tells of a dialed conn that fast open was not attempted: the
// platform has none.
func fastOpenOutcome(_ *net.TCPConn, raddr *net.TCPAddr) (Outcome, error) {
	if raddr == nil {
		return OutcomeUnknown, nil
	}
	return outcomeNotTried, nil
}

func cookieCached(netip.Addr) bool { return false }

func synData(syscall.RawConn) (int, error) { return 0, errUnsupported }

func setListenKeys(syscall.RawConn, []Key) error {
	return keysUnsupported("this system has no fast open", nil)
}

func isMultipath(syscall.RawConn) bool { return false }
