package netns

import (
	"fmt"
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

// fakeTB records the first of Fatal and Skip that Require called: the real ones end
// the test there.
type fakeTB struct{ called string }

func (f *fakeTB) Helper()        {}
func (f *fakeTB) Fatal(a ...any) { f.record("Fatal: " + fmt.Sprint(a...)) }
func (f *fakeTB) Skip(a ...any)  { f.record("Skip: " + fmt.Sprint(a...)) }

func (f *fakeTB) record(s string) {
	if f.called == "" {
		f.called = s
	}
}

// TestRequire checks that Require lets a test run inside a namespace, and outside
// skips it, or fails it on Linux with CI=true.
func TestRequire(t *testing.T) {
	was := inside
	t.Cleanup(func() { inside = was })
	for _, tt := range []struct {
		inside bool
		ci     string
		want   string
	}{
		{true, "true", ""},
		{true, "", ""},
		{false, "", "Skip: needs it"},
		{false, "true", map[bool]string{true: "Fatal: needs it; CI=true does not let it skip", false: "Skip: needs it"}[runtime.GOOS == "linux"]},
	} {
		inside = tt.inside
		t.Setenv("CI", tt.ci)
		var f fakeTB
		Require(&f, "needs it")
		if f.called != tt.want {
			t.Errorf("inside %v, CI=%q: %q; want %q", tt.inside, tt.ci, f.called, tt.want)
		}
	}
}
