package workload

import (
	"bytes"
	"net"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWorkload(t *testing.T) {
	listen := func(handle func(net.Conn)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(Serve(ln, handle))
		return ln.Addr().String()
	}
	req := bytes.Repeat([]byte("q"), MsgSize)
	resp := make([]byte, MsgSize)
	if err := Cycle(net.Dial, listen(Reply), req, resp); err != nil || !bytes.Equal(resp, req) {
		t.Fatalf("Cycle: %v, reply %q", err, resp)
	}
	c, err := net.Dial("tcp", listen(Echo))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		buf := bytes.Repeat([]byte{byte('a' + i)}, MsgSize)
		if err := RoundTrip(c, buf); err != nil || buf[0] != byte('a'+i) || buf[MsgSize-1] != byte('a'+i) {
			t.Fatalf("RoundTrip %d: %v, %q", i, err, buf)
		}
	}
}
