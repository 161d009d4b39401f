package tfo

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fleetSecret is the secret of the DeriveKeys tests.
var fleetSecret = []byte("example fleet secret")

// TestDeriveKeysKnownAnswers checks DeriveKeys against keys computed elsewhere (Python's
// hmac and hashlib, following RFC 5869), and against HKDF-SHA256 written out here with
// crypto/hmac, so that a change of the derivation, which would split a fleet whose
// servers run different versions, cannot pass.
func TestDeriveKeysKnownAnswers(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		n    int64 // the period of t
		want [2]string
	}{
		{time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC), 490896, [2]string{"5ccc044eb954c03b2b4afb29c55e93c0", "a1e972b4d76d5833899b3c2ffc22d02c"}},
		// Before 1970 the period is still the floor of the division.
		{time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), -1, [2]string{"df47385ff5aad4363cb22a27868c2966", "ef423f01f111daefae55ae21b0641dc8"}},
	} {
		keys := DeriveKeys(fleetSecret, time.Hour, tt.t)
		if len(keys) != 2 {
			t.Fatalf("DeriveKeys(%v) returned %d keys; want 2", tt.t, len(keys))
		}
		for i, k := range keys {
			if got := hex.EncodeToString(k[:]); got != tt.want[i] {
				t.Errorf("DeriveKeys(%v)[%d] = %s; want %s", tt.t, i, got, tt.want[i])
			}
			if w := hkdfSHA256(fleetSecret, time.Hour, tt.n-int64(i)); k != w {
				t.Errorf("DeriveKeys(%v)[%d] = %x; HKDF-SHA256 gives %x", tt.t, i, k, w)
			}
		}
	}
}

// hkdfSHA256 is the key of period n as DeriveKeys documents it, computed with HMAC as RFC
// 5869 describes HKDF: extract with a salt of zeros, then the first block of expand.
func hkdfSHA256(secret []byte, period time.Duration, n int64) Key {
	extract := hmac.New(sha256.New, make([]byte, sha256.Size))
	extract.Write(secret)
	expand := hmac.New(sha256.New, extract.Sum(nil))
	expand.Write([]byte("tfo fast open key"))
	expand.Write(binary.BigEndian.AppendUint64(nil, uint64(period)))
	expand.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	expand.Write([]byte{1})
	return Key(expand.Sum(nil)[:16])
}

// TestDeriveKeysPeriods checks where a period begins and ends: every time of a period
// gets the same keys, the key of a period becomes the backup at the next one, and
// neither the time's location nor its monotonic reading matters.
func TestDeriveKeysPeriods(t *testing.T) {
	const period = 10 * time.Minute
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // a multiple of period since 1970
	keys := DeriveKeys(fleetSecret, period, start)
	if keys[0] == keys[1] {
		t.Fatal("the key and the backup are the same")
	}
	same := func(what string, got []Key) {
		t.Helper()
		if got[0] != keys[0] || got[1] != keys[1] {
			t.Errorf("%s: keys %x; want those of the period's start, %x", what, got, keys)
		}
	}
	same("the period's last nanosecond", DeriveKeys(fleetSecret, period, start.Add(period-1)))
	same("another location", DeriveKeys(fleetSecret, period, start.Add(3*time.Minute).In(time.FixedZone("UTC+5:30", 5*3600+1800))))
	now := time.Now()
	if got, want := DeriveKeys(fleetSecret, period, now), DeriveKeys(fleetSecret, period, now.Round(0)); got[0] != want[0] || got[1] != want[1] {
		t.Errorf("time.Now() with its monotonic reading: %x; without: %x", got, want)
	}

	next := DeriveKeys(fleetSecret, period, start.Add(period))
	if next[1] != keys[0] || next[0] == keys[0] {
		t.Errorf("the next period: keys %x; want a new key, then %x", next, keys[0])
	}
	prev := DeriveKeys(fleetSecret, period, start.Add(-1))
	if prev[0] != keys[1] {
		t.Errorf("the nanosecond before the period: key %x; want the backup %x", prev[0], keys[1])
	}

	for name, other := range map[string][]Key{
		"another secret": DeriveKeys([]byte("another secret"), period, start),
		"another period": DeriveKeys(fleetSecret, 2*period, start), // start is a multiple of it too
	} {
		if other[0] == keys[0] || other[1] == keys[1] {
			t.Errorf("%s gives the same keys %x", name, other)
		}
	}
}

