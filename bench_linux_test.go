package tfo

import (
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fastopen/tfo/internal/workload"
)

func init() {
	readFastOpens = func(tb testing.TB) (active, passive int64) {
		ext := readTCPExt(tb)
		return ext["TCPFastOpenActive"], ext["TCPFastOpenPassive"]
	}
}

// BenchmarkMechanism compares the two ways a Linux client fast-opens a connection:
// TCP_FASTOPEN_CONNECT, which lets net.Dialer make and connect the socket, and
// sendto(2) with MSG_FASTOPEN, which needs a socket that has not connected.
func BenchmarkMechanism(b *testing.B) {
	if !onWire {
		b.Skip("needs a private network namespace with net.ipv4.tcp_fastopen=3 (run as root)")
	}
	req, resp := make([]byte, workload.MsgSize), make([]byte, workload.MsgSize)
	b.Run("connect", func(b *testing.B) {
		addr := serve(b, listenBench(b, Listen), workload.Reply)
		d := net.Dialer{Control: workload.KernelFastOpen}
		benchCycles(b, func() error { return workload.Cycle(d.Dial, addr, req, resp) }, true)
	})
	b.Run("sendto", func(b *testing.B) {
		ln := listenBench(b, Listen)
		sa := &unix.SockaddrInet4{Port: ln.Addr().(*net.TCPAddr).Port, Addr: [4]byte{127, 0, 0, 1}}
		serve(b, ln, workload.Reply)
		benchCycles(b, func() error { return sendtoCycle(sa, req, resp) }, true)
	})
}

// sendtoCycle is a cycle whose connect is sendto(2) with MSG_FASTOPEN: the SYN carries
// req when a cookie is cached for sa, and asks for one otherwise, in which case req
// follows the handshake.
func sendtoCycle(sa unix.Sockaddr, req, resp []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return err
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var (
		n    int
		sent bool
		serr error
	)
	err = rc.Write(func(fd uintptr) bool {
		if !sent {
			// sendmsg(2) is sendto(2) with a count: unix.Sendto returns none.
			n, serr = unix.SendmsgN(int(fd), req, nil, sa, unix.MSG_FASTOPEN)
			switch serr {
			case unix.EINTR:
				return false
			case unix.EINPROGRESS:
				n, serr = 0, nil
			case nil:
			default:
				serr = os.NewSyscallError("sendto", serr)
				return true
			}
			sent = true
		}
		soerr, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			serr = os.NewSyscallError("getsockopt", err)
		case soerr != 0:
			serr = os.NewSyscallError("connect", syscall.Errno(soerr))
		default:
			return tcpState(int(fd)) != tcpSynSent
		}
		return true
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	if n < len(req) {
		if _, err := c.Write(req[n:]); err != nil {
			return err
		}
	}
	if _, err := io.ReadFull(c, resp); err != nil {
		return err
	}
	return c.Close()
}

// BenchmarkDialFastOpenOff measures what a refused client setting costs a dial: with the
// client bit of net.ipv4.tcp_fastopen off, each tfo dial asks the system again, with a
// setsockopt(2) that fails, so that the setting takes effect at the next dial when it
// changes. net's cycles are measured beside it, with the same setting.
func BenchmarkDialFastOpenOff(b *testing.B) {
	if !onWire {
		b.Skip("needs a private network namespace with net.ipv4.tcp_fastopen=3 (run as root)")
	}
	old := readSysctl(b, "net/ipv4/tcp_fastopen")
	if err := writeSysctl("net/ipv4/tcp_fastopen", "2"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { writeSysctl("net/ipv4/tcp_fastopen", old) })
	req, resp := make([]byte, workload.MsgSize), make([]byte, workload.MsgSize)
	b.Run("net", func(b *testing.B) {
		addr := serve(b, listenBench(b, net.Listen), workload.Reply)
		benchCycles(b, func() error { return workload.Cycle(net.Dial, addr, req, resp) }, false)
	})
	b.Run("tfo", func(b *testing.B) {
		addr := serve(b, listenBench(b, Listen), workload.Reply)
		before := clientRefusal.count.Load()
		benchCycles(b, func() error { return workload.Cycle(Dial, addr, req, resp) }, false)
		if n := clientRefusal.count.Load() - before; n < int64(b.N) {
			b.Fatalf("%d refusals in %d dials: the setting was not asked at each", n, b.N)
		}
	})
}
