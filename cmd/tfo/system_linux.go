package main

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// clientSettingAdvice is the advice of the verdict client-off.
const clientSettingAdvice = "turn the client bit on, as root: sysctl -w net.ipv4.tcp_fastopen=3 (1 for clients alone), and keep it in a file in /etc/sysctl.d/"

// kernelRelease returns the kernel's release, from uname(2).
func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// fastOpenSysctl is the file of net.ipv4.tcp_fastopen. Its value is that of the
// network namespace of the thread that opens it.
const fastOpenSysctl = "/proc/sys/net/ipv4/tcp_fastopen"

// clientSetting returns net.ipv4.tcp_fastopen, whose bit 0x1 lets clients fast-open
// (Documentation/networking/ip-sysctl.rst).
func clientSetting() Setting {
	s := Setting{Name: "net.ipv4.tcp_fastopen"}
	b, err := os.ReadFile(fastOpenSysctl)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		s.Error = fastOpenSysctl + ": " + err.Error()
		return s
	}
	client := v&0x1 != 0
	s.Value, s.Client = &v, &client
	return s
}

// pathTo returns the path to ip, from the addresses of this machine and, for the device
// the path leaves by, /sys/class/net.
func pathTo(ip netip.Addr) Path {
	dev := deviceTo(ip)
	if dev == "" {
		return Path{}
	}
	return devicePath("/sys/class/net", dev)
}

// deviceTo returns the device by which packets to ip leave: lo for a loopback address
// or one of this machine's, else the device of the source address that a UDP socket
// connected to ip takes (which sends nothing), or "" if unknown.
func deviceTo(ip netip.Addr) string {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return "lo"
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 9)))
	if err != nil {
		return ""
	}
	src := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	c.Close()
	if src == ip.Unmap() {
		return "lo"
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifc := range ifs {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == src {
				return ifc.Name
			}
		}
	}
	return ""
}

// devicePath returns the Path by dev, whose entry in sysfs, a directory such as
// /sys/class/net, tells whether it is one end of a pair and whether it has RPS.
func devicePath(sysfs, dev string) Path {
	p := Path{Device: dev, SameHost: dev == "lo"}
	dir := filepath.Join(sysfs, dev)
	if !p.SameHost {
		// A veth's iflink is its peer's index; a device of hardware has a device link,
		// and a VLAN or macvlan a lower_ one.
		index, ierr := os.ReadFile(filepath.Join(dir, "ifindex"))
		link, lerr := os.ReadFile(filepath.Join(dir, "iflink"))
		_, derr := os.Stat(filepath.Join(dir, "device"))
		lowers, _ := filepath.Glob(filepath.Join(dir, "lower_*"))
		p.SameHost = ierr == nil && lerr == nil && !bytes.Equal(index, link) && os.IsNotExist(derr) && len(lowers) == 0
	}
	if b, err := os.ReadFile(filepath.Join(dir, "queues", "rx-0", "rps_cpus")); err == nil {
		on := strings.Trim(strings.TrimSpace(string(b)), "0,") != ""
		p.RPS = &on
	}
	return p
}
