package tfo

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// These tests drive race and serial, the dial plan, with fake attempts: no socket is
// made, and each attempt ends when the test says.

var (
	errRefused = errors.New("refused")
	errSilent  = errors.New("silent")
)

// fakeAddrs returns addresses named by their last byte: 10+i for IPv4, ::i for IPv6.
func fakeAddrs(four, six int) (primaries, fallbacks []*net.TCPAddr) {
	for i := range four {
		primaries = append(primaries, &net.TCPAddr{IP: net.IPv4(192, 0, 2, byte(10+i)), Port: 80})
	}
	for i := range six {
		ip := make(net.IP, 16)
		ip[0], ip[1], ip[15] = 0x20, 0x01, byte(i+1)
		fallbacks = append(fallbacks, &net.TCPAddr{IP: ip, Port: 80})
	}
	return primaries, fallbacks
}

// fakeDial records the attempts race makes, and ends each as its address's outcome
// says: an error, or nil for a connect; an address missing from outcomes waits for
// its context.
type fakeDial struct {
	outcomes map[string]error
	mu       sync.Mutex
	tried    []attempt
}

func (f *fakeDial) try(ctx context.Context, a attempt) result {
	f.mu.Lock()
	f.tried = append(f.tried, a)
	f.mu.Unlock()
	err, ok := f.outcomes[a.ra.IP.String()]
	if !ok {
		<-ctx.Done()
		err = ctx.Err()
	}
	if err != nil {
		return result{err: &net.OpError{Op: "dial", Net: "tcp", Addr: a.ra, Err: err}}
	}
	return result{ra: a.ra}
}

func (f *fakeDial) attempts() []attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.tried)
}

func failFake(ra *net.TCPAddr, err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: ra, Err: err}
}

func always(error) bool { return true }

func TestSerial(t *testing.T) {
	ras, _ := fakeAddrs(3, 0)
	for _, tt := range []struct {
		name     string
		outcomes map[string]error
		retry    func(error) bool
		winner   int // -1: none
		tried    int
		errOf    int // whose error is returned, when none wins
	}{
		{"first connects", map[string]error{"192.0.2.10": nil}, always, 0, 1, -1},
		{"first refuses, second connects", map[string]error{"192.0.2.10": errRefused, "192.0.2.11": nil}, always, 1, 2, -1},
		{"all refuse: the first's error", map[string]error{"192.0.2.10": errRefused, "192.0.2.11": errSilent, "192.0.2.12": errRefused}, always, -1, 3, 0},
		{"an error not to retry ends the list", map[string]error{"192.0.2.10": errSilent, "192.0.2.11": nil}, func(err error) bool { return !errors.Is(err, errSilent) }, -1, 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDial{outcomes: tt.outcomes}
			r := serial(context.Background(), ras, true, func() bool { return false }, f.try, tt.retry, failFake)
			if got := len(f.attempts()); got != tt.tried {
				t.Errorf("%d attempts; want %d", got, tt.tried)
			}
			if tt.winner >= 0 {
				if r.err != nil || r.ra != ras[tt.winner] {
					t.Errorf("result %v, %v; want %v", r.ra, r.err, ras[tt.winner])
				}
				if tt.winner > 0 && r.lost == nil {
					t.Error("no error of the address that failed before the winner")
				}
				return
			}
			var oe *net.OpError
			if !errors.As(r.err, &oe) || oe.Addr != ras[tt.errOf] {
				t.Errorf("error %v; want that of %v", r.err, ras[tt.errOf])
			}
		})
	}
}

