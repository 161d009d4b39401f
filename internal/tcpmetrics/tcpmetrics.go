// Package tcpmetrics reads and deletes the entries of the Linux kernel's TCP metrics
// cache, where the kernel keeps, per destination and source address, what it learned
// from past connections: among others the TCP Fast Open cookie that a server gave,
// and how many SYNs carrying data to it were lost in a row. `ip tcp_metrics` shows
// the same.
//
// The cache belongs to a network namespace: each call reads or changes that of the
// calling thread, the process's unless the thread has moved to another (see
// runtime.LockOSThread).
//
// It speaks generic netlink (family "tcp_metrics", include/uapi/linux/tcp_metrics.h;
// the kernel's side is net/ipv4/tcp_metrics.c) with the netlink sockets of
// golang.org/x/sys/unix, which the module already needs. A generic netlink module
// (github.com/mdlayher/genetlink, over github.com/mdlayher/netlink) would bring two
// more modules and their own dependencies for what here takes three requests, each
// answered at once by the kernel: a lookup of the family, a get or dump, a delete.
//
// On other systems every call returns an error that matches errors.ErrUnsupported.
package tcpmetrics

import (
	"errors"
	"net/netip"
	"time"
)

// ErrNotFound is matched (with errors.Is) by the error of Get and Delete when the cache
// has no entry for the address.
var ErrNotFound = errors.New("no such entry")

// An Entry is what the kernel remembers about connections to one address from one
// source address. A zero field means that the kernel recorded nothing for it.
type Entry struct {
	Addr   netip.Addr // the destination
	Source netip.Addr // the local address the connections came from

	// Age is the time since the kernel last updated the entry.
	Age time.Duration

	// RTT and RTTVar are the smoothed round-trip time and its variation, as kept when
	// connections end; SSThresh, CWnd and Reordering the slow start threshold, the
	// congestion window, in segments, and the reordering metric.
	RTT, RTTVar                time.Duration
	SSThresh, CWnd, Reordering uint32

	// FastOpenMSS is the MSS the server announced with its cookie.
	FastOpenMSS int

	// Cookie is the fast open cookie the server gave, nil if none.
	Cookie []byte

	// SYNDrops counts the SYNs with data to the address that were lost in a row, as the
	// kernel judges it: the SYN had to be sent again, and the SYN-ACK acknowledged no
	// data. A SYN-ACK that acknowledges the data resets it. SYNDropAge is the time
	// since the last of those losses.
	SYNDrops   int
	SYNDropAge time.Duration
}
