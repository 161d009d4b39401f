package tfo_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/fastopen/tfo"
)

// serveOnce accepts one connection on ln, reads a line from it and answers with reply
// followed by that line, then closes the connection. It returns a channel that is
// closed when it is done.
func serveOnce(ln net.Listener, reply string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			log.Print(err)
			return
		}
		defer c.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			log.Print(err)
			return
		}
		io.WriteString(c, reply+line)
	}()
	return done
}

func ExampleDial() {
	ln, err := tfo.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	served := serveOnce(ln, "hello, ")

	// Dial as with net.Dial. With a fast open cookie cached for the server, nothing is
	// sent yet: the SYN leaves with the first Write and carries its bytes.
	c, err := tfo.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "gopher\n"); err != nil {
		log.Fatal(err) // a refused port shows here, as a *net.OpError with Op "dial"
	}
	reply, err := io.ReadAll(c)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(reply))
	<-served
	// Output: hello, gopher
}

func ExampleListen() {
	// The listener accepts fast open connections, and every other TCP client too.
	ln, err := tfo.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept() // a plain *net.TCPConn
			if err != nil {
				return // the listener was closed
			}
			wg.Go(func() {
				defer c.Close()
				s := bufio.NewScanner(c)
				for s.Scan() {
					fmt.Fprintln(c, strings.ToUpper(s.Text()))
				}
			})
		}
	})

	for _, word := range []string{"fast", "open"} {
		c, err := tfo.Dial("tcp", ln.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintln(c, word)
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(line)
	}
	// Output:
	// FAST
	// OPEN
}

func ExampleDialer_http() {
	// A test server whose listener accepts fast open connections.
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", r.URL.Path)
	}))
	ln, err := tfo.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	defer ts.Close()

	// A client whose connections fast-open. Without keep-alives each request makes a
	// connection of its own: the first fetches a fast open cookie, and the second, a
	// repeat connection to the server, carries its request in the SYN.
	tr := &http.Transport{DialContext: (&tfo.Dialer{}).DialContext, DisableKeepAlives: true}
	client := &http.Client{Transport: tr}

	for _, path := range []string{"/first", "/repeat"} {
		resp, err := client.Get(ts.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(string(body))
	}
	// Output:
	// hello from /first
	// hello from /repeat
}

func ExampleFastOpened() {
	ln, err := tfo.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	// A client's first connection to a server asks it for a fast open cookie; later
	// connections send data in their SYN with it.
	for i := 1; i <= 2; i++ {
		served := serveOnce(ln, "pong ")
		c, err := tfo.Dial("tcp", ln.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(c, "%d\n", i)
		reply, err := io.ReadAll(c)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(string(reply))

		// Whether a connection was fast-opened depends on the system, not on the
		// program: a program logs it, or counts it, and works the same either way.
		fast, err := tfo.FastOpened(c)
		c.Close()
		<-served
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			log.Printf("connection %d: this platform cannot tell whether it was fast-opened", i)
		case err != nil:
			log.Fatal(err)
		case fast:
			// The server acknowledged the data in the SYN: the client held a cookie,
			// and both ends have fast open turned on.
			log.Printf("connection %d: fast-opened", i)
		default:
			// The first connection to the server, or fast open is off at one end
			// (on Linux, net.ipv4.tcp_fastopen needs 0x1 on the client, 0x2 on the
			// server).
			log.Printf("connection %d: not fast-opened", i)
		}
	}
	// The log goes to standard error, which the output below leaves out, since it
	// depends on the system: as root on Linux, where the tests run in a network
	// namespace with fast open on, every connection that finds a cookie cached logs
	// "fast-opened"; on a host with the default net.ipv4.tcp_fastopen=1, both log "not
	// fast-opened".

	// Output:
	// pong 1
	// pong 2
}

func ExampleReport() {
	ln, err := tfo.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	served := serveOnce(ln, "pong ")
	c, err := tfo.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(c, "1")
	reply, err := io.ReadAll(c)
	if err != nil {
		log.Fatal(err)
	}
	c.Close()
	<-served
	fmt.Print(string(reply))

	// Report says what became of fast open on the conn, after Close too: in a sentence
	// with %v, as a short name with MarshalText. Which outcome it is depends on the
	// system and on the conns before, so it goes to the log (standard error, which the
	// output below leaves out): "fast-opened", "cookie-received" for a first conn to
	// a server, or a reason why fast open did not happen.
	outcome, err := tfo.Report(c)
	if err != nil {
		log.Fatal(err)
	}
	name, _ := outcome.MarshalText()
	log.Printf("%s: %v", name, outcome)

	// Output:
	// pong 1
}

func ExampleCounts() {
	// A service publishes the count of each outcome among the conns it dialed, for a
	// dashboard of its fast open rate, at /debug/vars with package expvar:
	//
	//	expvar.Publish("tfo", expvar.Func(func() any { return tfo.Counts() }))
	//
	// The map's keys are the outcomes' short names in JSON. Here a conn dialed with
	// fast open turned off counts once, when it connects.
	ln, err := tfo.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	before := tfo.Counts()[tfo.OutcomeDisabled]
	d := tfo.Dialer{DisableTFO: true}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	c.Close()
	after := tfo.Counts()
	b, err := json.Marshal(map[tfo.Outcome]uint64{tfo.OutcomeDisabled: after[tfo.OutcomeDisabled] - before})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
	// Output: {"disabled":1}
}

func ExampleDefaultReplayable() {
	// What a default Dialer lets into the SYN, where bytes may reach the server twice.
	for _, first := range []string{
		"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"POST /pay HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\n{}",
		"POST /pay HTTP/1.1\r\nHost: example.com\r\nIdempotency-Key: 8e0f\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // a TLS ClientHello
		"PING 1\r\n",
	} {
		fmt.Println(tfo.DefaultReplayable([]byte(first)))
	}
	// Output:
	// true
	// false
	// true
	// true
	// true
}

func ExampleDialer_replayable() {
	// A protocol whose "PAY" command must run once keeps it out of the SYN; the other
	// first messages, and every HTTP request that net/http would send twice, fast-open.
	d := &tfo.Dialer{Replayable: func(first []byte) bool {
		return !bytes.HasPrefix(first, []byte("PAY ")) && tfo.DefaultReplayable(first)
	}}
	for _, first := range []string{"PAY 10 EUR\n", "BALANCE\n"} {
		fmt.Println(first[:len(first)-1], d.Replayable([]byte(first)))
	}
	// Output:
	// PAY 10 EUR false
	// BALANCE true
}
