package tfo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fastOpenCounters are the TcpExt counters of the key tests, whose client and server
// share the tests' namespace.
var fastOpenCounters = []string{"TCPFastOpenActive", "TCPFastOpenActiveFail", "TCPFastOpenPassive", "TCPFastOpenPassiveFail", "TCPFastOpenPassiveAltKey"}

// Expected changes of fastOpenCounters for one connection: fast-opened with a cookie
// the listener's first key made, fast-opened with one its backup key made, or refused.
var (
	openedWithKey    = map[string]int64{"TCPFastOpenActive": 1, "TCPFastOpenActiveFail": 0, "TCPFastOpenPassive": 1, "TCPFastOpenPassiveFail": 0, "TCPFastOpenPassiveAltKey": 0}
	openedWithBackup = map[string]int64{"TCPFastOpenActive": 1, "TCPFastOpenActiveFail": 0, "TCPFastOpenPassive": 1, "TCPFastOpenPassiveFail": 0, "TCPFastOpenPassiveAltKey": 1}
	cookieRefused    = map[string]int64{"TCPFastOpenActive": 0, "TCPFastOpenActiveFail": 1, "TCPFastOpenPassive": 0, "TCPFastOpenPassiveFail": 1, "TCPFastOpenPassiveAltKey": 0}
)

// keyServer is a recording server (see record) on address whose listener has keys.
func keyServer(t testing.TB, address string, arrivals chan<- arrival, keys ...Key) *server {
	t.Helper()
	ln, err := (&ListenConfig{Keys: keys}).Listen(context.Background(), "tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	return serveListener(t, ln, record(t, arrivals))
}

// listenerKeys returns the keys of ln's own, read back with TCP_FASTOPEN_KEY, which
// returns none for a listener that uses the system's key (tcp_fastopen_get_cipher in
// net/ipv4/tcp_fastopen.c).
func listenerKeys(t testing.TB, ln net.Listener) []Key {
	t.Helper()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var (
		b    [maxKeys * len(Key{})]byte
		n    = uint32(len(b))
		serr syscall.Errno
	)
	rc.Control(func(fd uintptr) {
		_, _, serr = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_FASTOPEN_KEY, uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&n)), 0)
	})
	if serr != 0 {
		t.Fatal("getsockopt(TCP_FASTOPEN_KEY):", serr)
	}
	var keys []Key
	for i := 0; i+len(Key{}) <= int(n); i += len(Key{}) {
		keys = append(keys, Key(b[i:]))
	}
	return keys
}

// checkKeys checks that ln holds want, its own keys.
func checkKeys(t testing.TB, ln net.Listener, want ...Key) {
	t.Helper()
	if got := listenerKeys(t, ln); !slices.Equal(got, want) {
		t.Errorf("the listener holds the keys %x; want %x", got, want)
	}
}

// dialFrom dials from the source address ip: the client's cookies are kept per source
// and destination address, so that each source is a client of its own.
func dialFrom(ip string) func(ctx context.Context, network, address string) (net.Conn, error) {
	d := &Dialer{Dialer: net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}}
	return d.DialContext
}

// sendCounted sends msg as send does and checks what happened on the wire: whether both
// ends report the conn fast-opened, why the client's data was not acknowledged in the
// SYN if it was not, and the changes of fastOpenCounters.
func sendCounted(t testing.TB, dial func(ctx context.Context, network, address string) (net.Conn, error), address, msg string, want map[string]int64) {
	t.Helper()
	before := readTCPExt(t)
	c := send(t, dial, address, msg)
	if d := readTCPExt(t).since(before, fastOpenCounters...); fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("%q: TcpExt %v; want %v", msg, d, want)
	}
	fast := want["TCPFastOpenActive"] == 1
	if ok, err := FastOpened(c); ok != fast || err != nil {
		t.Errorf("%q: FastOpened = %v, %v; want %v", msg, ok, err, fast)
	}
	wantFail := failUnspec
	if !fast {
		wantFail = failDataNotAcked
	}
	if f := fastOpenClientFail(t, c); f != wantFail {
		t.Errorf("%q: tcpi_fastopen_client_fail %d; want %d", msg, f, wantFail)
	}
}

