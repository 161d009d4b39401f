package tfo

import (
	"testing"

	"golang.org/x/sys/windows"
)

// TestWrapSocketClosesSocket checks that wrapSocket closes the socket it wraps with
// closesocket, not with the CloseHandle of the *os.File it hands to net.FileConn, and
// that the handle is closed when it returns, whether net.FileConn worked or not.
func TestWrapSocketClosesSocket(t *testing.T) {
	verifyNone(t)
	if debugged() {
		t.Skip("under a debugger the file closes the socket with CloseHandle")
	}
	var closed []windows.Handle
	closeSocket = func(h windows.Handle) error {
		closed = append(closed, h)
		return windows.Closesocket(h)
	}
	t.Cleanup(func() { closeSocket = windows.Closesocket })
	h, err := socket(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.Bind(h, &windows.SockaddrInet4{}); err != nil {
		windows.Closesocket(h)
		t.Fatal(err)
	}
	tc, err := wrapSocket(h)
	switch {
	case err == nil:
		if la := tc.LocalAddr(); la == nil {
			t.Error("the wrapped conn has no local address")
		}
		tc.Close()
	case fileConnWorks():
		t.Fatalf("wrapSocket: %v", err)
	default:
		t.Logf("net.FileConn does not work here (%v); checking the close of the socket alone", err)
	}
	if len(closed) != 1 || closed[0] != h {
		t.Errorf("closesocket called on %v; want once, on the wrapped socket %v", closed, h)
	}
	// The mask 0 changes nothing; the call fails on a handle that is not open.
	if err := windows.SetHandleInformation(h, 0, 0); err == nil {
		t.Errorf("socket %v still open after wrapSocket", h)
	}
}
