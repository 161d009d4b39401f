package tfo

import (
	"io"
	"net"
	"sync"
	"testing"
)

// msgSize is the size of a request and of its reply in the benchmarks.
const msgSize = 64

// readFastOpens, where the platform counts them, returns how many connections the
// system has fast-opened so far as a client (active) and as a server (passive).
var readFastOpens func(testing.TB) (active, passive int64)

// serve runs handle on each connection ln accepts, each in a goroutine of its own, until
// the end of the benchmark, when it closes ln and waits for those goroutines.
func serve(b *testing.B, ln net.Listener, handle func(net.Conn)) string {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
				c.Close()
			}()
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// reply reads a request and writes the reply.
func reply(c net.Conn) {
	buf := make([]byte, msgSize)
	if _, err := io.ReadFull(c, buf); err == nil {
		c.Write(buf)
	}
}

// echo writes back each request until the client closes.
func echo(c net.Conn) {
	buf := make([]byte, msgSize)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

func listenBench(b *testing.B, listen func(network, address string) (net.Listener, error)) net.Listener {
	b.Helper()
	ln, err := listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

// cycle dials, writes req, reads the reply into resp and closes.
func cycle(dial func() (net.Conn, error), req, resp []byte) error {
	c, err := dial()
	if err != nil {
		return err
	}
	if _, err := c.Write(req); err != nil {
		c.Close()
		return err
	}
	if _, err := io.ReadFull(c, resp); err != nil {
		c.Close()
		return err
	}
	return c.Close()
}

// benchCycles measures op, one cycle of dial, write, read and close, after one cycle
// that lets a fast open client fetch its cookie. With fastOpen, it fails when the tests
// run on the wire and the measured cycles were not fast-opened.
func benchCycles(b *testing.B, op func() error, fastOpen bool) {
	b.ReportAllocs()
	if err := op(); err != nil {
		b.Fatal(err)
	}
	check := fastOpen && onWire && readFastOpens != nil
	var active, passive int64
	if check {
		active, passive = readFastOpens(b)
	}
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	if !check {
		return
	}
	a, p := readFastOpens(b)
	a, p = a-active, p-passive
	b.ReportMetric(float64(a)/float64(b.N), "fastopens/op")
	if want := int64(b.N) * 99 / 100; a < want || p < want {
		b.Fatalf("%d cycles fast-opened %d connections as a client and %d as a server, want %d", b.N, a, p, b.N)
	}
}

func BenchmarkCycle(b *testing.B) {
	req, resp := make([]byte, msgSize), make([]byte, msgSize)
	b.Run("net", func(b *testing.B) {
		addr := serve(b, listenBench(b, net.Listen), reply)
		dial := func() (net.Conn, error) { return net.Dial("tcp", addr) }
		benchCycles(b, func() error { return cycle(dial, req, resp) }, false)
	})
	b.Run("tfo", func(b *testing.B) {
		addr := serve(b, listenBench(b, Listen), reply)
		dial := func() (net.Conn, error) { return Dial("tcp", addr) }
		benchCycles(b, func() error { return cycle(dial, req, resp) }, true)
	})
}

// benchRoundTrips measures writing a request on c and reading its echo.
func benchRoundTrips(b *testing.B, c net.Conn) {
	b.ReportAllocs()
	b.Cleanup(func() { c.Close() })
	buf := make([]byte, msgSize)
	roundTrip := func() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	roundTrip()
	for b.Loop() {
		roundTrip()
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	b.Run("net", func(b *testing.B) {
		addr := serve(b, listenBench(b, net.Listen), echo)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		benchRoundTrips(b, c.(*net.TCPConn))
	})
	b.Run("tfo", func(b *testing.B) {
		addr := serve(b, listenBench(b, Listen), echo)
		c, err := Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		benchRoundTrips(b, c.(*Conn))
	})
}
