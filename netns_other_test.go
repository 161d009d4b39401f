//go:build !linux

package tfo

// onWire is false: on-wire assertions need Linux.
var onWire bool

func runInPrivateNetns() (int, bool) { return 0, false }
