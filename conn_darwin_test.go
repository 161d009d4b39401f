package tfo

import (
	"fmt"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// clientReportsSynData is true: darwin tells a client whether its SYN's data was
// acknowledged.
const clientReportsSynData = true

// serverFastOpen returns why listeners do not accept fast open, if they do not.
func serverFastOpen() error {
	v, err := unix.SysctlUint32("net.inet.tcp.fastopen")
	if err != nil {
		return fmt.Errorf("reading net.inet.tcp.fastopen: %v", err)
	}
	if v&3 != 3 {
		return fmt.Errorf("net.inet.tcp.fastopen = %d; fast open needs 3 (client and server)", v)
	}
	return nil
}

// TestTCPConnectionInfoLayout checks that the tcpi_tfo_* bit-fields of struct
// tcp_connection_info (bsd/netinet/tcp.h) fill the gap that unix.TCPConnectionInfo
// leaves between Rttvar and Txpackets, the first 64-bit field: thirteen 32-bit words
// precede them.
func TestTCPConnectionInfoLayout(t *testing.T) {
	var info unix.TCPConnectionInfo
	if tfoBitsOffset != 13*4 {
		t.Errorf("the bit-fields are at %d; want %d", tfoBitsOffset, 13*4)
	}
	if off := unsafe.Offsetof(info.Txpackets); off != tfoBitsOffset+4 {
		t.Errorf("Txpackets at %d; want %d, right after the bit-fields", off, tfoBitsOffset+4)
	}
	if size := unsafe.Sizeof(info); size != unix.SizeofTCPConnectionInfo {
		t.Errorf("size %d; the kernel's is %d", size, unix.SizeofTCPConnectionInfo)
	}
}

// TestTFOBits checks which of the tcpi_tfo_* bit-fields tell that a connection was
// fast-opened, in the order the header declares them.
func TestTFOBits(t *testing.T) {
	fields := []struct {
		name string
		fast bool
	}{
		{"tcpi_tfo_cookie_req", false},
		{"tcpi_tfo_cookie_rcv", false},
		{"tcpi_tfo_syn_loss", false},
		{"tcpi_tfo_syn_data_sent", false},
		{"tcpi_tfo_syn_data_acked", true},
		{"tcpi_tfo_syn_data_rcv", true},
		{"tcpi_tfo_cookie_req_rcv", false},
		{"tcpi_tfo_cookie_sent", false},
	}
	for bit, f := range fields {
		var info unix.TCPConnectionInfo
		*(*uint32)(unsafe.Add(unsafe.Pointer(&info), tfoBitsOffset)) = 1 << bit
		if got := synDataDone(&info); got != f.fast {
			t.Errorf("%s alone: fast-opened %v; want %v", f.name, got, f.fast)
		}
	}
}
