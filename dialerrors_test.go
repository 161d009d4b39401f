package tfo

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestDialErrorValues checks that the errors a deferred connect reports for a dial out
// of time or canceled say and match what net's do, taken from dials that fail before
// they make a socket.
func TestDialErrorValues(t *testing.T) {
	var d net.Dialer
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	_, terr := d.DialContext(ctx, "tcp", "127.0.0.1:9")
	cancel()
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, cerr := d.DialContext(ctx, "tcp", "127.0.0.1:9")
	for _, tt := range []struct {
		name      string
		ours, net error
		matches   error
	}{
		{"timeout", errTimeout, terr, context.DeadlineExceeded},
		{"canceled", errCanceled, cerr, context.Canceled},
	} {
		var oe *net.OpError
		if !errors.As(tt.net, &oe) {
			t.Fatalf("%s: net's error %v is not a *net.OpError", tt.name, tt.net)
		}
		type timeout interface{ Timeout() bool }
		netTimeout := errors.As(oe.Err, new(timeout)) && oe.Err.(timeout).Timeout()
		ourTimeout := errors.As(tt.ours, new(timeout)) && tt.ours.(timeout).Timeout()
		if tt.ours.Error() != oe.Err.Error() || ourTimeout != netTimeout || os.IsTimeout(tt.ours) != os.IsTimeout(oe.Err) {
			t.Errorf("%s: %q (timeout %v); net's %q (timeout %v)", tt.name, tt.ours, ourTimeout, oe.Err, netTimeout)
		}
		if !errors.Is(tt.ours, tt.matches) || !errors.Is(oe.Err, tt.matches) {
			t.Errorf("%s: does not match %v as net's does", tt.name, tt.matches)
		}
	}
}
