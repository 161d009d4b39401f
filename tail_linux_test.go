package tfo

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/fastopen/tfo/internal/workload"
)

// slowRequest is the time past which a request counts as slow: the kernel's smallest
// retransmission timeout (TCP_RTO_MIN, 200 ms) less room for the noise of a shared
// machine. Over loopback a request takes well under a millisecond unless a segment
// was lost and sent again.
const slowRequest = 100 * time.Millisecond

// BenchmarkHTTPTail reports the tail of the time an HTTP/1.1 GET takes through an
// http.Transport that makes a fresh connection for each request, to an http.Server on a
// fast open listener over loopback, for four dialers in turn: net's, tfo's default
// (which connects as net's does to a loopback address), tfo's with Loopback, and a
// net.Dialer that sets TCP_FASTOPEN_CONNECT itself (the kernel's mechanism without
// tfo). Each iteration makes one request with each, so -benchtime 50000x measures
// 50,000 requests per dialer in one run. It reports, per dialer, the 99.9th percentile
// and the maximum in milliseconds, and the requests slower than slowRequest; and the
// namespace's TcpExt TCPTimeouts, every retransmission timeout of the run.
func BenchmarkHTTPTail(b *testing.B) {
	if !onWire {
		b.Skip("needs a private network namespace with net.ipv4.tcp_fastopen=3 (run as root)")
	}
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		<-served
	}()
	defer func(hook bool) { testHookLoopback = hook }(testHookLoopback)
	testHookLoopback = false // tfo's default, as its users get it
	kernel := &net.Dialer{Control: workload.KernelFastOpen}
	dialers := []struct {
		name string
		dial func(ctx context.Context, network, address string) (net.Conn, error)
	}{
		{"net", (&net.Dialer{}).DialContext},
		{"tfo", (&Dialer{}).DialContext},
		{"tfo-loopback", (&Dialer{Loopback: true}).DialContext},
		{"kernel", kernel.DialContext},
	}
	url := "http://" + ln.Addr().String() + "/"
	clients := make([]*http.Client, len(dialers))
	for i, d := range dialers {
		tr := &http.Transport{DialContext: d.dial, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		clients[i] = &http.Client{Transport: tr}
	}
	get := func(c *http.Client) time.Duration {
		start := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	for _, c := range clients {
		get(c) // the first fast open dial fetches the cookie
	}
	times := make([][]time.Duration, len(dialers))
	before := readTCPExt(b)
	for i := 0; b.Loop(); i++ {
		for j := range clients {
			k := (i + j) % len(clients) // which dialer goes first rotates
			times[k] = append(times[k], get(clients[k]))
		}
	}
	d := readTCPExt(b).since(before, "TCPTimeouts")
	for i, t := range times {
		slices.Sort(t)
		slow := 0
		if first := slices.IndexFunc(t, func(d time.Duration) bool { return d > slowRequest }); first >= 0 {
			slow = len(t) - first
		}
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		name := dialers[i].name
		b.ReportMetric(ms(t[min(len(t)-1, len(t)*999/1000)]), name+"-p99.9-ms")
		b.ReportMetric(ms(t[len(t)-1]), name+"-max-ms")
		b.ReportMetric(float64(slow), name+"-slow")
	}
	b.ReportMetric(float64(d["TCPTimeouts"]), "TCPTimeouts")
}
