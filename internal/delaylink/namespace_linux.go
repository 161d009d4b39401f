package delaylink

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fastopen/tfo/internal/netns"
)

// errClosed is the error of a call on a closed link.
var errClosed = errors.New("delaylink: link closed")

// threads runs functions on threads of one network namespace. Each thread serves one
// function at a time; Do starts another when none is idle. A thread never leaves the
// namespace: it ends with its goroutine, which returns still locked to it.
type threads struct {
	fd     int         // the namespace, for setns(2)
	work   chan func() // taken by idle threads
	quit   chan struct{}
	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup
}

// newNamespace makes a network namespace, sets it up and makes its end of the link, the
// TUN device Device with the addresses addr and addr6, whose file it returns.
func newNamespace(addr, addr6 netip.Prefix) (*Namespace, *os.File, error) {
	n := &Namespace{addr: addr.Addr(), addr6: addr6.Addr()}
	n.fd = -1
	n.work = make(chan func())
	n.quit = make(chan struct{})
	if err := n.start(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return os.NewSyscallError("unshare", err)
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: "/proc/thread-self/ns/net", Err: err}
		}
		n.fd = fd
		return nil
	}, nil); err != nil {
		return nil, nil, err
	}
	var dev *os.File
	if err := n.Do(func() (err error) {
		dev, err = makeDevice(addr, addr6)
		return err
	}); err != nil {
		n.close()
		return nil, nil, err
	}
	return n, dev, nil
}

// Do calls f on a thread of the namespace and returns its error. The sockets that f
// makes belong to the namespace; goroutines that f starts run on other threads, in the
// process's namespace, and so do the sockets they make. Calls may run at once, each on
// a thread of its own.
func (n *Namespace) Do(f func() error) error {
	var err error
	done := make(chan struct{})
	job := func() {
		defer close(done)
		err = f()
	}
	select {
	case n.work <- job:
	default:
		if err := n.start(func() error { return enter(n.fd) }, job); err != nil {
			return err
		}
	}
	<-done
	return err
}

// start starts a thread that calls into, which moves it into the namespace, then runs
// first, if not nil, and serves n.work until n closes.
func (n *Namespace) start(into func() error, first func()) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errClosed
	}
	n.wg.Add(1)
	entered := make(chan error, 1)
	goLocked(func() {
		defer n.wg.Done()
		err := into()
		entered <- err
		if err != nil {
			return
		}
		if first != nil {
			first()
		}
		for {
			select {
			case job := <-n.work:
				job()
			case <-n.quit:
				return
			}
		}
	})
	return <-entered
}

// close ends the namespace's threads, after the calls they run, and closes its
// descriptor.
func (n *Namespace) close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	close(n.quit)
	n.mu.Unlock()
	n.wg.Wait()
	if n.fd >= 0 {
		unix.Close(n.fd)
	}
}

// enter moves the calling thread into the network namespace fd.
func enter(fd int) error {
	return os.NewSyscallError("setns", unix.Setns(fd, unix.CLONE_NEWNET))
}

// goLocked calls f in a new goroutine locked to a thread other than the process's main
// thread, and ends that thread when f returns. The runtime never ends the main thread
// (it parks it instead), and /proc/self and /proc/net show the main thread's namespace,
// so it must never move.
func goLocked(f func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			f()
			return // still locked: the thread ends
		}
		// While this goroutine holds the main thread, another cannot get it.
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
			f()
		}()
		<-locked
		runtime.UnlockOSThread()
	}()
}

// ReadTCPExt returns the namespace's TcpExt counters, by name, such as
// TCPFastOpenActive and TCPFastOpenActiveFail.
func (n *Namespace) ReadTCPExt() (ext map[string]int64, err error) {
	derr := n.Do(func() error {
		ext, err = netns.ReadTCPExt()
		return nil
	})
	if derr != nil {
		return nil, derr
	}
	return ext, err
}

// SetSysctl sets the namespace's sysctl name, such as net.ipv4.tcp_syn_retries, to
// value.
func (n *Namespace) SetSysctl(name, value string) error {
	return n.Do(func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(name, ".", "/"), []byte(value), 0)
	})
}

// AddAddr6 gives the namespace's end of the link the IPv6 address addr, besides
// Addr6, so that servers can listen on addresses of their own. The other end reaches
// addr if it is in the link's prefix, 2001:2::/64.
func (n *Namespace) AddAddr6(addr netip.Addr) error {
	if !addr.Is6() || addr.Is4In6() || !linkPrefix6.Contains(addr) {
		return fmt.Errorf("delaylink: %v is not in %v", addr, linkPrefix6)
	}
	return n.Do(func() error {
		ifi, err := net.InterfaceByName(Device)
		if err != nil {
			return err
		}
		return addIPv6(int32(ifi.Index), netip.PrefixFrom(addr, linkPrefix6.Bits()))
	})
}

