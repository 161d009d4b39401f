package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"time"

	"github.com/fastopen/tfo"
	"github.com/fastopen/tfo/internal/delaylink"
	"github.com/fastopen/tfo/internal/workload"
)

// A linkCase is a kind of fresh connection measured over the delayed link.
type linkCase struct {
	name  string
	limit float64 // tfo/net when fast open saves a whole round trip
	// sample makes a connection with c and returns the time from its start to the
	// first byte of the response, and whether it was fast-opened.
	sample func(ctx context.Context, c *linkClient) (time.Duration, bool, error)
}

// Round trips before the first response byte, with net and with fast open.
const (
	plainLimit = 1.0 / 2 // handshake, request
	tlsLimit   = 2.0 / 3 // handshake, TLS handshake, request
)

var linkCases = []linkCase{
	{"raw", plainLimit, rawSample},
	{"HTTP", plainLimit, httpSample(func(c *linkClient) *getter { return &c.http })},
	{"HTTPS default", tlsLimit, httpSample(func(c *linkClient) *getter { return &c.https })},
	{"HTTPS X25519", tlsLimit, httpSample(func(c *linkClient) *getter { return &c.httpsX25519 })},
}

// linkResults holds the samples of each case, per side.
type linkResults struct {
	rtt   time.Duration
	n     int
	cases []caseResult

	// ClientHello sizes, in bytes, with Go's defaults and with X25519 alone.
	helloDefault, helloX25519 int

	active, passive int64 // fast opens, in the client's and in the server's namespace
	tfoConns        int64 // tfo connections made, warm-up included
}

type caseResult struct {
	*linkCase
	ms   [2][]float64 // times to the first response byte, in milliseconds; [1][i] came right after or before [0][i]
	fast [2]int       // connections fast-opened
}

func (c *caseResult) ratio() float64 { return median(c.ms[1]) / median(c.ms[0]) }

// pairRatios returns the ratios tfo/net of the samples taken one after the other.
func (c *caseResult) pairRatios() []float64 { return ratios(c.ms) }

// A linkClient makes connections from the link's client namespace to one side's
// servers.
type linkClient struct {
	dial                     delaylink.DialFunc
	rawAddr                  string
	http, https, httpsX25519 getter
}

// A getter GETs a URL with a client that makes a new connection each time.
type getter struct {
	client *http.Client
	url    string
}

// measureLink makes a link with a round-trip time of rtt and measures n samples of each
// case per side, alternating the sides, after one sample each that fetches the cookie
// and warms both ends up. It stops when ctx is done.
func measureLink(ctx context.Context, rtt time.Duration, n int, prog *progress) (*linkResults, error) {
	prog.set("link: making the namespaces")
	link, err := delaylink.New(delaylink.Config{RTT: rtt})
	if err != nil {
		return nil, err
	}
	defer link.Close()
	cert, roots, err := selfSigned(link.B.Addr())
	if err != nil {
		return nil, err
	}
	res := &linkResults{rtt: rtt, n: n}
	defaultConf := &tls.Config{RootCAs: roots}
	x25519Conf := &tls.Config{RootCAs: roots, CurvePreferences: []tls.CurveID{tls.X25519}}
	if res.helloDefault, err = helloSize(defaultConf); err != nil {
		return nil, err
	}
	if res.helloX25519, err = helloSize(x25519Conf); err != nil {
		return nil, err
	}
	var clients [2]*linkClient
	for i, s := range sides {
		srv, err := startServers(link.B, s.listen, cert)
		if err != nil {
			return nil, fmt.Errorf("%s servers: %w", s.name, err)
		}
		defer srv.close()
		dial := link.A.Dial(s.dialContext)
		get := func(url string, conf *tls.Config) getter {
			tr := &http.Transport{DialContext: dial, TLSClientConfig: conf, DisableKeepAlives: true}
			return getter{&http.Client{Transport: tr}, url}
		}
		clients[i] = &linkClient{
			dial:        dial,
			rawAddr:     srv.raw,
			http:        get("http://"+srv.http+"/", nil),
			https:       get("https://"+srv.https+"/", defaultConf),
			httpsX25519: get("https://"+srv.https+"/", x25519Conf),
		}
	}
	activeBefore, err := link.A.ReadTCPExt()
	if err != nil {
		return nil, err
	}
	passiveBefore, err := link.B.ReadTCPExt()
	if err != nil {
		return nil, err
	}
	res.cases = make([]caseResult, len(linkCases))
	for k := range linkCases {
		res.cases[k].linkCase = &linkCases[k]
	}
	for r := -1; r < n; r++ { // round -1 warms up
		if r >= 0 {
			prog.set("link, %v round trip: %d/%d", rtt, r+1, n)
		}
		if err := res.round(ctx, r, clients); err != nil {
			return nil, err
		}
	}
	active, err := link.A.ReadTCPExt()
	if err != nil {
		return nil, err
	}
	passive, err := link.B.ReadTCPExt()
	if err != nil {
		return nil, err
	}
	res.active = active["TCPFastOpenActive"] - activeBefore["TCPFastOpenActive"]
	res.passive = passive["TCPFastOpenPassive"] - passiveBefore["TCPFastOpenPassive"]
	prog.clear()
	return res, nil
}

