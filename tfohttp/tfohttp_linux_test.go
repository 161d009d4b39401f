package tfohttp_test

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastopen/tfo"
	"github.com/fastopen/tfo/internal/delaylink"
	"github.com/fastopen/tfo/internal/netns"
	"github.com/fastopen/tfo/tfohttp"
	"go.uber.org/goleak"
)

// replayDelay is how long after a SYN with data the link sends its copy.
const replayDelay = 50 * time.Millisecond

// replayable reports whether net/http would send r again: its rule for a server's
// 425 Too Early.
func replayable(r *http.Request) bool {
	switch r.Method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return r.Header.Get("Idempotency-Key") != "" || r.Header.Get("X-Idempotency-Key") != ""
}

// tooEarly answers 425 Too Early to an early request that must not run twice, as RFC
// 8470 asks, and "ok" to the others, recording what it served.
type tooEarly struct {
	mu   sync.Mutex
	runs map[string][]bool // by method and path: whether each run was early
}

func (h *tooEarly) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	early := tfohttp.Early(r)
	h.mu.Lock()
	h.runs[r.Method+" "+r.URL.Path] = append(h.runs[r.Method+" "+r.URL.Path], early)
	h.mu.Unlock()
	if early && !replayable(r) {
		w.WriteHeader(http.StatusTooEarly)
		return
	}
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "ok")
}

// TestEarly serves over a link that replays every SYN with data, and checks which
// requests Early reports: a request in the SYN, on its conn and on the copy's, and no
// request after the handshake, over TLS, or from net.
func TestEarly(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the test's other cleanups
	netns.Require(t, "TestEarly needs root on Linux, for network namespaces")
	link, err := delaylink.New(delaylink.Config{RTT: 10 * time.Millisecond, ReplaySYNData: replayDelay})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	listen := func() net.Listener {
		var ln net.Listener
		if err := link.B.Do(func() (err error) {
			ln, err = tfo.Listen("tcp", netip.AddrPortFrom(link.B.Addr(), 0).String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ln
	}
	h := &tooEarly{runs: map[string][]bool{}}
	plain := httptest.NewUnstartedServer(tfohttp.Handler(h))
	plain.Listener.Close()
	plain.Listener = listen()
	plain.Config.ConnContext = tfohttp.ConnContext
	plain.Start()
	defer plain.Close()
	secure := httptest.NewUnstartedServer(tfohttp.Handler(h))
	secure.Listener.Close()
	secure.Listener = listen()
	secure.Config.ConnContext = tfohttp.ConnContext
	secure.Config.ErrorLog = log.New(io.Discard, "", 0) // the copies' handshakes fail
	secure.StartTLS()
	defer secure.Close()

	// A proxy marks early requests for the server behind it.
	var marks struct {
		sync.Mutex
		m map[string][]string
	}
	marks.m = map[string][]string{}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		marks.Lock()
		marks.m[r.Method+" "+r.URL.Path] = append(marks.m[r.Method+" "+r.URL.Path], r.Header.Get("Early-Data"))
		marks.Unlock()
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	backendURL, _ := url.Parse(backend.URL)
	proxy := httptest.NewUnstartedServer(tfohttp.Handler(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(backendURL)
		if tfohttp.Early(pr.In) {
			pr.Out.Header.Set("Early-Data", "1")
		}
	}}))
	proxy.Listener.Close()
	proxy.Listener = listen()
	proxy.Config.ConnContext = tfohttp.ConnContext
	proxy.Start()
	defer proxy.Close()

	transport := func(d delaylink.DialFunc, keepAlive bool) *http.Transport {
		tr := &http.Transport{DialContext: link.A.Dial(d), DisableKeepAlives: !keepAlive}
		tr.TLSClientConfig = secure.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		tr.TLSClientConfig.ServerName = "127.0.0.1" // the test certificate's, not the link's address
		tr.TLSClientConfig.MinVersion = tls.VersionTLS13
		tr.TLSClientConfig.CurvePreferences = []tls.CurveID{tls.X25519} // a ClientHello that fits a SYN
		t.Cleanup(tr.CloseIdleConnections)
		return tr
	}
	var (
		tfoDefault = transport((&tfo.Dialer{}).DialContext, false)
		tfoAlways  = transport((&tfo.Dialer{Replayable: tfo.AlwaysReplayable}).DialContext, false)
		tfoKeep    = transport((&tfo.Dialer{}).DialContext, true)
		netDialer  = transport((&net.Dialer{}).DialContext, false)
	)
	do := func(tr *http.Transport, base, method, path string, wantStatus int) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader("body"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Errorf("%s %s: status %d, want %d", method, path, resp.StatusCode, wantStatus)
		}
	}
	do(tfoDefault, plain.URL, "GET", "/warm", 200)   // fetches the cookie
	do(tfoDefault, secure.URL, "GET", "/warm", 200)  // the same server address: the same cookie
	do(tfoDefault, plain.URL, "GET", "/get", 200)    // in the SYN, and run again by the copy
	do(tfoDefault, plain.URL, "POST", "/post", 200)  // after the handshake
	do(tfoAlways, plain.URL, "POST", "/always", 425) // in the SYN: too early, and so is the copy
	do(tfoKeep, plain.URL, "GET", "/keep-first", 200)
	do(tfoKeep, plain.URL, "POST", "/keep-second", 200) // the same conn, after the handshake
	do(tfoAlways, secure.URL, "POST", "/tls", 200)      // the SYN holds the ClientHello
	do(netDialer, plain.URL, "GET", "/net", 200)
	do(tfoDefault, proxy.URL, "GET", "/proxied", 200)
	do(tfoDefault, proxy.URL, "POST", "/proxied", 200)
	time.Sleep(replayDelay + 2*link.RTT()) // the last copies

	// GET /get, POST /always, GET /keep-first, both ClientHellos with a cookie, and
	// the proxied GET.
	if st := link.Stats(); st.Replayed != 6 {
		t.Errorf("the link replayed %d SYNs with data, want 6", st.Replayed)
	}
	marks.Lock()
	defer marks.Unlock()
	if got, want := marks.m, map[string][]string{"GET /proxied": {"1", "1"}, "POST /proxied": {""}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Early-Data behind the proxy: %q; want %q", got, want)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, tt := range []struct {
		key  string
		want []bool
	}{
		{"GET /warm", []bool{false, false}},
		{"GET /get", []bool{true, true}},
		{"POST /post", []bool{false}},
		{"POST /always", []bool{true, true}},
		{"GET /keep-first", []bool{true, true}},
		{"POST /keep-second", []bool{false}},
		{"POST /tls", []bool{false}},
		{"GET /net", []bool{false}},
	} {
		if got := h.runs[tt.key]; !equal(got, tt.want) {
			t.Errorf("%s: runs early %v; want %v", tt.key, got, tt.want)
		}
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