// TestKeysShared checks a client's cookie from one listener at a second one on the same
// address: after a restart at the same port, or beside the first on another port. With
// the first listener's keys, the second accepts it; with others, or with the system's
// key, it refuses it: the client's data arrives once, after the handshake, and the
// handshake brings a cookie with which the next conn fast-opens.
func TestKeysShared(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	k1, k2 := key(0x10), key(0x20)
	for _, tt := range []struct {
		name          string
		first, second []Key // the listeners' keys; none: the system's
		restart       bool  // the second replaces the first, at its port
		want          map[string]int64
	}{
		{"restart with the same key", []Key{k1}, []Key{k1}, true, openedWithKey},
		{"restart with another key", []Key{k1}, []Key{k2}, true, cookieRefused},
		{"restart with the system's key", []Key{k1}, nil, true, cookieRefused},
		{"restart with a key after the system's", nil, []Key{k1}, true, cookieRefused},
		{"second listener with the same key", []Key{k1}, []Key{k1}, false, openedWithKey},
		{"second listener with the first key as its backup", []Key{k1, k2}, []Key{k2, k1}, false, openedWithBackup},
		{"second listener with another key", []Key{k1}, []Key{k2}, false, cookieRefused},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			arrivals1, arrivals2 := make(chan arrival, 4), make(chan arrival, 4)
			s1 := keyServer(t, freshHost()+":0", arrivals1, tt.first...)
			checkKeys(t, s1.ln, tt.first...)
			send(t, dialZero, s1.addr, "warm")
			sendCounted(t, dialZero, s1.addr, "to the first", openedWithKey)
			host, _, _ := net.SplitHostPort(s1.addr)
			address := net.JoinHostPort(host, "0")
			if tt.restart {
				checkArrivals(t, s1, arrivals1, arrival{"warm", false}, arrival{"to the first", true})
				address = s1.addr
			}
			s2 := keyServer(t, address, arrivals2, tt.second...)
			checkKeys(t, s2.ln, tt.second...)
			sendCounted(t, dialZero, s2.addr, "to the second", tt.want)
			sendCounted(t, dialZero, s2.addr, "with the second's cookie", openedWithKey)
			checkArrivals(t, s2, arrivals2, arrival{"to the second", tt.want["TCPFastOpenActive"] == 1}, arrival{"with the second's cookie", true})
			if !tt.restart {
				checkArrivals(t, s1, arrivals1, arrival{"warm", false}, arrival{"to the first", true})
			}
		})
	}
}

// TestKeysRotation checks SetKeys on a listener that serves: with the old key kept as
// the backup, a cookie made with it still fast-opens (TCPFastOpenPassiveAltKey counts
// it) and that conn's handshake brings a cookie made with the new key; once the backup
// is gone, a client that did not connect meanwhile is refused, and its data arrives
// once.
func TestKeysRotation(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	k1, k2 := key(0x30), key(0x40)
	arrivals := make(chan arrival, 8)
	s := keyServer(t, freshHost()+":0", arrivals, k1)
	a, b := dialFrom("127.0.0.1"), dialFrom("127.0.0.2")
	send(t, a, s.addr, "a: warm")
	send(t, b, s.addr, "b: warm")

	if err := SetKeys(s.ln, k2, k1); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, s.ln, k2, k1)
	sendCounted(t, a, s.addr, "a: the old key is the backup", openedWithBackup)

	if err := SetKeys(s.ln, k2); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, s.ln, k2)
	sendCounted(t, a, s.addr, "a: the backup is gone", openedWithKey)
	sendCounted(t, b, s.addr, "b: the backup is gone", cookieRefused)
	sendCounted(t, b, s.addr, "b: with the new cookie", openedWithKey)
	checkArrivals(t, s, arrivals,
		arrival{"a: warm", false}, arrival{"b: warm", false},
		arrival{"a: the old key is the backup", true}, arrival{"a: the backup is gone", true},
		arrival{"b: the backup is gone", false}, arrival{"b: with the new cookie", true})
}

