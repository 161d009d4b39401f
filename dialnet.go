//go:build !darwin && !freebsd

package tfo

import (
	"context"
	"net"
)

// dialNet dials address with d and returns the conn and the address it connected to.
func dialNet(ctx context.Context, d *net.Dialer, network, address string) (*net.TCPConn, *net.TCPAddr, error) {
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, nil, err
	}
	tc := nc.(*net.TCPConn)
	return tc, tc.RemoteAddr().(*net.TCPAddr), nil
}