// TestSerialDeadlines checks that each address gets its share of the time left, as
// net.Dialer gives it, and that an address past the deadline is reported as net does:
// by the address not tried.
func TestSerialDeadlines(t *testing.T) {
	ras, _ := fakeAddrs(3, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	end, _ := ctx.Deadline()
	var deadlines []time.Time
	try := func(ctx context.Context, a attempt) result {
		dl, _ := ctx.Deadline()
		deadlines = append(deadlines, dl)
		return result{err: errRefused}
	}
	serial(ctx, ras, true, func() bool { return false }, try, always, failFake)
	if len(deadlines) != 3 {
		t.Fatalf("%d attempts", len(deadlines))
	}
	// The attempts fail at once, so about 9 s are left for each: a third of them for
	// the first address, half for the second, all for the last.
	for i, want := range []time.Duration{3 * time.Second, 4500 * time.Millisecond, 9 * time.Second} {
		if got := time.Until(deadlines[i]); got > want || got < want-500*time.Millisecond {
			t.Errorf("address %d: %v left; want about %v", i, got, want)
		}
	}
	if !deadlines[2].Equal(end) {
		t.Errorf("the last address ends at %v; want the dial's deadline %v", deadlines[2], end)
	}

	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	r := serial(done, ras, true, func() bool { return false }, try, always, failFake)
	var oe *net.OpError
	if !errors.As(r.err, &oe) || oe.Addr != ras[0] || !errors.Is(r.err, context.Canceled) {
		t.Errorf("ended context: %v; want the first address's, canceled", r.err)
	}
}

func TestPartialDeadline(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tt := range []struct {
		left      time.Duration
		remaining int
		want      time.Duration
		err       bool
	}{
		{10 * time.Second, 2, 5 * time.Second, false},
		{10 * time.Second, 10, 2 * time.Second, false}, // the sane minimum
		{time.Second, 3, time.Second, false},           // less than the minimum: all of it
		{0, 1, 0, true},
		{-time.Second, 1, 0, true},
	} {
		got, err := partialDeadline(now, now.Add(tt.left), tt.remaining)
		if (err != nil) != tt.err || err == nil && got.Sub(now) != tt.want {
			t.Errorf("partialDeadline(%v left, %d) = %v, %v; want %v, error %v", tt.left, tt.remaining, got.Sub(now), err, tt.want, tt.err)
		}
	}
	if got, err := partialDeadline(now, time.Time{}, 3); !got.IsZero() || err != nil {
		t.Errorf("no deadline: %v, %v", got, err)
	}
}

func TestRace(t *testing.T) {
	primaries, fallbacks := fakeAddrs(1, 1)
	p, f := primaries[0].IP.String(), fallbacks[0].IP.String()
	const delay = 20 * time.Millisecond
	for _, tt := range []struct {
		name     string
		outcomes map[string]error
		winner   *net.TCPAddr // nil: none
		errOf    *net.TCPAddr
		racing   map[string]bool // whether each address's attempt raced the other family
		lost     bool
	}{
		{"primary connects before the delay", map[string]error{p: nil}, primaries[0], nil, map[string]bool{p: false}, false},
		{"primary silent: the fallback races it and wins", map[string]error{f: nil}, fallbacks[0], nil, map[string]bool{p: false, f: true}, false},
		{"primary refuses: the fallback starts at once, not racing", map[string]error{p: errRefused, f: nil}, fallbacks[0], nil, map[string]bool{p: false, f: false}, true},
		{"both refuse: the primary's error", map[string]error{p: errRefused, f: errRefused}, nil, primaries[0], nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fd := &fakeDial{outcomes: tt.outcomes}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r := race(ctx, primaries, fallbacks, delay, fd.try, always, failFake)
			switch {
			case tt.winner != nil && (r.err != nil || r.ra != tt.winner):
				t.Errorf("result %v, %v; want %v", r.ra, r.err, tt.winner)
			case tt.winner == nil:
				var oe *net.OpError
				if !errors.As(r.err, &oe) || oe.Addr != tt.errOf {
					t.Errorf("error %v; want that of %v", r.err, tt.errOf)
				}
			}
			if (r.lost != nil) != tt.lost {
				t.Errorf("lost %v; want an error %v", r.lost, tt.lost)
			}
			for _, a := range fd.attempts() {
				if want, ok := tt.racing[a.ra.IP.String()]; ok && a.racing != want {
					t.Errorf("attempt of %v: racing %v; want %v", a.ra, a.racing, want)
				}
			}
			if tt.name == "primary connects before the delay" && len(fd.attempts()) != 1 {
				t.Errorf("attempts %v; want the primary's alone", fd.attempts())
			}
		})
	}
}
