package netns

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// env marks the copy of a program that Enter runs in the new namespace.
const env = "TFO_PRIVATE_NETNS"

// Enter runs the program again, with the same arguments, standard input and output, in a
// new network namespace with lo up and net.ipv4.tcp_fastopen=3, and returns the exit
// code of that run with done true. In the namespace, Enter sets it up and returns done
// false, and so it does where the namespace cannot be made (not root), after saying so
// on standard error, prefixed by name.
func Enter(name string) (code int, done bool) {
	if os.Getenv(env) != "" {
		if err := Setup(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: setting up the private network namespace: %v\n", name, err)
			return 2, true
		}
		inside = true
		return 0, false
	}
	if os.Geteuid() != 0 {
		return 0, false
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), env+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &exit):
		return exit.ExitCode(), true
	}
	fmt.Fprintf(os.Stderr, "%s: cannot make a private network namespace, so running on the host: %v\n", name, err)
	return 0, false
}

// Setup brings lo up and turns fast open on for clients and servers, in the network
// namespace of the calling thread: the process's, unless the thread has moved to
// another with unshare(2) or setns(2). The thread must not change while it runs (see
// runtime.LockOSThread) if it may differ from the process's.
func Setup() error {
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
	return os.WriteFile("/proc/sys/net/ipv4/tcp_fastopen", []byte("3"), 0)
}

// netstat holds the calling thread's TcpExt counters.
const netstat = "/proc/thread-self/net/netstat"

// ReadTCPExt returns the TcpExt counters of the calling thread's network namespace, by
// name, such as TCPFastOpenActive and TCPFastOpenPassive: those of the process's
// namespace, unless the thread has moved to another (see [Setup]).
//
// It reads /proc/thread-self/net/netstat: /proc/net/netstat is that of the process's
// main thread, whatever the namespace of the calling thread.
func ReadTCPExt() (map[string]int64, error) {
	f, err := os.Open(netstat)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	ext := map[string]int64{}
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
		if len(fields)-1 != len(names) {
			return nil, errors.New(netstat + ": TcpExt names and values differ in number")
		}
		for i, v := range fields[1:] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", netstat, err)
			}
			ext[names[i]] = n
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if len(ext) == 0 {
		return nil, errors.New(netstat + " has no TcpExt counters")
	}
	return ext, nil
}
