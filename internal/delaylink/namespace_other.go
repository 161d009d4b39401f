//go:build !linux

package delaylink

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
)

var errUnsupported = fmt.Errorf("delaylink: network namespaces: %w", errors.ErrUnsupported)

// threads is empty: namespaces need Linux.
type threads struct{}

// newNamespace returns an error: network namespaces need Linux.
func newNamespace(addr, addr6 netip.Prefix) (*Namespace, *os.File, error) {
	return nil, nil, errUnsupported
}

// Do returns an error: network namespaces need Linux.
func (n *Namespace) Do(f func() error) error { return errUnsupported }

// close does nothing: there are no threads to end.
func (threads) close() {}

// ReadTCPExt returns an error: network namespaces need Linux.
func (n *Namespace) ReadTCPExt() (map[string]int64, error) { return nil, errUnsupported }

// SetSysctl returns an error: network namespaces need Linux.
func (n *Namespace) SetSysctl(name, value string) error { return errUnsupported }

// AddAddr6 returns an error: network namespaces need Linux.
func (n *Namespace) AddAddr6(addr netip.Addr) error { return errUnsupported }
