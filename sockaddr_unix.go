//go:build unix

package tfo

import (
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// These conversions serve the platforms whose dial makes the socket itself and
// connects it with a call that takes a sockaddr (connectx, sendto); they depend on
// nothing of those platforms.

// family returns the address family of a socket that connects to ra.
func family(ra *net.TCPAddr) int {
	if ra.IP.To4() != nil {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// sockaddr returns a as a socket address of family, for connect or bind. An
// unspecified or missing IP is the wildcard address of family, so that a local address
// such as "[::]:0" binds a socket of either family, as with package net.
func sockaddr(a *net.TCPAddr, family int) (unix.Sockaddr, error) {
	wildcard := a.IP == nil || a.IP.IsUnspecified()
	if family == unix.AF_INET {
		sa := &unix.SockaddrInet4{Port: a.Port}
		if !wildcard {
			ip := a.IP.To4()
			if ip == nil {
				return nil, &net.AddrError{Err: "non-IPv4 address", Addr: a.IP.String()}
			}
			copy(sa.Addr[:], ip)
		}
		return sa, nil
	}
	sa := &unix.SockaddrInet6{Port: a.Port, ZoneId: zoneIndex(a.Zone)}
	if !wildcard {
		ip := a.IP.To16()
		if ip == nil || a.IP.To4() != nil {
			return nil, &net.AddrError{Err: "non-IPv6 address", Addr: a.IP.String()}
		}
		copy(sa.Addr[:], ip)
	}
	return sa, nil
}

// tcpAddr returns the TCP address of a socket address, or nil for another kind.
func tcpAddr(sa unix.Sockaddr) *net.TCPAddr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)))
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr).WithZone(zoneName(sa.ZoneId))
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(sa.Port)))
	}
	return nil
}

// zoneIndex returns the interface index that an IPv6 zone names, as package net reads
// a zone: an interface name, or else a decimal index.
func zoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.ParseUint(zone, 10, 32)
	return uint32(n)
}

// zoneName returns the zone of an interface index: the interface's name, or else the
// index in decimal.
func zoneName(index uint32) string {
	if index == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(index), 10)
}
