package tfo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// onWire is true when the tests run in a private network namespace of their own, with
// lo up and net.ipv4.tcp_fastopen=3, where they can assert what crossed the wire.
var onWire bool

const netnsEnv = "TFO_TEST_PRIVATE_NETNS"

// runInPrivateNetns runs the test binary again, with the same arguments, in a new
// network namespace, and reports its exit code; done is false in that child, and when
// the namespace cannot be made (not root), so that the tests run here. The host's
// network and settings are never touched.
func runInPrivateNetns() (code int, done bool) {
	if os.Getenv(netnsEnv) != "" {
		if err := setupNetns(); err != nil {
			fmt.Fprintln(os.Stderr, "tfo tests: setting up the private network namespace:", err)
			return 2, true
		}
		onWire = true
		return 0, false
	}
	if os.Geteuid() != 0 {
		return 0, false
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &exit):
		return exit.ExitCode(), true
	}
	fmt.Fprintln(os.Stderr, "tfo tests: cannot make a private network namespace, so on-wire tests skip:", err)
	return 0, false
}

// setupNetns brings lo up and turns fast open on for clients and servers, in the
// namespace this process runs in.
func setupNetns() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS: %w", err)
	}
	return writeSysctl("net/ipv4/tcp_fastopen", "3")
}

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

// readTCPExt reads the TcpExt counters of /proc/net/netstat, which are the namespace's.
func readTCPExt(t testing.TB) tcpExt {
	t.Helper()
	f, err := os.Open("/proc/net/netstat")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	ext := tcpExt{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 0 || fields[0] != "TcpExt:" {
			continue
		}
		if names == nil {
			names = fields[1:]
			continue
		}
		for i, v := range fields[1:] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("/proc/net/netstat: %v", err)
			}
			ext[names[i]] = n
		}
	}
	if len(ext) == 0 {
		t.Fatal("/proc/net/netstat has no TcpExt counters")
	}
	return ext
}

// blackhole returns an address on a fresh loopback IP for which a cookie is cached, and
// whose listener drops every SYN: its accept queue is full.
func blackhole(t testing.TB) string {
	t.Helper()
	requireWire(t)
	blackholes++
	ip := fmt.Sprintf("127.0.1.%d", blackholes)
	ln, err := (&ListenConfig{}).Listen(context.Background(), "tcp", ip+":0")
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
	return ln.Addr().String()
}

var blackholes int