// TestDeriveKeysRotation follows the rotation recipe of docs/fleets.md over four periods: a
// cookie stays valid through the period after the one that issued it, at whatever server
// of the fleet the client reaches, and no longer; a server whose keys lag a period
// behind costs a client one conn without fast open.
func TestDeriveKeysRotation(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	const period = time.Hour
	t0 := time.Date(2026, 5, 1, 10, 20, 0, 0, time.UTC)
	arrivals, ahead := make(chan arrival, 8), make(chan arrival, 4)
	s := keyServer(t, freshHost()+":0", arrivals, DeriveKeys(fleetSecret, period, t0)...)
	host, _, _ := net.SplitHostPort(s.addr)
	a, b := dialFrom("127.0.0.1"), dialFrom("127.0.0.2")
	send(t, a, s.addr, "a: warm")
	send(t, b, s.addr, "b: warm")
	at := func(t *testing.T, tm time.Time) {
		if err := SetKeys(s.ln, DeriveKeys(fleetSecret, period, tm)...); err != nil {
			t.Fatal(err)
		}
	}

	// Another server of the fleet, whose keys are those of the next period already,
	// accepts b's cookie with its backup, and gives b a cookie of the next period,
	// which this server, still in the first, refuses.
	next := keyServer(t, net.JoinHostPort(host, "0"), ahead, DeriveKeys(fleetSecret, period, t0.Add(period))...)
	sendCounted(t, b, next.addr, "b: at a server a period ahead", openedWithBackup)
	checkArrivals(t, next, ahead, arrival{"b: at a server a period ahead", true})
	sendCounted(t, b, s.addr, "b: back at a server a period behind", cookieRefused)

	at(t, t0.Add(period))
	sendCounted(t, a, s.addr, "a: in the next period", openedWithBackup)
	at(t, t0.Add(2*period))
	sendCounted(t, a, s.addr, "a: in the period after", openedWithBackup)
	sendCounted(t, b, s.addr, "b: two periods after its cookie", cookieRefused)
	at(t, t0.Add(4*period))
	sendCounted(t, a, s.addr, "a: two periods after its cookie", cookieRefused)
	checkArrivals(t, s, arrivals,
		arrival{"a: warm", false}, arrival{"b: warm", false}, arrival{"b: back at a server a period behind", false},
		arrival{"a: in the next period", true}, arrival{"a: in the period after", true},
		arrival{"b: two periods after its cookie", false}, arrival{"a: two periods after its cookie", false})
}

// TestKeyMatchesSysctl checks the Key's documented relation to net.ipv4.tcp_fastopen_key:
// a listener with the Key {0x00, …, 0x0f} accepts the cookies of one that uses the
// system's key 03020100-07060504-0b0a0908-0f0e0d0c, and one with the bytes in the
// order the sysctl prints them does not.
func TestKeyMatchesSysctl(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	setSysctl(t, "net/ipv4/tcp_fastopen_key", "03020100-07060504-0b0a0908-0f0e0d0c")
	host := freshHost()
	arrivals := make(chan arrival, 8)
	sys := keyServer(t, host+":0", arrivals)
	send(t, dialZero, sys.addr, "warm")
	sendCounted(t, dialZero, sys.addr, "with the system's key", openedWithKey)

	own := keyServer(t, host+":0", arrivals, key(0))
	sendCounted(t, dialZero, own.addr, "with the same Key", openedWithKey)
	printed := keyServer(t, host+":0", arrivals, Key{0x03, 0x02, 0x01, 0x00, 0x07, 0x06, 0x05, 0x04, 0x0b, 0x0a, 0x09, 0x08, 0x0f, 0x0e, 0x0d, 0x0c})
	sendCounted(t, dialZero, printed.addr, "with the printed bytes", cookieRefused)
}

// TestKeysRefused checks kernels that take fewer keys, as their refusals are injected:
// one that takes a single key (Linux 4.15 to 5.2) gets the first of two, and one that
// takes none (before 4.15) leaves the listener the system's key. Listen never fails,
// and SetKeys reports the refusal with an error that matches errors.ErrUnsupported and
// the kernel's errno.
func TestKeysRefused(t *testing.T) {
	verifyNone(t)
	requireWire(t)
	k1, k2 := key(0x50), key(0x60)
	set := keysSockopt
	t.Cleanup(func() { keysSockopt = set })
	for _, tt := range []struct {
		name  string
		errno syscall.Errno
		max   int // how many keys the kernel takes
	}{
		{"Linux 4.15", unix.EINVAL, 1},
		{"Linux 4.14", unix.ENOPROTOOPT, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			keysSockopt = func(fd int, b []byte) error {
				if len(b) > tt.max*len(Key{}) {
					return tt.errno
				}
				return set(fd, b)
			}
			arrivals := make(chan arrival, 4)
			s := keyServer(t, freshHost()+":0", arrivals, k1, k2)
			want := []Key{k1, k2}[:tt.max]
			checkKeys(t, s.ln, want...)
			send(t, dialZero, s.addr, "warm")
			sendCounted(t, dialZero, s.addr, "fast open all the same", openedWithKey)

			err := SetKeys(s.ln, k2, k1)
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Op != "set" || !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, tt.errno) {
				t.Errorf("SetKeys: %v; want a *net.OpError matching errors.ErrUnsupported and %v", err, tt.errno)
			}
			checkKeys(t, s.ln, []Key{k2, k1}[:tt.max]...)
			checkArrivals(t, s, arrivals, arrival{"warm", false}, arrival{"fast open all the same", true})
		})
	}
}
