package tfo

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// A Key is a key with which a listener makes the fast open cookies it hands to clients
// and checks the cookies they bring back. A cookie is a function of the key and of the
// client's and the server's IP addresses, not of the port, so a client's cookie is valid
// at every listener on the same server address that holds the key that made it: after a
// restart, at another process behind the same address, at every server of a fleet
// behind one address that shares its keys.
//
// Linux takes the 16 bytes in order as the key of the SipHash-2-4 that makes the
// cookies (net/ipv4/tcp_fastopen.c). The sysctl net.ipv4.tcp_fastopen_key writes a key
// as four groups of eight hexadecimal digits, each a 32-bit little-endian word of the
// key: the Key {0x00, 0x01, …, 0x0f} is 03020100-07060504-0b0a0908-0f0e0d0c there.
type Key [16]byte

// maxKeys is how many keys a listener holds: the one that makes cookies, and a backup
// whose cookies are still accepted (TCP_FASTOPEN_KEY, 32 bytes, since Linux 5.3).
const maxKeys = 2

// keysUnsupported returns the error of a system that has no fast open keys per
// listener, for the reason why, with err, the system's refusal, if not nil. It matches
// [errors.ErrUnsupported], and err.
func keysUnsupported(why string, err error) error {
	if err == nil {
		return fmt.Errorf("tfo: fast open keys per listener: %s: %w", why, errors.ErrUnsupported)
	}
	return fmt.Errorf("tfo: fast open keys per listener: %s: %w: %w", why, errors.ErrUnsupported, err)
}

// errNotTCP is the error of SetKeys on a listener that is not a *net.TCPListener.
var errNotTCP = errors.New("tfo: fast open keys for a listener that is not a *net.TCPListener")

// keyCountError is the error of a number of keys other than one or two.
type keyCountError int

func (n keyCountError) Error() string {
	return fmt.Sprintf("tfo: %d fast open keys: a listener takes one or two", int(n))
}

// SetKeys replaces the fast open keys of ln, a listening [*net.TCPListener] made by this
// package or by package net, with keys: the first makes the cookies of the connections
// that follow, and a cookie made with either is accepted. It takes one or two keys. With
// two, the second is the key that the first replaces: clients that hold a cookie made
// with it still fast-open, and get a cookie made with the first. Replacing a key
// without keeping it costs each client that holds a cookie made with it one connection
// without fast open: its data goes after the handshake, once, and the handshake brings
// it a new cookie. See [DeriveKeys] for keys that a fleet of servers rotates in step.
//
// SetKeys works on Linux 4.15 and later, which keeps the keys per listener; Linux
// before 5.3 takes one key only, and SetKeys then sets the first alone and returns an
// error matching [errors.ErrUnsupported]. Elsewhere fast open keys, if any, are the
// system's, and SetKeys returns an error matching [errors.ErrUnsupported].
//
// Its errors are of type [*net.OpError], with Op "set", as net reports a failed
// SetDeadline.
func SetKeys(ln net.Listener, keys ...Key) error {
	tl, ok := ln.(*net.TCPListener)
	if ln == nil || ok && tl == nil {
		return &net.OpError{Op: "set", Net: "tcp", Source: nil, Addr: nil, Err: syscall.EINVAL}
	}
	if !ok {
		return &net.OpError{Op: "set", Net: ln.Addr().Network(), Source: nil, Addr: ln.Addr(), Err: errNotTCP}
	}
	opErr := func(err error) error {
		return &net.OpError{Op: "set", Net: "tcp", Source: nil, Addr: tl.Addr(), Err: err}
	}
	if len(keys) == 0 || len(keys) > maxKeys {
		return opErr(keyCountError(len(keys)))
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return opErr(err)
	}
	if err := setKeys(rc, keys); err != nil {
		return opErr(err)
	}
	return nil
}

// setKeys is the platform's setListenKeys, replaceable by tests.
var setKeys = setListenKeys

// DeriveKeys returns the fast open keys that every server holding secret computes for
// the time t when keys change every period: the key of the period that holds t, then
// the key of the period before it, as [SetKeys] and [ListenConfig.Keys] take them. A
// fleet then agrees on its keys with nothing shared but the secret, as long as the
// clocks of its servers agree to well within a period: a ticker that calls
//
//	tfo.SetKeys(ln, tfo.DeriveKeys(secret, period, time.Now())...)
//
// every minute or so keeps every server in step, and a cookie stays valid for at least
// one period after it was issued, and at most two. See docs/fleets.md.
//
// Periods are counted from the Unix epoch: the period of t is n, the floor of t's Unix
// time in nanoseconds (t.UnixNano(), defined from the year 1678 to 2262) divided by
// period. Each key is HKDF-SHA256 (RFC
// 5869, crypto/hkdf) of secret, with no salt, and for info the bytes of
// "tfo fast open key" followed by period in nanoseconds and its period's n, each as
// eight big-endian bytes: the keys are [K(n), K(n-1)]. The derivation is fixed, so that
// every version of this package, or another program that follows it, derives the same
// keys.
//
// The secret should be random and hold 16 bytes or more; it is what keeps others from
// making cookies that a server accepts. DeriveKeys panics if secret is empty or period
// is not positive, as [time.NewTicker] does with a period that is not positive, and if
// crypto/hkdf refuses the secret (shorter than 14 bytes, in FIPS 140-only mode).
func DeriveKeys(secret []byte, period time.Duration, t time.Time) []Key {
	if len(secret) == 0 {
		panic("tfo: DeriveKeys with an empty secret")
	}
	if period <= 0 {
		panic("tfo: DeriveKeys with a period that is not positive")
	}
	ns, p := t.UnixNano(), int64(period)
	n := ns / p
	if ns%p < 0 {
		n-- // the floor, for a time before 1970
	}
	return []Key{deriveKey(secret, period, n), deriveKey(secret, period, n-1)}
}

// keyInfo starts the HKDF info of DeriveKeys.
const keyInfo = "tfo fast open key"

// deriveKey returns the key of period n for keys that change every period.
func deriveKey(secret []byte, period time.Duration, n int64) Key {
	info := make([]byte, 0, len(keyInfo)+16)
	info = append(info, keyInfo...)
	info = binary.BigEndian.AppendUint64(info, uint64(period))
	info = binary.BigEndian.AppendUint64(info, uint64(n))
	b, err := hkdf.Key(sha256.New, secret, nil, string(info), len(Key{}))
	if err != nil {
		panic("tfo: DeriveKeys: " + err.Error())
	}
	return Key(b)
}
