package main

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/windows"
)

// clientSettingAdvice is the advice of the verdict client-off.
const clientSettingAdvice = "turn fast open on, as an administrator: netsh int tcp set global fastopen=enabled"

// kernelRelease returns the version of Windows, from RtlGetVersion.
func kernelRelease() string {
	v := windows.RtlGetVersion()
	return fmt.Sprintf("%d.%d.%d", v.MajorVersion, v.MinorVersion, v.BuildNumber)
}

// clientSetting returns an unknown setting: the probe does not read Windows's.
func clientSetting() Setting { return Setting{} }

// pathTo tells nothing of the path: only Linux's is read.
func pathTo(netip.Addr) Path { return Path{} }
