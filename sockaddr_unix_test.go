//go:build unix

package tfo

import (
	"net"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSockaddr(t *testing.T) {
	lo := loopbackInterface(t)
	for _, tt := range []struct {
		addr   string
		family int
		want   unix.Sockaddr
	}{
		{"192.0.2.1:80", unix.AF_INET, &unix.SockaddrInet4{Port: 80, Addr: [4]byte{192, 0, 2, 1}}},
		{"[::ffff:192.0.2.1]:80", unix.AF_INET, &unix.SockaddrInet4{Port: 80, Addr: [4]byte{192, 0, 2, 1}}},
		{"[2001:db8::1]:443", unix.AF_INET6, &unix.SockaddrInet6{Port: 443, Addr: [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}}},
		{"[fe80::1%" + lo.Name + "]:443", unix.AF_INET6, &unix.SockaddrInet6{Port: 443, ZoneId: uint32(lo.Index), Addr: [16]byte{0xfe, 0x80, 15: 1}}},
		// Wildcard local addresses bind a socket of either family.
		{"0.0.0.0:7", unix.AF_INET6, &unix.SockaddrInet6{Port: 7}},
		{"[::]:7", unix.AF_INET, &unix.SockaddrInet4{Port: 7}},
		{":7", unix.AF_INET, &unix.SockaddrInet4{Port: 7}},
	} {
		a, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		sa, err := sockaddr(a, tt.family)
		if err != nil || !reflect.DeepEqual(sa, tt.want) {
			t.Errorf("sockaddr(%v, %d) = %#v, %v; want %#v", a, tt.family, sa, err, tt.want)
		}
	}
	for _, tt := range []struct {
		addr   string
		family int
	}{
		{"[2001:db8::1]:443", unix.AF_INET},
		{"192.0.2.1:80", unix.AF_INET6},
	} {
		a, _ := net.ResolveTCPAddr("tcp", tt.addr)
		if sa, err := sockaddr(a, tt.family); err == nil {
			t.Errorf("sockaddr(%v, %d) = %#v; want an error", a, tt.family, sa)
		}
	}
}

// TestTCPAddr checks that a socket address converts back to the address it was made
// from, zone included.
func TestTCPAddr(t *testing.T) {
	lo := loopbackInterface(t)
	for _, s := range []string{
		"192.0.2.1:80",
		"[2001:db8::1]:443",
		"[fe80::1%" + lo.Name + "]:443",
	} {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		sa, err := sockaddr(a, family(a))
		if err != nil {
			t.Fatal(err)
		}
		if got := tcpAddr(sa); got.String() != a.String() {
			t.Errorf("tcpAddr(sockaddr(%v)) = %v", a, got)
		}
	}
	if got := tcpAddr(&unix.SockaddrUnix{Name: "/x"}); got != nil {
		t.Errorf("tcpAddr of a Unix socket address = %v; want nil", got)
	}
	if got := zoneName(zoneIndex("4242")); got != "4242" {
		t.Errorf("a numeric zone of no interface came back as %q", got)
	}
}

func loopbackInterface(t *testing.T) *net.Interface {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for i := range ifs {
		if ifs[i].Flags&net.FlagLoopback != 0 {
			return &ifs[i]
		}
	}
	t.Skip("no loopback interface")
	return nil
}
