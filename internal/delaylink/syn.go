package delaylink

import "encoding/binary"

// TCP header flags (RFC 9293, section 3.1).
const (
	tcpSYN = 0x02
	tcpACK = 0x10
)

// SYNWithData reports whether p, an IPv4 or IPv6 packet, holds a TCP segment that opens a
// connection (SYN set, ACK clear) and carries data, as the SYN of a fast open client
// with a cookie does. It does not look past IPv6 extension headers, nor into fragments.
// It suits Config.Drop.
func SYNWithData(p []byte) bool {
	seg, ok := tcpSegment(p)
	if !ok || len(seg) < 20 {
		return false
	}
	off := int(seg[12]>>4) * 4
	flags := seg[13]
	return flags&(tcpSYN|tcpACK) == tcpSYN && off >= 20 && len(seg) > off
}

// tcpSegment returns the TCP segment that p, an IPv4 or IPv6 packet, carries.
func tcpSegment(p []byte) (seg []byte, ok bool) {
	if len(p) == 0 {
		return nil, false
	}
	switch p[0] >> 4 {
	case 4: // RFC 791, section 3.1
		if len(p) < 20 {
			return nil, false
		}
		hlen := int(p[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(p[2:4]))
		fragment := binary.BigEndian.Uint16(p[6:8]) & 0x3fff // MF flag and offset
		if p[9] != 6 || fragment != 0 || hlen < 20 || total < hlen || total > len(p) {
			return nil, false
		}
		return p[hlen:total], true
	case 6: // RFC 8200, section 3
		if len(p) < 40 || p[6] != 6 {
			return nil, false
		}
		end := 40 + int(binary.BigEndian.Uint16(p[4:6]))
		if end > len(p) {
			return nil, false
		}
		return p[40:end], true
	}
	return nil, false
}
