package main

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"runtime"

	"github.com/fastopen/tfo/internal/tcpmetrics"
)

// This file and system_GOOS.go tell what the probe shows of this machine. Each
// system_GOOS.go defines kernelRelease, clientSetting and clientSettingAdvice.

// localFacts returns what the probe shows of this machine, but its cookie cache.
func localFacts() Local {
	return Local{
		OS:       runtime.GOOS + "/" + runtime.GOARCH,
		Kernel:   kernelRelease(),
		FastOpen: platformFastOpen(),
		Setting:  clientSetting(),
		Memory:   memoryNote,
	}
}

// platformFastOpen reports whether package tfo fast-opens on this platform.
func platformFastOpen() bool {
	switch runtime.GOOS {
	case "linux", "android", "darwin", "ios", "freebsd", "windows":
		return true
	}
	return false
}

// memoryNote is what the probe can say of what package tfo remembers about the
// server.
const memoryNote = "not shown: tfo's API does not tell what it remembers of a server; " +
	"this process began with nothing remembered, and the reports show what it learned (paused: SYNs with data lost in a row)"

// readCache returns what the system's cookie cache holds for ip.
func readCache(ip netip.Addr) Cache {
	e, err := tcpmetrics.Get(ip, netip.Addr{})
	switch {
	case errors.Is(err, tcpmetrics.ErrNotFound):
		return Cache{Readable: true}
	case errors.Is(err, errors.ErrUnsupported):
		return Cache{Error: "this system does not show its cookie cache"}
	case err != nil:
		return Cache{Error: err.Error()}
	}
	c := Cache{Readable: true, Cookie: hex.EncodeToString(e.Cookie), SYNDrops: e.SYNDrops}
	if e.SYNDrops > 0 {
		c.SYNDropAgeMS = ms(e.SYNDropAge)
	}
	return c
}
