package tfo

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if code, done := runInPrivateNetns(); done {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

// requireWire skips a test that asserts on the wire unless the tests run in a private
// network namespace with fast open on; with CI=true it fails instead.
func requireWire(t testing.TB) {
	t.Helper()
	if onWire {
		return
	}
	msg := "on-wire assertions need a private network namespace with net.ipv4.tcp_fastopen=3, which the tests make themselves when run as root on Linux (sudo go test ./...)"
	if os.Getenv("CI") == "true" {
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
