package tfo

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The tests of the ways around the limits that docs/usage.md lists: where a tfo value is
// not the net one, code still gets fast open.

// tcpConnMethods is what code that takes a *net.TCPConn for its methods can take
// instead, so that a *Conn fits too.
type tcpConnMethods interface {
	net.Conn
	SetKeepAlive(bool) error
	SetNoDelay(bool) error
	CloseWrite() error
}

// useTCPConn is code written against *net.TCPConn's methods: it sets options, sends
// msg, closes its side for writing and reads the answer to the end.
func useTCPConn(t *testing.T, c tcpConnMethods, msg string) string {
	t.Helper()
	if err := c.SetNoDelay(true); err != nil {
		t.Fatal(err)
	}
	if err := c.SetKeepAlive(true); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	return string(readAll(t, c, 5*time.Second))
}

// TestDialTCPAsTCPConnMethods checks that code taking an interface of *net.TCPConn's
// methods works with the *Conn that DialTCP returns as with net's, and that the *Conn
// fast-opens.
func TestDialTCPAsTCPConnMethods(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	// The server answers once the client has closed its side for writing.
	s := newServer(t, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		c.Write(append([]byte("re:"), b...))
	})
	raddr := s.ln.Addr().(*net.TCPAddr)
	nc, err := net.DialTCP("tcp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := useTCPConn(t, nc, "net"); got != "re:net" {
		t.Errorf("net conn: answer %q", got)
	}
	before := readTCPExt(t)
	c, err := DialTCP("tcp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := useTCPConn(t, c, "tfo"); got != "re:tfo" {
		t.Errorf("tfo conn: answer %q", got)
	}
	checkFastOpened(t, c)
	if d := readTCPExt(t).since(before, "TCPFastOpenActive", "TCPFastOpenPassive"); d["TCPFastOpenActive"] != 1 || d["TCPFastOpenPassive"] != 1 {
		t.Errorf("TcpExt %v; want one active and one passive fast open", d)
	}
}

// TestTLSClientOverConn checks the way around tls.Dialer, whose NetDialer must be a
// *net.Dialer: tls.Client over a conn from a Dialer, whose ClientHello (X25519 alone,
// to fit) then travels in the SYN, on both ends and in the TcpExt counters.
func TestTLSClientOverConn(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	serverOpened := make(chan bool, 1)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, err := FastOpened(r.Context().Value(connKey{}).(net.Conn))
		if err != nil {
			t.Error(err)
		}
		serverOpened <- ok
		io.WriteString(w, "hello "+r.URL.Path)
	}))
	ts.Listener.Close()
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.Listener = ln
	ts.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	ts.StartTLS()
	defer ts.Close()
	conf := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	conf.ServerName = "example.com" // a name in httptest's certificate
	conf.MinVersion = tls.VersionTLS13
	conf.CurvePreferences = []tls.CurveID{tls.X25519}

	before := readTCPExt(t)
	c, err := (&Dialer{}).DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, conf)
	defer tc.Close()
	if err := tc.HandshakeContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkFastOpened(t, tc) // FastOpened finds the *Conn under the *tls.Conn
	io.WriteString(tc, "GET /tls HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasSuffix(string(body), "hello /tls") {
		t.Errorf("body %q", body)
	}
	if !<-serverOpened {
		t.Error("not fast-opened at the server")
	}
	if d := readTCPExt(t).since(before, "TCPFastOpenActive", "TCPFastOpenPassive"); d["TCPFastOpenActive"] != 1 || d["TCPFastOpenPassive"] != 1 {
		t.Errorf("TcpExt %v; want one active and one passive fast open", d)
	}
}
