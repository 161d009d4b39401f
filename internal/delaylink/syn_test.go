package delaylink

import (
	"encoding/binary"
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
