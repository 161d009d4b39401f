package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastopen/tfo/internal/delaylink"
)

// TestDevicePath reads fake sysfs entries: lo, a veth whose peer is elsewhere, a
// device of hardware, and a VLAN on it, with RPS on or off.
func TestDevicePath(t *testing.T) {
	sysfs := t.TempDir()
	device := func(name, index, link string, rps string, extra ...string) {
		dir := filepath.Join(sysfs, name)
		for _, d := range append([]string{"queues/rx-0"}, extra...) {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(dir, "ifindex"), []byte(index+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "iflink"), []byte(link+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "queues/rx-0/rps_cpus"), []byte(rps+"\n"), 0o644)
	}
	device("lo", "1", "1", "0")
	device("veth0", "5", "4", "00000000,00000003")
	device("veth1", "6", "7", "0")
	device("eth0", "2", "2", "0", "device")
	device("eth0.7", "8", "2", "0", "lower_eth0")
	on, off := true, false
	for _, tt := range []struct {
		dev  string
		want Path
	}{
		{"lo", Path{Device: "lo", SameHost: true, RPS: &off}},
		{"veth0", Path{Device: "veth0", SameHost: true, RPS: &on}},
		{"veth1", Path{Device: "veth1", SameHost: true, RPS: &off}},
		{"eth0", Path{Device: "eth0", RPS: &off}},
		{"eth0.7", Path{Device: "eth0.7", RPS: &off}},
		{"gone", Path{Device: "gone"}},
	} {
		got := devicePath(sysfs, tt.dev)
		if got.Device != tt.want.Device || got.SameHost != tt.want.SameHost || (got.RPS == nil) != (tt.want.RPS == nil) || got.RPS != nil && *got.RPS != *tt.want.RPS {
			t.Errorf("devicePath(%q) = %+v; want %+v", tt.dev, got, tt.want)
		}
		if text := pathText(got); got.SameHost && got.RPS != nil && !*got.RPS && !strings.Contains(text, "without RPS") {
			t.Errorf("pathText(%+v) = %q; want the warning", got, text)
		}
	}
}

// TestPathTo checks the path the probe shows, over loopback and over a link between
// two namespaces, whose TUN device has no peer.
func TestPathTo(t *testing.T) {
	l := newLink(t, delaylink.Config{})
	var link, loop Path
	if err := l.A.Do(func() error {
		link, loop = pathTo(l.B.Addr()), pathTo(netip.MustParseAddr("127.0.0.1"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if link.Device != delaylink.Device || link.SameHost {
		t.Errorf("path over the link: %+v; want %s, not on this machine", link, delaylink.Device)
	}
	if loop.Device != "lo" || !loop.SameHost {
		t.Errorf("path to 127.0.0.1: %+v; want lo, on this machine", loop)
	}
}
