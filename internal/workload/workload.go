// Package workload is what go run ./bench and the package's benchmarks measure over
// loopback: a server that answers fixed-size requests, a cycle of dial, request, reply
// and close, and round trips over an established connection.
package workload

import (
	"io"
	"net"
	"sync"
)

// MsgSize is the size of a request and of its reply.
const MsgSize = 64

// Dial is a dial function such as net.Dial or tfo.Dial.
type Dial func(network, address string) (net.Conn, error)

// Serve runs handle on each connection ln accepts, each in a goroutine of its own, and
// closes the connection when handle returns. The function it returns closes ln and
// waits for those goroutines.
func Serve(ln net.Listener, handle func(net.Conn)) (stop func()) {
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
	return func() {
		ln.Close()
		wg.Wait()
	}
}

// Reply reads one request and writes it back as the reply.
func Reply(c net.Conn) {
	buf := make([]byte, MsgSize)
	if _, err := io.ReadFull(c, buf); err == nil {
		c.Write(buf)
	}
}

// Echo writes back each request until the client closes.
func Echo(c net.Conn) {
	buf := make([]byte, MsgSize)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// Cycle dials addr, writes req, reads the reply into resp and closes: what a client
// that opens a connection per request does.
func Cycle(dial Dial, addr string, req, resp []byte) error {
	c, err := dial("tcp", addr)
	if err != nil {
		return err
	}
	_, err = c.Write(req)
	if err == nil {
		_, err = io.ReadFull(c, resp)
	}
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// RoundTrip writes buf on c and reads as many bytes back into it.
func RoundTrip(c net.Conn, buf []byte) error {
	if _, err := c.Write(buf); err != nil {
		return err
	}
	_, err := io.ReadFull(c, buf)
	return err
}
