package main

import "github.com/fastopen/tfo"

// A Result is what a probe found. With -json, probe prints it as one JSON object.
// Its fields and their JSON names are kept from one version to the next; new ones may
// be added. Times are in milliseconds; a time that was not measured is 0.
type Result struct {
	// Target is the host:port given; Address the IP address and port probed, the
	// first that the host resolved to.
	Target  string `json:"target"`
	Address string `json:"address"`

	// Send says what each conn sent first: "http-head", "tls-client-hello" or
	// "data"; SendBytes how many bytes that was on the first conn.
	Send      string `json:"send"`
	SendBytes int    `json:"send_bytes"`

	Local Local `json:"local"`

	// First is the first conn, which asks the server for a cookie unless the system
	// holds one already.
	First TFOConn `json:"first"`

	// Rounds are the conns after the first, one with each package per round.
	Rounds []Round `json:"rounds"`

	Summary Summary `json:"summary"`

	// CacheAfter is the system's cookie cache for the address after the conns.
	CacheAfter Cache `json:"cache_after"`

	// Verdict is the verdict's name, such as "works"; VerdictText says it in words,
	// and Advice what to do. All three are empty when Error is set.
	Verdict     string `json:"verdict"`
	VerdictText string `json:"verdict_text"`
	Advice      string `json:"advice"`

	// Error says why the probe could not finish: the arguments were wrong, the
	// address did not resolve, or no tfo conn reached the server. Empty otherwise.
	Error string `json:"error,omitempty"`

	// Usage is the command's usage, when the arguments were wrong or -h asked for it;
	// the other fields are then empty.
	Usage string `json:"usage,omitempty"`
}

// Local is what the probe learns of this machine.
type Local struct {
	// OS is GOOS/GOARCH, such as "linux/amd64"; Kernel the kernel's release, empty
	// when unknown.
	OS     string `json:"os"`
	Kernel string `json:"kernel"`

	// FastOpen reports whether package tfo has a way to fast-open on this platform.
	FastOpen bool `json:"platform_fast_open"`

	Setting Setting `json:"setting"`

	// Cache is the system's cookie cache for the address before the first conn.
	Cache Cache `json:"cache"`

	// Memory says what package tfo remembers about the server.
	Memory string `json:"memory"`

	// Path is the way to the address, as far as this machine tells it.
	Path Path `json:"path"`
}

// Path is the way packets take to the address from this machine.
type Path struct {
	// Device is the network device they leave by, empty when unknown.
	Device string `json:"device"`

	// SameHost reports whether they stay on this machine: the address is a loopback
	// one or one of this machine's own (Device is then lo), or Device is one end of a
	// pair whose other end is in another network namespace, as a container's veth is.
	SameHost bool `json:"same_host"`

	// RPS reports whether receive packet steering is on for Device (its first
	// receive queue's rps_cpus names a processor); null when unknown. On a same-host
	// path without it, a fast-opened response can overtake its SYN-ACK, and wait
	// 200 ms for the server to send it again.
	RPS *bool `json:"rps"`
}

// Setting is the system's fast open setting for clients.
type Setting struct {
	// Name is the setting's name, such as "net.ipv4.tcp_fastopen", and Value its
	// value; both are empty (null) when the platform's setting is unknown or could
	// not be read.
	Name  string `json:"name"`
	Value *int   `json:"value"`

	// Client reports whether the setting lets clients fast-open; null when unknown.
	Client *bool `json:"client"`

	// Error says why the setting could not be read, if it could not.
	Error string `json:"error,omitempty"`
}

// Cache is what the system's cache of fast open cookies holds for the address.
type Cache struct {
	// Readable reports whether the cache could be read; Error says why not.
	Readable bool   `json:"readable"`
	Error    string `json:"error,omitempty"`

	// Cookie is the cookie held, in hexadecimal, empty if none.
	Cookie string `json:"cookie"`

	// SYNDrops is how many SYNs with data to the address the system recorded as
	// lost in a row, and SYNDropAgeMS how long ago the last was, 0 if none.
	SYNDrops     int     `json:"syn_drops"`
	SYNDropAgeMS float64 `json:"syn_drop_age_ms"`
}

// TFOConn is a conn dialed with package tfo.
type TFOConn struct {
	// Outcome is what tfo.Report said of the conn, by its short name, such as
	// "fast-opened"; Report says it in words, as Outcome.String does.
	Outcome tfo.Outcome `json:"outcome"`
	Report  string      `json:"report"`

	// FastOpened is what tfo.FastOpened said.
	FastOpened bool `json:"fast_opened"`

	// FirstByteMS is the time from the start of the dial to the first byte of the
	// answer.
	FirstByteMS float64 `json:"first_byte_ms"`

	// Response describes the start of the answer: an HTTP status line, "TLS
	// handshake" or "TLS alert" for the type of the first TLS record, or with -data
	// the first bytes, quoted.
	Response string `json:"response"`

	// Error says why the conn failed before the first byte of the answer.
	Error string `json:"error,omitempty"`
}

// NetConn is a conn dialed with package net.
type NetConn struct {
	// ConnectMS is the time the dial took, one round trip; FirstByteMS the time
	// from its start to the first byte of the answer.
	ConnectMS   float64 `json:"connect_ms"`
	FirstByteMS float64 `json:"first_byte_ms"`

	// Error says why the conn failed before the first byte of the answer.
	Error string `json:"error,omitempty"`
}

// Round is a conn with each package, one after the other.
type Round struct {
	TFO TFOConn `json:"tfo"`
	Net NetConn `json:"net"`

	// NetFirst reports whether the net conn went first.
	NetFirst bool `json:"net_first"`
}

// Summary sums up the rounds.
type Summary struct {
	// Conns is the number of rounds; FastOpened how many of their tfo conns
	// fast-opened; Outcomes how many had each outcome, by its short name.
	Conns      int                 `json:"conns"`
	FastOpened int                 `json:"fast_opened"`
	Outcomes   map[tfo.Outcome]int `json:"outcomes"`

	// TFOFirstByteMS and NetFirstByteMS are the median times to the first byte of
	// the answer, of the conns that got one; RTTMS the median of net's connect times.
	TFOFirstByteMS float64 `json:"tfo_first_byte_ms"`
	NetFirstByteMS float64 `json:"net_first_byte_ms"`
	RTTMS          float64 `json:"rtt_ms"`

	// SavedMS is NetFirstByteMS less TFOFirstByteMS, and SavedRTTs that time in
	// round trips of RTTMS (0 when RTTMS is).
	SavedMS   float64 `json:"saved_ms"`
	SavedRTTs float64 `json:"saved_rtts"`
}