// makeDevice makes the TUN device Device in the calling thread's namespace, with the
// addresses addr and addr6, after bringing lo up and turning fast open on, and returns
// its file, non-blocking, so that closing it ends a Read.
func makeDevice(addr, addr6 netip.Prefix) (*os.File, error) {
	if err := netns.Setup(); err != nil {
		return nil, err
	}
	// See Documentation/networking/tuntap.rst.
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/dev/net/tun", Err: err}
	}
	ifr, err := unix.NewIfreq(Device)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	// Only now, with a device attached, does polling the descriptor wait for packets
	// (drivers/net/tun.c, tun_chr_poll): NewFile registers it with the runtime's poller.
	dev := os.NewFile(uintptr(fd), "/dev/net/tun")
	if err := configure(addr, addr6); err != nil {
		dev.Close()
		return nil, fmt.Errorf("configuring %s: %w", Device, err)
	}
	return dev, nil
}

// configure gives Device its MTU and addresses and brings it up.
func configure(addr, addr6 netip.Prefix) error {
	// Without duplicate address detection the IPv6 address is usable at once, and
	// without router solicitations the link carries only what programs send.
	for name, value := range map[string]string{"accept_dad": "0", "router_solicitations": "0"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+Device+"/"+name, []byte(value), 0); err != nil {
			return err
		}
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(Device)
	if err != nil {
		return err
	}
	ioctl := func(name string, req uint) error {
		if err := unix.IoctlIfreq(fd, req, ifr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	ifr.SetUint32(MTU)
	if err := ioctl("SIOCSIFMTU", unix.SIOCSIFMTU); err != nil {
		return err
	}
	// The device's queue holds what the kernel sends before the link reads it; a burst
	// larger than the default 500 packets would overflow it.
	ifr.SetUint32(txQueueLen)
	if err := ioctl("SIOCSIFTXQLEN", unix.SIOCSIFTXQLEN); err != nil {
		return err
	}
	a := addr.Addr().As4()
	if err := ifr.SetInet4Addr(a[:]); err != nil {
		return err
	}
	if err := ioctl("SIOCSIFADDR", unix.SIOCSIFADDR); err != nil {
		return err
	}
	if err := ifr.SetInet4Addr(net.CIDRMask(addr.Bits(), 32)); err != nil {
		return err
	}
	if err := ioctl("SIOCSIFNETMASK", unix.SIOCSIFNETMASK); err != nil {
		return err
	}
	if err := ioctl("SIOCGIFFLAGS", unix.SIOCGIFFLAGS); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := ioctl("SIOCSIFFLAGS", unix.SIOCSIFFLAGS); err != nil {
		return err
	}
	if err := ioctl("SIOCGIFINDEX", unix.SIOCGIFINDEX); err != nil {
		return err
	}
	return addIPv6(int32(ifr.Uint32()), addr6)
}

// txQueueLen is the length of the devices' queues.
const txQueueLen = 4096

// in6Ifreq is the kernel's struct in6_ifreq (include/uapi/linux/ipv6.h).
type in6Ifreq struct {
	addr      [16]byte
	prefixLen uint32
	ifindex   int32
}

// addIPv6 gives the device of index ifindex the address addr, with SIOCSIFADDR on an
// IPv6 socket, which takes a struct in6_ifreq (net/ipv6/addrconf.c, addrconf_add_ifaddr).
func addIPv6(ifindex int32, addr netip.Prefix) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	req := in6Ifreq{addr: addr.Addr().As16(), prefixLen: uint32(addr.Bits()), ifindex: ifindex}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCSIFADDR, uintptr(unsafe.Pointer(&req)))
	if errno != 0 {
		return fmt.Errorf("SIOCSIFADDR %v: %w", addr, errno)
	}
	// Even without duplicate address detection, the address stays tentative, and cannot
	// be bound, until a work queue has run (net/ipv6/addrconf.c, addrconf_dad_work).
	want := hex.EncodeToString(req.addr[:])
	for deadline := time.Now().Add(5 * time.Second); ; {
		tentative, err := ipv6Tentative(want)
		if err != nil || !tentative {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%v is still tentative", addr)
		}
		time.Sleep(time.Millisecond)
	}
}

// ipv6Tentative reports whether the calling thread's namespace has the IPv6 address
// addr (32 hexadecimal digits) tentative still, from /proc/net/if_inet6, whose lines
// hold the address, the device's index, the prefix length, the scope, the flags and
// the device's name.
func ipv6Tentative(addr string) (bool, error) {
	b, err := os.ReadFile("/proc/thread-self/net/if_inet6")
	if err != nil {
		return false, err
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 5 || f[0] != addr {
			continue
		}
		flags, err := strconv.ParseUint(f[4], 16, 32)
		if err != nil {
			return false, fmt.Errorf("/proc/net/if_inet6: %w", err)
		}
		return flags&unix.IFA_F_TENTATIVE != 0, nil
	}
	return false, fmt.Errorf("/proc/net/if_inet6 lacks %s", addr)
}
