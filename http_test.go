package tfo

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"
)

type connKey struct{}

// TestHTTPTransport checks that requests through an http.Transport dialing with a
// Dialer arrive in SYN data, for HTTP and for HTTPS (TLS 1.3, X25519 key share), on
// both ends and in the TcpExt counters.
func TestHTTPTransport(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := "HTTP"
		if tls {
			name = "HTTPS"
		}
		t.Run(name, func(t *testing.T) { testHTTPTransport(t, tls) })
	}
}

func testHTTPTransport(t *testing.T, useTLS bool) {
	verifyNone(t)
	requirePending(t)
	serverOpened := make(chan bool, 10)
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
	tr := &http.Transport{DialContext: (&Dialer{}).DialContext, DisableKeepAlives: true}
	if useTLS {
		ts.StartTLS()
		tr.TLSClientConfig = ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		tr.TLSClientConfig.MinVersion = tls.VersionTLS13
		// Go's default key shares include a post-quantum one too large for a SYN.
		tr.TLSClientConfig.CurvePreferences = []tls.CurveID{tls.X25519}
	} else {
		ts.Start()
	}
	defer ts.Close()
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	before := readTCPExt(t)
	const requests = 3
	for i := range requests {
		var clientConn net.Conn
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { clientConn = info.Conn }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", ts.URL+"/x", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		// Ask before reading the body, after which the transport closes the conn.
		if ok, err := FastOpened(clientConn); !ok || err != nil {
			t.Errorf("request %d: client FastOpened = %v, %v", i, ok, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "hello /x" {
			t.Fatalf("body %q", body)
		}
		if !<-serverOpened {
			t.Errorf("request %d: not fast-opened at the server", i)
		}
	}
	d := readTCPExt(t).since(before, "TCPFastOpenActive", "TCPFastOpenPassive")
	if d["TCPFastOpenActive"] != requests || d["TCPFastOpenPassive"] != requests {
		t.Errorf("TcpExt %v; want %d of each", d, requests)
	}
}
