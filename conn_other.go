//go:build !linux && !darwin && !freebsd && !windows

package tfo

import (
	"context"
	"errors"
	"fmt"
	"net"
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

// sendFirst writes b on a conn that connected during the dial.
func sendFirst(tc *net.TCPConn, _ *net.TCPAddr, b []byte, _ deadliner) (net.Addr, error) {
	_, err := tc.Write(b)
	return nil, err
}

func unreachable(error) bool { return false }

func synDataLost(*net.TCPConn) bool { return false }

func fastOpened(syscall.RawConn) (bool, error) { return false, errUnsupported }

func setListenKeys(syscall.RawConn, []Key) error {
	return keysUnsupported("this system has no fast open", nil)
}

func isMultipath(syscall.RawConn) bool { return false }
