// Package netns gives a program a private network namespace with TCP Fast Open on for
// clients and servers, so that it can use fast open on loopback, and read the kernel's
// counters of it, without touching the host's network or settings.
package netns

// inside is true in a namespace that Enter made.
var inside bool

// Inside reports whether the process runs in a private network namespace that Enter
// made.
func Inside() bool { return inside }