// round measures one sample of each case with each side, the side that goes first
// alternating with r; round -1 warms up and keeps nothing.
func (res *linkResults) round(ctx context.Context, r int, clients [2]*linkClient) error {
	for k := range res.cases {
		c := &res.cases[k]
		for j := range sides {
			i := (j + r + 1) % len(sides)
			d, fast, err := c.sample(ctx, clients[i])
			if err := ctx.Err(); err != nil {
				return err
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", sides[i].name, c.name, err)
			}
			if sides[i].name == "tfo" {
				res.tfoConns++
			}
			if r < 0 {
				continue
			}
			c.ms[i] = append(c.ms[i], float64(d)/float64(time.Millisecond))
			if fast {
				c.fast[i]++
			}
		}
	}
	return nil
}

// rawSample dials, writes a request, and reads the reply.
func rawSample(ctx context.Context, c *linkClient) (time.Duration, bool, error) {
	req, resp := make([]byte, workload.MsgSize), make([]byte, workload.MsgSize)
	start := time.Now()
	conn, err := c.dial(ctx, "tcp", c.rawAddr)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	if _, err := conn.Write(req); err != nil {
		return 0, false, err
	}
	if _, err := io.ReadFull(conn, resp[:1]); err != nil {
		return 0, false, err
	}
	d := time.Since(start)
	if _, err := io.ReadFull(conn, resp[1:]); err != nil {
		return 0, false, err
	}
	fast, err := tfo.FastOpened(conn)
	return d, fast, err
}

// httpSample returns a sample that GETs a page with the getter that pick picks.
func httpSample(pick func(*linkClient) *getter) func(context.Context, *linkClient) (time.Duration, bool, error) {
	return func(ctx context.Context, c *linkClient) (time.Duration, bool, error) {
		g := pick(c)
		var (
			conn  net.Conn
			first time.Time
		)
		trace := &httptrace.ClientTrace{
			GotConn:              func(info httptrace.GotConnInfo) { conn = info.Conn },
			GotFirstResponseByte: func() { first = time.Now() },
		}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "GET", g.url, nil)
		if err != nil {
			return 0, false, err
		}
		start := time.Now()
		resp, err := g.client.Do(req)
		if err != nil {
			return 0, false, err
		}
		defer resp.Body.Close()
		// Ask before reading the body, after which the transport closes the conn.
		fast, err := tfo.FastOpened(conn)
		if err != nil {
			return 0, false, err
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, false, err
		}
		if resp.StatusCode != http.StatusOK || string(body) != hello {
			return 0, false, fmt.Errorf("%s: %s %q", g.url, resp.Status, body)
		}
		return first.Sub(start), fast, nil
	}
}

// hello is the page the HTTP servers serve.
const hello = "hello\n"

// servers are one side's servers in the link's server namespace.
type servers struct {
	raw, http, https string // addresses
	stops            []func()
}

