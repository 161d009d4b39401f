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

// TCP option kinds: RFC 9293, section 3.2; fast open, RFC 7413, section 4.1.1; and the
// experimental kind of RFC 6994, whose two bytes after the length name the experiment.
const (
	optEnd        = 0
	optNOP        = 1
	optFastOpen   = 34
	optExperiment = 254
	fastOpenMagic = 0xF989 // the experiment of fast open before it had kind 34
)

// StripFastOpen overwrites with NOPs the fast open options in p, an IPv4 or IPv6
// packet, if it holds a SYN or a SYN-ACK, and updates its TCP checksum to match: both
// the option of RFC 7413 (kind 34) and its experimental form (kind 254 with the magic
// number 0xF989), whether they carry a cookie or ask for one. It reports whether it
// changed p. It leaves the rest in place, the data of a SYN included, as a middlebox
// that removes the options it does not know does, and stops at an option whose length
// is wrong. It does not look past IPv6 extension headers, nor into fragments. It suits
// Config.Rewrite.
func StripFastOpen(p []byte) bool {
	seg, ok := tcpSegment(p)
	if !ok || len(seg) < 20 || seg[13]&tcpSYN == 0 {
		return false
	}
	off := int(seg[12]>>4) * 4
	if off > len(seg) {
		return false
	}
	changed := false
	for i := 20; i < off; {
		switch seg[i] {
		case optEnd:
			return changed
		case optNOP:
			i++
			continue
		}
		if i+1 >= off {
			return changed
		}
		n := int(seg[i+1])
		if n < 2 || i+n > off {
			return changed
		}
		if seg[i] == optFastOpen || seg[i] == optExperiment && n >= 4 && binary.BigEndian.Uint16(seg[i+2:]) == fastOpenMagic {
			fillNOPs(seg, i, i+n)
			changed = true
		}
		i += n
	}
	return changed
}

// fillNOPs overwrites seg[from:to], within the options of the TCP segment seg, with
// NOPs, and updates the checksum to match.
func fillNOPs(seg []byte, from, to int) {
	// The header's length is a multiple of 4, so the words stay within it.
	rewriteWords(seg, from&^1, (to+1)&^1, func() {
		for i := from; i < to; i++ {
			seg[i] = optNOP
		}
	})
}

// setSourcePort sets the source port of seg, a TCP segment, and updates its checksum to
// match.
func setSourcePort(seg []byte, port uint16) {
	rewriteWords(seg, 0, 2, func() { binary.BigEndian.PutUint16(seg[0:2], port) })
}

// rewriteWords runs change, which changes seg[lo:hi] of the TCP segment seg, lo and hi
// even, and updates the checksum incrementally, over the 16-bit words that change, as
// RFC 1624, section 3, equation 3 does: HC' = ~(~HC + ~m + m'). The pseudo-header,
// IPv4's or IPv6's, does not change.
func rewriteWords(seg []byte, lo, hi int, change func()) {
	sum := uint32(^binary.BigEndian.Uint16(seg[16:18]))
	for i := lo; i < hi; i += 2 {
		sum += uint32(^binary.BigEndian.Uint16(seg[i:]))
	}
	change()
	for i := lo; i < hi; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(seg[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(seg[16:18], ^uint16(sum))
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
