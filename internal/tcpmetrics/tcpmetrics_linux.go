package tcpmetrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The family's name, version, commands and attributes (include/uapi/linux/tcp_metrics.h).
const (
	familyName    = "tcp_metrics"
	familyVersion = 1

	cmdGet = 1
	cmdDel = 2

	attrAddrIPv4      = 1  // u32, network byte order
	attrAddrIPv6      = 2  // 16 bytes
	attrAge           = 3  // u64, milliseconds
	attrVals          = 6  // nested: metric i has type i+1, a u32
	attrFopenMSS      = 7  // u16
	attrFopenSYNDrops = 8  // u16
	attrFopenSYNDropT = 9  // u64, milliseconds since the last drop
	attrFopenCookie   = 10 // bytes
	attrSaddrIPv4     = 11 // u32, network byte order
	attrSaddrIPv6     = 12 // 16 bytes
)

// The metrics in attrVals, each the index of enum tcp_metric_index plus one. The
// kernel gives RTT and RTTVar both in milliseconds and, since Linux 4.1, in
// microseconds, as it keeps them: scaled by 8 and by 4, as in struct tcp_sock (srtt_us,
// mdev_us; net/ipv4/tcp_metrics.c, tcp_update_metrics).
const (
	valRTT        = 1
	valRTTVar     = 2
	valSSThresh   = 3
	valCWnd       = 4
	valReordering = 5
	valRTTus      = 6
	valRTTVarUS   = 7
)

// genlHdrLen is the size of a generic netlink header, struct genlmsghdr (unix.Genlmsghdr).
const genlHdrLen = 4

// nlaTypeMask clears the nested and byte-order flags of an attribute's type
// (include/uapi/linux/netlink.h).
const nlaTypeMask = 0x3fff

// Get returns the kernel's entry for connections to addr from source, or, when source
// is the zero Addr, the first entry for addr that the kernel finds, whatever its
// source. An IPv4-mapped IPv6 address stands for its IPv4 address, as for the kernel.
// The error matches ErrNotFound if there is none.
func Get(addr, source netip.Addr) (Entry, error) {
	attrs, err := addrAttrs(addr, source)
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	found := false
	err = request(cmdGet, unix.NLM_F_ACK, attrs, func(b []byte) error {
		found = true
		return e.parse(b)
	})
	if errors.Is(err, unix.ESRCH) || err == nil && !found {
		return Entry{}, notFound("get", addr, source)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("tcpmetrics: get %v: %w", addr, err)
	}
	return e, nil
}

