package main

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// clientSettingAdvice is the advice of the verdict client-off.
const clientSettingAdvice = "turn the client bit on, as root: sysctl -w net.inet.tcp.fastopen=3 (2 for clients alone)"

// kernelRelease returns the kernel's release, the sysctl kern.osrelease.
func kernelRelease() string {
	r, err := unix.Sysctl("kern.osrelease")
	if err != nil {
		return ""
	}
	return r
}

// clientSetting returns net.inet.tcp.fastopen, whose bit 0x2 lets clients fast-open
// (TCP_FASTOPEN_CLIENT in bsd/netinet/tcp_var.h).
func clientSetting() Setting {
	s := Setting{Name: "net.inet.tcp.fastopen"}
	v, err := unix.SysctlUint32(s.Name)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	n, client := int(v), v&0x2 != 0
	s.Value, s.Client = &n, &client
	return s
}

// pathTo tells nothing of the path: only Linux's is read.
func pathTo(netip.Addr) Path { return Path{} }
