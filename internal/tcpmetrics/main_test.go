package tcpmetrics_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/fastopen/tfo/internal/netns"
)

// TestMain runs the tests in a private network namespace with fast open on, when they
// run as root on Linux, so that the cache they read and change is theirs alone; see
// netns.Enter.
func TestMain(m *testing.M) {
	if code, done := netns.Enter("tcpmetrics tests"); done {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
