//go:build !linux

package tcpmetrics_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/fastopen/tfo/internal/tcpmetrics"
)

func TestUnsupported(t *testing.T) {
	addr := netip.MustParseAddr("192.0.2.1")
	_, err1 := tcpmetrics.Get(addr, netip.Addr{})
	_, err2 := tcpmetrics.All()
	for i, err := range []error{err1, err2, tcpmetrics.Delete(addr, netip.Addr{}), tcpmetrics.DeleteAll()} {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("call %d: %v, want an error matching errors.ErrUnsupported", i, err)
		}
	}
}
