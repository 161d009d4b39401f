package tfo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastopen/tfo/internal/workload"
)

// raiseFileLimit raises the soft limit on open files to at least n for the rest of the
// test, and the hard limit too where the process may.
func raiseFileLimit(t testing.TB, n uint64) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if old.Cur >= n {
		return
	}
	lim := syscall.Rlimit{Cur: n, Max: max(n, old.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("raising the limit on open files from %d (hard %d) to %d: %v", old.Cur, old.Max, n, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// loadMsgSize is the size of each conn's message in TestManyConns: the conn's index,
// then bytes that depend on it.
const loadMsgSize = 64

func loadMsg(i int) []byte {
	b := make([]byte, loadMsgSize)
	binary.BigEndian.PutUint64(b, uint64(i))
	for j := 8; j < len(b); j++ {
		b[j] = byte(i*31 + j)
	}
	return b
}

// loadConnsEnv tells the child run of TestManyConnsServer how many conns to expect.
const loadConnsEnv = "TFO_TEST_LOAD_CONNS"

// loadWorkers is how many goroutines serve the conns of TestManyConns on each side, so
// that the test also runs under the race detector, which allows 8128 at once.
const loadWorkers = 32

// TestManyConns holds 10,000 conns in one process, all pending at once, then all
// connected at once, each having carried its message in its SYN and read it back from
// the server; then it closes them all. The server runs in a child process, so that each
// process needs only one descriptor a conn.
func TestManyConns(t *testing.T) {
	verifyNone(t)
	requirePending(t)
	const conns = 10000
	raiseFileLimit(t, conns+1024)
	fds := openFDs(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	server := childTest(t, ctx, "TestManyConnsServer", nil, fmt.Sprintf("%s=%d", loadConnsEnv, conns))
	stop, err := server.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	server.Stderr = &stderr
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer server.Wait()
	defer stop.Close()
	out := bufio.NewScanner(stdout)
	var addr string
	for out.Scan() {
		if a, ok := strings.CutPrefix(out.Text(), "serving on "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatalf("the server did not start: %v\n%s", out.Err(), stderr.Bytes())
	}

	// The server takes message number conns too: the one that fetches the cookie.
	warm, err := Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer warm.Close()
	msg := loadMsg(conns)
	if _, err := warm.Write(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(warm, make([]byte, loadMsgSize)); err != nil {
		t.Fatal(err)
	}

	before := readTCPExt(t)
	cs := make([]*Conn, conns)
	defer func() {
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range cs {
		nc, err := Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		cs[i] = nc.(*Conn)
		if cs[i].connected() || !deferred(cs[i].tc) {
			t.Fatalf("dial %d: the connect was not deferred", i)
		}
	}
	if n := openFDs(t) - fds; n < conns {
		t.Fatalf("%d descriptors more than before the dials; want %d", n, conns)
	}

	var wg sync.WaitGroup
	for w := range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, loadMsgSize)
			for i := w; i < conns; i += loadWorkers {
				msg := loadMsg(i)
				if _, err := cs[i].Write(msg); err != nil {
					t.Errorf("conn %d: %v", i, err)
					return
				}
				if _, err := io.ReadFull(cs[i], b); err != nil || !bytes.Equal(b, msg) {
					t.Errorf("conn %d: got %x, %v; want %x", i, b, err, msg)
					return
				}
			}
		}()
	}
	wg.Wait()
	d := readTCPExt(t).since(before, "TCPFastOpenActive", "TCPFastOpenPassive")
	if d["TCPFastOpenActive"] != conns || d["TCPFastOpenPassive"] != conns {
		t.Errorf("TcpExt %v; want %d fast opens on each side", d, conns)
	}

	// All conns are open on both sides: the server closes its own once told to stop,
	// and says what it served.
	stop.Close()
	var summary string
	for out.Scan() {
		if s, ok := strings.CutPrefix(out.Text(), "served "); ok {
			summary = s
			break
		}
	}
	if want := fmt.Sprintf("%d conns at once, each message once: true", conns+1); summary != want {
		t.Errorf("the server served %q; want %q\n%s", summary, want, stderr.Bytes())
	}
	io.Copy(io.Discard, stdout)
	if err := server.Wait(); err != nil {
		t.Errorf("server: %v\n%s", err, stderr.Bytes())
	}
	for i, c := range cs {
		if err := c.Close(); err != nil {
			t.Errorf("conn %d: Close: %v", i, err)
		}
		cs[i] = nil
	}
	warm.Close()
	if n := openFDs(t); n > fds {
		t.Errorf("%d open descriptors; %d before", n, fds)
	}
}

// TestManyConnsServer is the server of TestManyConns, which runs it in a child process.
// It reads each conn's message, checks it and writes it back, and keeps every conn open
// until its standard input ends.
func TestManyConnsServer(t *testing.T) {
	conns, _ := strconv.Atoi(os.Getenv(loadConnsEnv))
	if conns == 0 {
		t.Skip("run by TestManyConns")
	}
	raiseFileLimit(t, uint64(conns)+1024)
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("serving on", ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		ln.Close()
	}()
	var (
		mu       sync.Mutex
		accepted []net.Conn
		seen     = make([]int, conns+1)
		wg       sync.WaitGroup
	)
	work := make(chan net.Conn)
	for range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, loadMsgSize)
			for c := range work {
				if _, err := io.ReadFull(c, b); err != nil {
					t.Errorf("reading: %v", err)
					continue
				}
				i := int(binary.BigEndian.Uint64(b))
				if i < 0 || i > conns || !bytes.Equal(b, loadMsg(i)) {
					t.Errorf("a message that no client sent: %x", b)
					continue
				}
				mu.Lock()
				seen[i]++
				mu.Unlock()
				if _, err := c.Write(b); err != nil {
					t.Errorf("writing: %v", err)
				}
			}
		}()
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		accepted = append(accepted, c)
		work <- c
	}
	close(work)
	wg.Wait()
	once := true
	for _, n := range seen {
		once = once && n == 1
	}
	fmt.Printf("served %d conns at once, each message once: %v\n", len(accepted), once)
	for _, c := range accepted {
		c.Close()
	}
}

// heapAfterGC returns the bytes of live heap objects after a garbage collection.
func heapAfterGC() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// memBatch is how many conns BenchmarkConnMemory holds at once: fewer than the accept
// queue of a listener holds (net.core.somaxconn, 4096 in a new network namespace), so
// that net's dials complete without an Accept.
const memBatch = 1000

// BenchmarkConnMemory reports the Go heap that each open conn holds, heapB/conn: a conn
// of net, connected, and a conn of tfo whose connect is deferred, so that nothing has
// been sent. The kernel's memory for the socket is not counted; the listener accepts
// nothing while the conns are held, so the server side adds nothing to the heap.
func BenchmarkConnMemory(b *testing.B) {
	if !onWire {
		b.Skip("needs a private network namespace with net.ipv4.tcp_fastopen=3 (run as root)")
	}
	raiseFileLimit(b, 2*memBatch+1024)
	b.Run("net", func(b *testing.B) {
		ln := listenBench(b, net.Listen)
		defer ln.Close()
		benchConnMemory(b, ln.Addr().String(), net.Dial, func(n int) {
			// The closed conns wait in the accept queue.
			for range n {
				c, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	})
	b.Run("tfo", func(b *testing.B) {
		addr := serve(b, listenBench(b, Listen), workload.Reply)
		buf := make([]byte, workload.MsgSize)
		if err := workload.Cycle(Dial, addr, buf, buf); err != nil { // fetches the cookie
			b.Fatal(err)
		}
		benchConnMemory(b, addr, func(network, address string) (net.Conn, error) {
			c, err := Dial(network, address)
			if err == nil && (c.(*Conn).connected() || !deferred(c.(*Conn).tc)) {
				c.Close()
				return nil, errors.New("the connect was not deferred")
			}
			return c, err
		}, func(int) {})
	})
}

// benchConnMemory dials addr with dial once per iteration and holds the conns, up to
// memBatch at a time, and reports the heap they hold, after a collection, per conn.
// drain runs once a batch of n conns is closed.
func benchConnMemory(b *testing.B, addr string, dial workload.Dial, drain func(n int)) {
	conns := make([]net.Conn, 0, memBatch)
	var heap, held int64
	base := heapAfterGC()
	flush := func() {
		heap += heapAfterGC() - base
		held += int64(len(conns))
		for i, c := range conns {
			c.Close()
			conns[i] = nil
		}
		drain(len(conns))
		conns = conns[:0]
		base = heapAfterGC()
	}
	for b.Loop() {
		c, err := dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if conns = append(conns, c); len(conns) == memBatch {
			b.StopTimer()
			flush()
			b.StartTimer()
		}
	}
	if len(conns) > 0 {
		flush()
	}
	b.ReportMetric(float64(heap)/float64(held), "heapB/conn")
}
