//go:build !linux

package main

import (
	"context"
	"errors"
	"fmt"
)

// measureNoHelp returns an error: the links it measures over need Linux.
func measureNoHelp(ctx context.Context, cfg noHelpConfig, prog *progress) (*noHelpResults, error) {
	return nil, fmt.Errorf("network namespaces: %w", errors.ErrUnsupported)
}
