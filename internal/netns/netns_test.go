package netns

import (
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if code, done := Enter("netns tests"); done {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

// TestInside checks the namespace Enter made: lo up, fast open on, counters readable.
func TestInside(t *testing.T) {
	if !Inside() {
		if os.Getenv("CI") == "true" && runtime.GOOS == "linux" {
			t.Fatal("CI=true: the tests must run as root on Linux")
		}
		t.Skip("needs root on Linux")
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_fastopen")
	if err != nil || strings.TrimSpace(string(b)) != "3" {
		t.Errorf("net.ipv4.tcp_fastopen = %q, %v; want 3", b, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("lo is not up: %v", err)
	}
	c.Close()
	ext, err := ReadTCPExt()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ext["TCPFastOpenActive"]; !ok {
		t.Errorf("no TCPFastOpenActive among %d TcpExt counters", len(ext))
	}
}