// startServers starts, in ns, a server that answers workload requests, an HTTP server,
// and an HTTPS server (TLS 1.3 only) with cert, each on a listener from listen.
func startServers(ns *delaylink.Namespace, listen func(network, address string) (net.Listener, error), cert tls.Certificate) (*servers, error) {
	s := &servers{}
	newListener := func() (ln net.Listener, err error) {
		err = ns.Do(func() error {
			ln, err = listen("tcp", netip.AddrPortFrom(ns.Addr(), 0).String())
			return err
		})
		return ln, err
	}
	ln, err := newListener()
	if err != nil {
		return nil, err
	}
	s.raw = ln.Addr().String()
	s.stops = append(s.stops, workload.Serve(ln, workload.Reply))
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, hello) })
	for _, conf := range []*tls.Config{nil, {Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}} {
		ln, err := newListener()
		if err != nil {
			s.close()
			return nil, err
		}
		srv := &http.Server{Handler: page, TLSConfig: conf, ErrorLog: log.New(io.Discard, "", 0)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if conf == nil {
				srv.Serve(ln)
			} else {
				srv.ServeTLS(ln, "", "")
			}
		}()
		s.stops = append(s.stops, func() {
			srv.Close()
			<-done
		})
		if conf == nil {
			s.http = ln.Addr().String()
		} else {
			s.https = ln.Addr().String()
		}
	}
	return s, nil
}

func (s *servers) close() {
	for _, stop := range s.stops {
		stop()
	}
}

// selfSigned returns a certificate for ip, and a pool that trusts it.
func selfSigned(ip netip.Addr) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{ip.AsSlice()},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots, nil
}

// helloSize returns the size of the ClientHello that a client with conf sends, TLS
// record header included: the bytes its first write puts in a SYN.
func helloSize(conf *tls.Config) (int, error) {
	client, server := net.Pipe()
	defer server.Close()
	conf = conf.Clone()
	conf.ServerName = "example.com"
	go func() {
		tls.Client(client, conf).Handshake()
		client.Close()
	}()
	header := make([]byte, 5)
	if _, err := io.ReadFull(server, header); err != nil {
		return 0, err
	}
	if header[0] != 22 { // handshake (RFC 8446, section 5.1)
		return 0, errors.New("the first TLS record is not a handshake")
	}
	return 5 + int(header[3])<<8 + int(header[4]), nil
}

// print writes the results as a table.
func (res *linkResults) print(w io.Writer) {
	fmt.Fprintf(w, "Time to the first response byte over a link with a %v round trip between two network namespaces: %d fresh connections per case and package, net and tfo alternating, after one that fetches the cookie.\n\n", res.rtt, res.n)
	tw := newTable(w)
	fmt.Fprintln(tw, "case\tnet median\tnet p10–p90\ttfo median\ttfo p10–p90\ttfo/net\tpairs p10–p90\tlimit\ttfo fast-opened\t")
	for _, c := range res.cases {
		pairs := c.pairRatios()
		fmt.Fprintf(tw, "%s\t%.1f ms\t%.1f–%.1f\t%.1f ms\t%.1f–%.1f\t%.3f\t%.3f–%.3f\t%.3f\t%d/%d\t\n", c.name,
			median(c.ms[0]), percentile(c.ms[0], 10), percentile(c.ms[0], 90),
			median(c.ms[1]), percentile(c.ms[1], 10), percentile(c.ms[1], 90),
			c.ratio(), percentile(pairs, 10), percentile(pairs, 90), c.limit, c.fast[1], len(c.ms[1]))
	}
	tw.Flush()
	fmt.Fprintf(w, `
tfo/net is the median time with tfo over the median with net; pairs p10–p90 spans the
ratios of the connections made one after the other. The limit is the ratio when fast
open saves a whole round trip: one instead of two for a request, two instead of three
with a TLS 1.3 handshake before it. Fast open cannot save more: a tfo/net below the
limit comes from noise in the times. Go's default ClientHello here is %d bytes, as it
offers a post-quantum X25519MLKEM768 key share: more than the 1420 bytes a SYN carries
with a 1500-byte MTU, so the server waits a round trip for the rest and fast open
saves nothing. With X25519 alone it is %d bytes and fits.

`, res.helloDefault, res.helloX25519)
	fmt.Fprintf(w, "fast open: TCPFastOpenActive +%d in the client's namespace, TCPFastOpenPassive +%d in the server's, over %d tfo connections: %s\n",
		res.active, res.passive, res.tfoConns, yesNo(res.fastOpened()))
}

// fastOpened reports whether the tfo connections after the first were fast-opened,
// both ends counting, and the net ones were not.
func (res *linkResults) fastOpened() bool {
	for _, c := range res.cases {
		if c.fast[0] != 0 || c.fast[1] != len(c.ms[1]) {
			return false
		}
	}
	return res.active == res.tfoConns-1 && res.passive == res.tfoConns-1
}
