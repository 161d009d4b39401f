//go:build !linux

package tcpmetrics

import (
	"errors"
	"fmt"
	"net/netip"
)

var errUnsupported = fmt.Errorf("tcpmetrics: the TCP metrics cache is Linux's: %w", errors.ErrUnsupported)

// Get returns an error: the cache is Linux's.
func Get(addr, source netip.Addr) (Entry, error) { return Entry{}, errUnsupported }

// All returns an error: the cache is Linux's.
func All() ([]Entry, error) { return nil, errUnsupported }

// Delete returns an error: the cache is Linux's.
func Delete(addr, source netip.Addr) error { return errUnsupported }

// DeleteAll returns an error: the cache is Linux's.
func DeleteAll() error { return errUnsupported }
