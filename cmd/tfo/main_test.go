package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/fastopen/tfo/internal/netns"
)

// childArgsEnv holds the command line, one argument a line, of a child run of the
// test binary, which runs the command instead of the tests.
const childArgsEnv = "TFO_COMMAND_CHILD_ARGS"

// TestMain runs the command when the test binary runs as a child (see childArgsEnv);
// otherwise it runs the tests in a private network namespace with fast open on, when
// they run as root on Linux (see netns.Enter).
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childArgsEnv); ok {
		os.Exit(run(context.Background(), strings.Split(args, "\n"), os.Stdout, os.Stderr))
	}
	if code, done := netns.Enter("tfo command tests"); done {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
