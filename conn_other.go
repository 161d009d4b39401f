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

func dialFastOpen(syscall.RawConn) error { return errUnsupported }

func listenFastOpen(syscall.RawConn, int) error { return errUnsupported }

func refusedForGood(error) bool { return true }

func deferred(*net.TCPConn) bool { return false }

func sendFirst(syscall.RawConn, []byte) (int, error) { return 0, errUnsupported }

func unreachable(error) bool { return false }

func fastOpened(syscall.RawConn) (bool, error) { return false, errUnsupported }