// TestDeriveKeysBadInput checks that DeriveKeys panics, with a message that names it,
// on an empty secret and on a period that is not positive.
func TestDeriveKeysBadInput(t *testing.T) {
	for _, tt := range []struct {
		name   string
		secret []byte
		period time.Duration
	}{
		{"nil secret", nil, time.Hour},
		{"empty secret", []byte{}, time.Hour},
		{"zero period", fleetSecret, 0},
		{"negative period", fleetSecret, -time.Hour},
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "tfo: DeriveKeys") {
					t.Errorf("%s: DeriveKeys panicked with %q; want a message about DeriveKeys", tt.name, msg)
				}
			}()
			DeriveKeys(tt.secret, tt.period, time.Now())
		}()
	}
}

// fakeListener is a listener of another kind than TCP.
type fakeListener struct{}

func (fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (fakeListener) Close() error              { return nil }
func (fakeListener) Addr() net.Addr            { return &net.UnixAddr{Name: "/run/fake.sock", Net: "unix"} }

// TestSetKeysErrors checks the errors of SetKeys, all *net.OpErrors with Op "set", and
// that the keys of a TCP listener are set on Linux and refused elsewhere with an error
// that matches errors.ErrUnsupported.
func TestSetKeysErrors(t *testing.T) {
	verifyNone(t)
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	k := Key{1}

	checkSetError := func(name string, err error, wantNet string, wantAddr net.Addr, want error) {
		t.Helper()
		var oe *net.OpError
		if !errors.As(err, &oe) {
			t.Errorf("%s: error %v (%T) is not a *net.OpError", name, err, err)
			return
		}
		if oe.Op != "set" || oe.Net != wantNet || oe.Source != nil || (oe.Addr == nil) != (wantAddr == nil) || (wantAddr != nil && oe.Addr.String() != wantAddr.String()) {
			t.Errorf("%s: error %#v; want Op set, Net %s, Addr %v", name, oe, wantNet, wantAddr)
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: error %v does not match %v", name, err, want)
		}
	}
	var kc keyCountError
	checkSetError("nil listener", SetKeys(nil, k), "tcp", nil, syscall.EINVAL)
	checkSetError("nil *net.TCPListener", SetKeys((*net.TCPListener)(nil), k), "tcp", nil, syscall.EINVAL)
	checkSetError("a unix listener", SetKeys(fakeListener{}, k), "unix", fakeListener{}.Addr(), errNotTCP)
	for _, keys := range [][]Key{nil, {k, k, k}} {
		err := SetKeys(ln, keys...)
		checkSetError("wrong number of keys", err, "tcp", ln.Addr(), err)
		if !errors.As(err, &kc) || int(kc) != len(keys) {
			t.Errorf("SetKeys with %d keys: %v", len(keys), err)
		}
	}

	err = SetKeys(ln, k, Key{2})
	if runtime.GOOS != "linux" {
		checkSetError("a system without keys per listener", err, "tcp", ln.Addr(), errors.ErrUnsupported)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	checkSetError("a closed listener", SetKeys(closed, k), "tcp", closed.Addr(), net.ErrClosed)
}

// TestListenKeysErrors checks that ListenConfig.Keys with more than two keys fails
// Listen as net reports a listen error, unless DisableTFO is set, and that keys never
// fail Listen otherwise, on any system.
func TestListenKeysErrors(t *testing.T) {
	verifyNone(t)
	three := []Key{{1}, {2}, {3}}
	ln, err := (&ListenConfig{Keys: three}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	var oe *net.OpError
	var kc keyCountError
	if ln != nil || !errors.As(err, &oe) || oe.Op != "listen" || oe.Net != "tcp" || !errors.As(err, &kc) || kc != 3 {
		t.Errorf("Listen with three keys = %v, %v; want a *net.OpError for listen tcp about three keys", ln, err)
	}
	for _, lc := range []ListenConfig{{Keys: three, DisableTFO: true}, {Keys: three[:2]}, {Keys: three[:1]}} {
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("Listen with %d keys, DisableTFO %v: %v", len(lc.Keys), lc.DisableTFO, err)
		}
		c, err := Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		served := answerOnce(ln)
		checkAnswer(t, c, "x")
		c.Close()
		<-served
		ln.Close()
	}
}

// answerOnce answers one connection that ln accepts, and returns a channel closed after.
func answerOnce(ln net.Listener) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		answer(c.(*net.TCPConn))
	}()
	return done
}
