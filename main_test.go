package tfo

import (
	"os"
	"runtime"
	"testing"

	"github.com/fastopen/tfo/internal/netns"
	"go.uber.org/goleak"
)

// onWire is true when the tests run in a private network namespace of their own, with
// lo up and net.ipv4.tcp_fastopen=3, where they can assert what crossed the wire.
var onWire bool

// TestMain runs the tests in a private network namespace with fast open on, when they
// run as root on Linux; see netns.Enter.
func TestMain(m *testing.M) {
	if code, done := netns.Enter("tfo tests"); done {
		os.Exit(code)
	}
	onWire = netns.Inside()
	// The tests' servers are on loopback: their dials fast-open there, as those of a
	// Dialer with Loopback do. TestLoopbackDefault checks the default.
	testHookLoopback = true
	goleak.VerifyTestMain(m)
}

// requireWire skips a test that asserts on the wire unless the tests run in a private
// network namespace with fast open on; with CI=true on Linux it fails instead. Such
// namespaces are Linux's, so elsewhere the test always skips.
func requireWire(t testing.TB) {
	t.Helper()
	if onWire {
		return
	}
	msg := "on-wire assertions need a private network namespace with net.ipv4.tcp_fastopen=3, which the tests make themselves when run as root on Linux: go test ./... in a root shell, or sudo -E env \"PATH=$PATH\" go test ./..."
	if os.Getenv("CI") == "true" && runtime.GOOS == "linux" {
		t.Fatal(msg + "; CI=true does not let them skip")
	}
	t.Skip(msg)
}

// tcpExt holds TcpExt counters, by name.
type tcpExt map[string]int64

// since returns how much each named counter grew from before to e.
func (e tcpExt) since(before tcpExt, names ...string) map[string]int64 {
	d := map[string]int64{}
	for _, n := range names {
		d[n] = e[n] - before[n]
	}
	return d
}

// readTCPExt reads the TcpExt counters of /proc/net/netstat, which are the namespace's.
func readTCPExt(t testing.TB) tcpExt {
	t.Helper()
	requireWire(t)
	ext, err := netns.ReadTCPExt()
	if err != nil {
		t.Fatal(err)
	}
	return ext
}
