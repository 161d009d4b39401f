//go:build !linux

package netns

import (
	"errors"
	"fmt"
)

// Enter returns done false: private network namespaces need Linux.
func Enter(name string) (code int, done bool) { return 0, false }

// ReadTCPExt returns an error: the counters are Linux's.
func ReadTCPExt() (map[string]int64, error) {
	return nil, fmt.Errorf("TcpExt counters: %w", errors.ErrUnsupported)
}
