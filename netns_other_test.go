//go:build !linux

package tfo

import "testing"

func setSysctl(t testing.TB, name, value string) { requireWire(t) }

func blackhole(t testing.TB) string {
	requireWire(t)
	return ""
}
