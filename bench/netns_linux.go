package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// inNetns is true in the private network namespace that enterNetns makes.
var inNetns bool

const netnsEnv = "TFO_BENCH_NETNS"

// enterNetns runs this program again, with the same arguments, in a new network
// namespace with lo up and net.ipv4.tcp_fastopen=3, and returns its exit code with done
// true. In that namespace, and where it cannot be made (not root), done is false and
// the program goes on where it is. The host's network and settings are never touched.
func enterNetns() (code int, done bool) {
	if os.Getenv(netnsEnv) != "" {
		if err := setupNetns(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: setting up the private network namespace:", err)
			return 2, true
		}
		inNetns = true
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
	fmt.Fprintln(os.Stderr, "bench: cannot make a private network namespace, so running on the host:", err)
	return 0, false
}

// setupNetns brings lo up and turns fast open on for clients and servers, in the
// network namespace this process runs in.
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
	return os.WriteFile("/proc/sys/net/ipv4/tcp_fastopen", []byte("3"), 0)
}
