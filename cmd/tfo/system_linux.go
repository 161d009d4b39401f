package main

import (
	"os"
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
