package tfo

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// clientReportsSynData is false: FreeBSD does not tell a client whether its SYN's data
// was acknowledged.
const clientReportsSynData = false

// serverFastOpen returns why listeners do not accept fast open, if they do not.
func serverFastOpen() error {
	for _, name := range []string{"net.inet.tcp.fastopen.server_enable", "net.inet.tcp.fastopen.client_enable"} {
		v, err := unix.SysctlUint32(name)
		if err != nil {
			return fmt.Errorf("reading %s: %v", name, err)
		}
		if v != 1 {
			return fmt.Errorf("%s = %d; the test needs 1", name, v)
		}
	}
	return nil
}
