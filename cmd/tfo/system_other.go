//go:build !linux && !darwin && !windows

package main

import (
	"net/netip"
)

// clientSettingAdvice is the advice of the verdict client-off.
const clientSettingAdvice = "turn fast open on for clients in the system's settings"

// kernelRelease returns "": the probe does not read the kernel's release here.
func kernelRelease() string { return "" }

// clientSetting returns an unknown setting: the probe does not read this system's.
func clientSetting() Setting { return Setting{} }

// pathTo tells nothing of the path: only Linux's is read.
func pathTo(netip.Addr) Path { return Path{} }
