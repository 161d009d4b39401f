package tfo

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

func writeSysctl(name, value string) error {
	return os.WriteFile("/proc/sys/"+name, []byte(value), 0)
}

func readSysctl(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// setSysctl sets a sysctl of the private namespace for the rest of the test.
func setSysctl(t testing.TB, name, value string) {
	t.Helper()
	requireWire(t)
	old := readSysctl(t, name)
	if err := writeSysctl(name, value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { writeSysctl(name, old) })
}

// blackhole returns an address on a fresh loopback IP for which a cookie is cached, and
// whose listener drops every SYN: its accept queue is full.
func blackhole(t testing.TB) string {
	t.Helper()
	blackholes++
	return blackholeOn(t, fmt.Sprintf("127.0.1.%d:0", blackholes))
}

// blackholeOn is blackhole on address, an IP address and a port (0 for any).
func blackholeOn(t testing.TB, address string) string {
	t.Helper()
	requireWire(t)
	ln, err := (&ListenConfig{}).Listen(context.Background(), "tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	// Fill the queue with one connection that is never accepted, after setting the
	// backlog to zero; that connection also fetches the cookie.
	rc, _ := ln.(*net.TCPListener).SyscallConn()
	rc.Control(func(fd uintptr) { syscall.Listen(int(fd), 0) })
	c, err := Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// With a cookie cached already, the dial deferred its connect: the write makes it.
	if _, err := c.Write([]byte("fill")); err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String()
}

var blackholes int
