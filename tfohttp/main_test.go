package tfohttp_test

import (
	"os"
	"testing"

	"github.com/fastopen/tfo/internal/netns"
	"go.uber.org/goleak"
)

// TestMain runs the tests in a private network namespace with fast open on, when they
// run as root on Linux; see netns.Enter.
func TestMain(m *testing.M) {
	if code, done := netns.Enter("tfohttp tests"); done {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
