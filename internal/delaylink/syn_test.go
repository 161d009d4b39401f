package delaylink

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// tcpHeader returns a TCP header with flags and opts bytes of options, followed by
// data bytes of payload.
func tcpHeader(flags byte, opts, data int) []byte {
	seg := make([]byte, 20+opts+data)
	binary.BigEndian.PutUint16(seg[0:], 40000)
	binary.BigEndian.PutUint16(seg[2:], 80)
	seg[12] = byte((20+opts)/4) << 4
	seg[13] = flags
	return seg
}

// ipv4 wraps payload in an IPv4 header of protocol proto.
func ipv4(proto byte, payload []byte) []byte {
	p := make([]byte, 20, 20+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(20+len(payload)))
	p[6] = 0x40 // don't fragment
	p[8] = 64
	p[9] = proto
	copy(p[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	return append(p, payload...)
}

// ipv6 wraps payload in an IPv6 header whose next header is next.
func ipv6(next byte, payload []byte) []byte {
	p := make([]byte, 40, 40+len(payload))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(len(payload)))
	p[6] = next
	p[7] = 64
	copy(p[8:], netip.MustParseAddr("2001:2::1").AsSlice())
	copy(p[24:], netip.MustParseAddr("2001:2::2").AsSlice())
	return append(p, payload...)
}

func TestSYNWithData(t *testing.T) {
	const (
		syn = tcpSYN
		ack = tcpACK
		fin = 0x01
	)
	fragment := ipv4(6, tcpHeader(syn, 12, 100))
	fragment[6] |= 0x20 // more fragments
	truncated := ipv4(6, tcpHeader(syn, 12, 100))
	truncated = truncated[:len(truncated)-1]
	badOffset := ipv4(6, tcpHeader(syn, 0, 64))
	badOffset[20+12] = 4 << 4
	padded := append(ipv4(6, tcpHeader(syn, 20, 0)), 0, 0, 0, 0) // beyond the total length
	for _, tt := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"IPv4 SYN with data", ipv4(6, tcpHeader(syn, 20, 64)), true},
		{"IPv4 SYN with one byte", ipv4(6, tcpHeader(syn, 12, 1)), true},
		{"IPv6 SYN with data", ipv6(6, tcpHeader(syn, 20, 64)), true},
		{"IPv4 SYN FIN with data", ipv4(6, tcpHeader(syn|fin, 20, 64)), true},
		{"IPv4 SYN asking for a cookie", ipv4(6, tcpHeader(syn, 24, 0)), false},
		{"IPv6 SYN", ipv6(6, tcpHeader(syn, 20, 0)), false},
		{"IPv4 SYN-ACK with data", ipv4(6, tcpHeader(syn|ack, 20, 64)), false},
		{"IPv4 data", ipv4(6, tcpHeader(ack, 12, 64)), false},
		{"IPv4 UDP", ipv4(17, tcpHeader(syn, 20, 64)), false},
		{"IPv6 UDP", ipv6(17, tcpHeader(syn, 20, 64)), false},
		{"IPv6 extension header", ipv6(0, tcpHeader(syn, 20, 64)), false},
		{"IPv4 fragment", fragment, false},
		{"IPv4 truncated", truncated, false},
		{"IPv4 SYN, bytes past its end", padded, false},
		{"IPv4 header alone", ipv4(6, nil), false},
		{"TCP header cut short", ipv4(6, tcpHeader(syn, 0, 64)[:12]), false},
		{"TCP data offset below 20", badOffset, false},
		{"empty", nil, false},
		{"version 5", append([]byte{0x50}, make([]byte, 60)...), false},
	} {
		if got := SYNWithData(tt.p); got != tt.want {
			t.Errorf("%s: SYNWithData = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// withOptions returns a TCP segment with flags, the options opts, padded with zeros
// (end of options) to a multiple of 4 bytes, and data.
func withOptions(flags byte, opts, data []byte) []byte {
	n := (len(opts) + 3) &^ 3
	seg := tcpHeader(flags, n, 0)
	copy(seg[20:], opts)
	return append(seg, data...)
}

// tcpChecksum returns the ones' complement sum of p's TCP segment and the pseudo-header
// that IPv4 (RFC 9293, section 3.1) or IPv6 (RFC 8200, section 8.1) puts before it: 0xffff
// when the checksum is right.
func tcpChecksum(p []byte) uint16 {
	seg, ok := tcpSegment(p)
	if !ok {
		panic("not a TCP packet")
	}
	var pseudo []byte
	if p[0]>>4 == 4 {
		pseudo = append(pseudo, p[12:20]...)
		pseudo = append(pseudo, 0, 6)
		pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(seg)))
	} else {
		pseudo = append(pseudo, p[8:40]...)
		pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(seg)))
		pseudo = append(pseudo, 0, 0, 0, 6)
	}
	var sum uint32
	for _, b := range [][]byte{pseudo, seg} {
		for i := 0; i < len(b); i += 2 {
			w := uint32(b[i]) << 8
			if i+1 < len(b) {
				w |= uint32(b[i+1])
			}
			sum += w
		}
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// setChecksum gives p's TCP segment the checksum that makes it right.
func setChecksum(p []byte) []byte {
	seg, _ := tcpSegment(p)
	seg[16], seg[17] = 0, 0
	binary.BigEndian.PutUint16(seg[16:], ^tcpChecksum(p))
	return p
}

func TestStripFastOpen(t *testing.T) {
	const (
		syn = tcpSYN
		ack = tcpACK
	)
	var (
		mss      = []byte{2, 4, 0x05, 0xb4}
		sackOK   = []byte{4, 2}
		ts       = []byte{8, 10, 1, 2, 3, 4, 0, 0, 0, 0}
		nop      = []byte{optNOP}
		ws       = []byte{3, 3, 7}
		request  = []byte{optFastOpen, 2}
		cookie   = []byte{optFastOpen, 10, 0xc0, 0x0c, 0x1e, 0x5a, 0xbe, 0xef, 0x12, 0x34}
		expReq   = []byte{optExperiment, 4, 0xf9, 0x89}
		expCook  = []byte{optExperiment, 12, 0xf9, 0x89, 1, 2, 3, 4, 5, 6, 7, 8}
		otherExp = []byte{optExperiment, 6, 0x12, 0x34, 9, 9}
		data     = []byte("GET / HTTP/1.1\r\n\r\n")
	)
	cat := func(opts ...[]byte) []byte { return bytes.Join(opts, nil) }
	nops := func(n int) []byte { return bytes.Repeat(nop, n) }
	for _, tt := range []struct {
		name     string
		ip       func(byte, []byte) []byte
		flags    byte
		opts     []byte
		data     []byte
		wantOpts []byte // nil: unchanged
	}{
		// Linux's SYN asking for a cookie, and its SYN-ACK giving one.
		{"IPv4 SYN asking", ipv4, syn, cat(mss, sackOK, ts, nop, ws, request), nil, cat(mss, sackOK, ts, nop, ws, nops(2))},
		{"IPv6 SYN asking", ipv6, syn, cat(mss, sackOK, ts, nop, ws, request), nil, cat(mss, sackOK, ts, nop, ws, nops(2))},
		{"IPv4 SYN-ACK with a cookie", ipv4, syn | ack, cat(mss, nop, nop, sackOK, nop, ws, cookie), nil, cat(mss, nop, nop, sackOK, nop, ws, nops(10))},
		{"IPv6 SYN-ACK with a cookie", ipv6, syn | ack, cat(mss, nop, nop, sackOK, nop, ws, cookie), nil, cat(mss, nop, nop, sackOK, nop, ws, nops(10))},
		// A cookie at an odd offset, with data.
		{"IPv4 SYN with a cookie and data", ipv4, syn, cat(mss, nop, cookie), data, cat(mss, nop, nops(10))},
		{"IPv6 SYN with a cookie and data", ipv6, syn, cat(mss, nop, cookie, nop), data, cat(mss, nop, nops(10), nop)},
		{"IPv4 SYN, experimental request", ipv4, syn, cat(mss, expReq), nil, cat(mss, nops(4))},
		{"IPv6 SYN-ACK, experimental cookie", ipv6, syn | ack, cat(nop, mss, expCook), nil, cat(nop, mss, nops(12))},
		{"IPv4 SYN, both forms", ipv4, syn, cat(request, nop, expReq, mss), data, cat(nops(7), mss)},
		{"IPv4 SYN, another experiment", ipv4, syn, cat(mss, otherExp), nil, nil},
		{"IPv4 SYN without fast open", ipv4, syn, cat(mss, sackOK, ts, nop, ws), nil, nil},
		{"IPv4 ACK with a fast open option", ipv4, ack, cat(nop, nop, cookie), data, nil},
		{"IPv4 SYN, option after the end", ipv4, syn, cat(mss, []byte{optEnd}, request), nil, nil},
		{"IPv4 SYN, zero-length option first", ipv4, syn, cat([]byte{99, 0}, request), nil, nil},
		{"IPv4 SYN, option beyond the header", ipv4, syn, cat(mss, []byte{optFastOpen, 12}), nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := setChecksum(tt.ip(6, withOptions(tt.flags, tt.opts, tt.data)))
			orig := bytes.Clone(p)
			changed := StripFastOpen(p)
			if want := tt.wantOpts != nil; changed != want {
				t.Errorf("StripFastOpen = %v, want %v", changed, want)
			}
			if tt.wantOpts == nil {
				if !bytes.Equal(p, orig) {
					t.Errorf("packet changed:\n%x\nwas\n%x", p, orig)
				}
				return
			}
			seg, _ := tcpSegment(p)
			origSeg, _ := tcpSegment(orig)
			off := int(seg[12]>>4) * 4
			want := withOptions(tt.flags, tt.wantOpts, tt.data)
			if got := seg[20:off]; !bytes.Equal(got, want[20:off]) {
				t.Errorf("options\n%x, want\n%x", got, want[20:off])
			}
			if !bytes.Equal(seg[off:], tt.data) {
				t.Errorf("data %q, want %q", seg[off:], tt.data)
			}
			ipLen := len(p) - len(seg)
			if !bytes.Equal(p[:ipLen], orig[:ipLen]) || !bytes.Equal(seg[:16], origSeg[:16]) || !bytes.Equal(seg[18:20], origSeg[18:20]) {
				t.Error("the IP header or the TCP header before the options changed")
			}
			if sum := tcpChecksum(p); sum != 0xffff {
				t.Errorf("checksum %#04x wrong after the change (sums to %#04x)", binary.BigEndian.Uint16(seg[16:]), sum)
			}
			if StripFastOpen(p) {
				t.Error("a second StripFastOpen changed the packet again")
			}
		})
	}
	for _, p := range [][]byte{nil, ipv4(6, nil), ipv4(17, withOptions(syn, request, nil)), ipv6(0, withOptions(syn, request, nil))} {
		if StripFastOpen(p) {
			t.Errorf("StripFastOpen(%x) = true, want false", p)
		}
	}
}

func TestSetSourcePort(t *testing.T) {
	for _, ip := range []func(byte, []byte) []byte{ipv4, ipv6} {
		p := setChecksum(ip(6, withOptions(tcpSYN, []byte{optFastOpen, 2}, []byte("data"))))
		seg, _ := tcpSegment(p)
		setSourcePort(seg, ReplayPort(40000))
		if got := binary.BigEndian.Uint16(seg[0:2]); got != 40000^0x8000 {
			t.Errorf("source port %d, want %d", got, 40000^0x8000)
		}
		if sum := tcpChecksum(p); sum != 0xffff {
			t.Errorf("checksum wrong after the port changed: sum %#x", sum)
		}
	}
}
