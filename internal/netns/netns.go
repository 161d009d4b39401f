// Package netns gives a program a private network namespace with TCP Fast Open on for
// clients and servers, so that it can use fast open on loopback, and read the kernel's
// counters of it, without touching the host's network or settings.
package netns

import (
	"os"
	"runtime"
)

// inside is true in a namespace that Enter made.
var inside bool

// Inside reports whether the process runs in a private network namespace that Enter
// made.
func Inside() bool { return inside }

// TB is the part of testing.TB that Require uses, so that netns, which ./bench
// imports, does not import testing.
type TB interface {
	Helper()
	Fatal(args ...any)
	Skip(args ...any)
}

// Require skips t unless the process runs in a namespace that Enter made, saying why
// the test needs it. On Linux with CI=true in the environment it fails t instead: CI
// must not pass a test that did not run.
func Require(t TB, why string) {
	t.Helper()
	if Inside() {
		return
	}
	if os.Getenv("CI") == "true" && runtime.GOOS == "linux" {
		t.Fatal(why + "; CI=true does not let it skip")
	}
	t.Skip(why)
}
