package dnstable_test

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/fastopen/tfo/internal/dnstable"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLookup(t *testing.T) {
	v4, v4b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	v6 := netip.MustParseAddr("2001:db8::1")
	s := dnstable.New(map[string][]netip.Addr{
		"two.test":  {v4, v4b},
		"dual.test": {v6, v4},
	})
	t.Cleanup(s.Close)
	r := s.Resolver()
	for _, tt := range []struct {
		network, host string
		want          []netip.Addr
	}{
		{"ip4", "two.test", []netip.Addr{v4, v4b}},
		{"ip4", "dual.test", []netip.Addr{v4}},
		{"ip6", "dual.test", []netip.Addr{v6}},
	} {
		got, err := r.LookupNetIP(t.Context(), tt.network, tt.host)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("LookupNetIP(%s, %s) = %v, %v; want %v", tt.network, tt.host, got, err, tt.want)
		}
	}
	got, err := r.LookupNetIP(t.Context(), "ip", "dual.test")
	if err != nil || len(got) != 2 || !slices.Contains(got, v4) || !slices.Contains(got, v6) {
		t.Errorf("LookupNetIP(ip, dual.test) = %v, %v; want both addresses", got, err)
	}
	_, err = r.LookupNetIP(t.Context(), "ip", "nowhere.test")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("LookupNetIP(nowhere.test): %v, want a not-found *net.DNSError", err)
	}
}
