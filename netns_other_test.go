//go:build !linux

package tfo

import "testing"

// onWire is false: on-wire assertions need Linux.
var onWire bool

func runInPrivateNetns() (int, bool) { return 0, false }

func readTCPExt(t testing.TB) tcpExt {
	requireWire(t)
	return nil
}

func setSysctl(t testing.TB, name, value string) { requireWire(t) }

func blackhole(t testing.TB) string {
	requireWire(t)
	return ""
}