// All returns every entry of the cache.
func All() ([]Entry, error) {
	var all []Entry
	err := request(cmdGet, unix.NLM_F_DUMP, nil, func(b []byte) error {
		var e Entry
		if err := e.parse(b); err != nil {
			return err
		}
		all = append(all, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tcpmetrics: list: %w", err)
	}
	return all, nil
}

// Delete removes the entries for addr from source, or from every source when source
// is the zero Addr, so that the next connection to addr starts afresh: without a fast
// open cookie, among others. It needs CAP_NET_ADMIN. The error matches ErrNotFound if
// there was none.
func Delete(addr, source netip.Addr) error {
	attrs, err := addrAttrs(addr, source)
	if err != nil {
		return err
	}
	err = request(cmdDel, unix.NLM_F_ACK, attrs, nil)
	if errors.Is(err, unix.ESRCH) {
		return notFound("delete", addr, source)
	}
	if err != nil {
		return fmt.Errorf("tcpmetrics: delete %v: %w", addr, err)
	}
	return nil
}

// DeleteAll removes every entry of the cache. It needs CAP_NET_ADMIN.
func DeleteAll() error {
	if err := request(cmdDel, unix.NLM_F_ACK, nil, nil); err != nil {
		return fmt.Errorf("tcpmetrics: delete all: %w", err)
	}
	return nil
}

func notFound(op string, addr, source netip.Addr) error {
	if source.IsValid() {
		return fmt.Errorf("tcpmetrics: %s %v from %v: %w", op, addr, source, ErrNotFound)
	}
	return fmt.Errorf("tcpmetrics: %s %v: %w", op, addr, ErrNotFound)
}

// addrAttrs returns the attributes that name addr and, if valid, source.
func addrAttrs(addr, source netip.Addr) ([]byte, error) {
	if !addr.IsValid() {
		return nil, errors.New("tcpmetrics: no address")
	}
	b := appendAddr(nil, attrAddrIPv4, attrAddrIPv6, addr)
	if source.IsValid() {
		if source.Unmap().Is4() != addr.Unmap().Is4() {
			return nil, fmt.Errorf("tcpmetrics: source %v and address %v of different families", source, addr)
		}
		b = appendAddr(b, attrSaddrIPv4, attrSaddrIPv6, source)
	}
	return b, nil
}

func appendAddr(b []byte, v4, v6 uint16, a netip.Addr) []byte {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return appendAttr(b, v4, a.AsSlice())
	}
	return appendAttr(b, v6, a.AsSlice())
}

// appendAttr appends a netlink attribute, padded to 4 bytes (include/uapi/linux/netlink.h).
func appendAttr(b []byte, typ uint16, value []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.SizeofNlAttr+len(value)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, value...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// attrs calls f with the type and the value of each attribute in b.
func attrs(b []byte, f func(typ uint16, v []byte) error) error {
	for len(b) >= unix.SizeofNlAttr {
		n := int(binary.NativeEndian.Uint16(b))
		if n < unix.SizeofNlAttr || n > len(b) {
			return errMalformed
		}
		if err := f(binary.NativeEndian.Uint16(b[2:])&nlaTypeMask, b[unix.SizeofNlAttr:n]); err != nil {
			return err
		}
		b = b[min(align4(n), len(b)):]
	}
	return nil
}

var errMalformed = errors.New("malformed netlink message")

func align4(n int) int { return (n + 3) &^ 3 }

// parse sets e from the attributes of a TCP_METRICS_CMD_GET reply
// (net/ipv4/tcp_metrics.c, tcp_metrics_fill_info).
func (e *Entry) parse(b []byte) error {
	var rtt, rttVar, rttUS, rttVarUS uint32
	err := attrs(b, func(typ uint16, v []byte) error {
		var ok bool
		switch typ {
		case attrAddrIPv4, attrAddrIPv6:
			e.Addr, ok = netip.AddrFromSlice(v)
		case attrSaddrIPv4, attrSaddrIPv6:
			e.Source, ok = netip.AddrFromSlice(v)
		case attrAge:
			e.Age, ok = millis(v)
		case attrFopenMSS:
			e.FastOpenMSS, ok = u16(v)
		case attrFopenSYNDrops:
			e.SYNDrops, ok = u16(v)
		case attrFopenSYNDropT:
			e.SYNDropAge, ok = millis(v)
		case attrFopenCookie:
			e.Cookie, ok = append([]byte(nil), v...), true
		case attrVals:
			return attrs(v, func(typ uint16, v []byte) error {
				if len(v) != 4 {
					return errMalformed
				}
				x := binary.NativeEndian.Uint32(v)
				switch typ {
				case valRTT:
					rtt = x
				case valRTTVar:
					rttVar = x
				case valSSThresh:
					e.SSThresh = x
				case valCWnd:
					e.CWnd = x
				case valReordering:
					e.Reordering = x
				case valRTTus:
					rttUS = x
				case valRTTVarUS:
					rttVarUS = x
				}
				return nil
			})
		default:
			ok = true // an attribute of an older or newer kernel
		}
		if !ok {
			return errMalformed
		}
		return nil
	})
	e.RTT = unscale(rttUS, rtt, 8)
	e.RTTVar = unscale(rttVarUS, rttVar, 4)
	return err
}

// unscale returns the duration that a metric kept scaled by scale stands for, from its
// value in microseconds if the kernel gave it, or else in milliseconds.
func unscale(us, ms uint32, scale time.Duration) time.Duration {
	if us != 0 {
		return time.Duration(us) * time.Microsecond / scale
	}
	return time.Duration(ms) * time.Millisecond / scale
}

func u16(v []byte) (int, bool) {
	if len(v) != 2 {
		return 0, false
	}
	return int(binary.NativeEndian.Uint16(v)), true
}

// millis reads an NLA_MSECS attribute, a u64 (include/net/netlink.h, nla_put_msecs).
func millis(v []byte) (time.Duration, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return time.Duration(binary.NativeEndian.Uint64(v)) * time.Millisecond, true
}

// request sends a request to the tcp_metrics family, on a netlink socket of its own
// made in the calling thread's network namespace, and calls each, if not nil, with the
// attributes of every message of the reply.
func request(cmd uint8, flags uint16, attrs []byte, each func([]byte) error) error {
	c, err := dial()
	if err != nil {
		return err
	}
	defer unix.Close(c.fd)
	family, err := c.family(familyName)
	if err != nil {
		return err
	}
	return c.do(family, flags, cmd, familyVersion, attrs, each)
}

// A conn is a generic netlink socket.
type conn struct {
	fd  int
	seq uint32
}

func dial() (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	return &conn{fd: fd}, nil
}

// family returns the id of the generic netlink family name, from the controller
// (CTRL_CMD_GETFAMILY; include/uapi/linux/genetlink.h).
func (c *conn) family(name string) (uint16, error) {
	var id uint16
	err := c.do(unix.GENL_ID_CTRL, unix.NLM_F_ACK, unix.CTRL_CMD_GETFAMILY, 1,
		appendAttr(nil, unix.CTRL_ATTR_FAMILY_NAME, append([]byte(name), 0)),
		func(b []byte) error {
			return attrs(b, func(typ uint16, v []byte) error {
				if typ == unix.CTRL_ATTR_FAMILY_ID && len(v) == 2 {
					id = binary.NativeEndian.Uint16(v)
				}
				return nil
			})
		})
	if err == nil && id == 0 {
		err = errMalformed
	}
	if err != nil {
		return 0, fmt.Errorf("generic netlink family %s: %w", name, err)
	}
	return id, nil
}

// do sends a request of type typ (a family's id) with the generic netlink header cmd
// and version and the attributes attrs, then reads the reply, calling each with the
// attributes of each message, until the kernel acknowledges the request or, for a
// dump, ends it. It returns the kernel's error, if any, as a *os.SyscallError.
func (c *conn) do(typ, flags uint16, cmd, version uint8, attrs []byte, each func([]byte) error) error {
	c.seq++
	const hdrLen = unix.SizeofNlMsghdr + genlHdrLen
	msg := make([]byte, hdrLen, hdrLen+len(attrs))
	binary.NativeEndian.PutUint32(msg[0:], uint32(hdrLen+len(attrs)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(msg[8:], c.seq)
	msg[unix.SizeofNlMsghdr] = cmd
	msg[unix.SizeofNlMsghdr+1] = version
	msg = append(msg, attrs...)
	if err := unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto", err)
	}
	// A dump's messages come in parts of at most 32 KiB (net/netlink/af_netlink.c,
	// netlink_dump).
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("recvfrom", err)
		}
		if done, err := c.read(buf[:n], each); done || err != nil {
			return err
		}
	}
}

// read calls each with the attributes of each message in b, a datagram of replies to
// request c.seq, and reports whether it holds the last: the acknowledgement, a dump's
// end, or an error, which it returns.
func (c *conn) read(b []byte, each func([]byte) error) (done bool, err error) {
	for len(b) > 0 {
		if len(b) < unix.SizeofNlMsghdr {
			return true, errMalformed
		}
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return true, errMalformed
		}
		m := b[:l]
		b = b[min(align4(l), len(b)):]
		if binary.NativeEndian.Uint32(m[8:]) != c.seq {
			continue // the answer to an earlier request
		}
		body := m[unix.SizeofNlMsghdr:]
		switch binary.NativeEndian.Uint16(m[4:]) {
		case unix.NLMSG_ERROR, unix.NLMSG_DONE:
			return true, ackError(body)
		}
		if len(body) < genlHdrLen {
			return true, errMalformed
		}
		if each != nil {
			if err := each(body[genlHdrLen:]); err != nil {
				return true, err
			}
		}
	}
	return false, nil
}

// ackError returns the error of body, an error or acknowledgement message's: an int,
// the negated errno (0 for an acknowledgement), then the request. A dump's end may
// carry one too, or nothing.
func ackError(body []byte) error {
	if len(body) < 4 {
		return nil
	}
	if errno := int32(binary.NativeEndian.Uint32(body)); errno < 0 {
		return os.NewSyscallError("netlink", unix.Errno(-errno))
	}
	return nil
}
