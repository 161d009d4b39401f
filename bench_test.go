package tfo

import (
	"io"
	"net"
	"testing"

	"github.com/fastopen/tfo/internal/workload"
)

// readFastOpens, where the platform counts them, returns how many connections the
// system has fast-opened so far as a client (active) and as a server (passive).
var readFastOpens func(testing.TB) (active, passive int64)

// serve runs handle on the connections ln accepts until the end of the benchmark.
func serve(b *testing.B, ln net.Listener, handle func(net.Conn)) string {
	b.Cleanup(workload.Serve(ln, handle))
	return ln.Addr().String()
}

func listenBench(b *testing.B, listen func(network, address string) (net.Listener, error)) net.Listener {
	b.Helper()
	ln, err := listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
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
	req, resp := make([]byte, workload.MsgSize), make([]byte, workload.MsgSize)
	b.Run("net", func(b *testing.B) {
		addr := serve(b, listenBench(b, net.Listen), workload.Reply)
		benchCycles(b, func() error { return workload.Cycle(net.Dial, addr, req, resp) }, false)
	})
	b.Run("tfo", func(b *testing.B) {
		addr := serve(b, listenBench(b, Listen), workload.Reply)
		benchCycles(b, func() error { return workload.Cycle(Dial, addr, req, resp) }, true)
	})
}

// benchRoundTrips measures writing a request on c and reading its echo.
func benchRoundTrips(b *testing.B, c net.Conn) {
	b.ReportAllocs()
	b.Cleanup(func() { c.Close() })
	buf := make([]byte, workload.MsgSize)
	roundTrip := func() {
		if err := workload.RoundTrip(c, buf); err != nil {
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
		addr := serve(b, listenBench(b, net.Listen), workload.Echo)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		benchRoundTrips(b, c.(*net.TCPConn))
	})
	b.Run("tfo", func(b *testing.B) {
		addr := serve(b, listenBench(b, Listen), workload.Echo)
		c, err := Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		benchRoundTrips(b, c.(*Conn))
	})
}

// established returns a conn from dial to a server from listen that runs handle, for
// benchmarks of calls on an established conn. Its first byte, which handle must
// accept, is already written: with tfo, in the SYN, after a first conn that fetched
// the cookie.
func established(b *testing.B, listen func(network, address string) (net.Listener, error), dial workload.Dial, handle func(net.Conn)) net.Conn {
	b.Helper()
	addr := serve(b, listenBench(b, listen), handle)
	for i := 0; ; i++ {
		c, err := dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write([]byte{0}); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			c.Close()
			continue
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
}

// discard reads everything the client writes.
func discard(c net.Conn) { io.Copy(io.Discard, c) }

// stream writes to the client until it closes.
func stream(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// BenchmarkWrite measures a 64-byte Write on an established conn.
func BenchmarkWrite(b *testing.B) {
	benchEstablished(b, discard, func(c net.Conn, buf []byte) error {
		_, err := c.Write(buf)
		return err
	})
}

// BenchmarkRead measures a 64-byte Read on an established conn, from a server that
// keeps the receive buffer full.
func BenchmarkRead(b *testing.B) {
	benchEstablished(b, stream, func(c net.Conn, buf []byte) error {
		_, err := io.ReadFull(c, buf)
		return err
	})
}

// benchEstablished runs op on an established conn of each package, whose server runs
// handle.
func benchEstablished(b *testing.B, handle func(net.Conn), op func(c net.Conn, buf []byte) error) {
	run := func(b *testing.B, c net.Conn) {
		buf := make([]byte, workload.MsgSize)
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			if err := op(c, buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("net", func(b *testing.B) {
		c := established(b, net.Listen, net.Dial, handle)
		run(b, c.(*net.TCPConn))
	})
	b.Run("tfo", func(b *testing.B) {
		c := established(b, Listen, Dial, handle)
		if onWire {
			checkFastOpened(b, c)
		}
		run(b, c.(*Conn))
	})
}
