//go:build !linux

package tfo

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// On this platform every conn connects during the dial, as with package net, and
// listeners are plain.

var errUnsupported = fmt.Errorf("tfo: TCP Fast Open on this platform: %w", errors.ErrUnsupported)

func dialFastOpen(uintptr) error { return errUnsupported }

func listenFastOpen(syscall.RawConn, int) error { return errUnsupported }

func refusedForGood(error) bool { return true }

func deferred(*net.TCPConn) bool { return false }

// sendFirst writes b on a conn that connected during the dial.
func sendFirst(tc *net.TCPConn, b []byte) error {
	_, err := tc.Write(b)
	return err
}

func unreachable(error) bool { return false }

func fastOpened(syscall.RawConn) (bool, error) { return false, errUnsupported }
