package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/fastopen/tfo/internal/netns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if code, done := netns.Enter("bench tests"); done {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

func TestMeasure(t *testing.T) {
	if !netns.Inside() && os.Getenv("CI") == "true" {
		t.Fatal("CI=true needs the tests to run as root on Linux, in a private network namespace with fast open on")
	}
	const n, rounds = 20, 2
	res, err := measure(n, rounds, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string][2][]float64{
		"cycles/s":      res.cyclesPerSec,
		"allocs/cycle":  res.allocs,
		"round trips/s": res.tripsPerSec,
	} {
		for i, v := range m {
			if len(v) != rounds {
				t.Errorf("%s %s: %d rounds, want %d", sides[i].name, name, len(v), rounds)
			}
			for _, x := range v {
				if !(x > 0) {
					t.Errorf("%s %s: %v, want > 0", sides[i].name, name, x)
				}
			}
		}
	}
	if res.tfoCycles != n*rounds {
		t.Errorf("%d tfo cycles counted, want %d", res.tfoCycles, n*rounds)
	}
	if netns.Inside() && !res.fastOpened() {
		t.Errorf("tfo cycles not fast-opened: TCPFastOpenActive +%d, TCPFastOpenPassive +%d over %d cycles", res.active, res.passive, res.tfoCycles)
	}
	if err := res.check(); err != nil {
		t.Error(err)
	}
	var out strings.Builder
	res.print(&out)
	for _, want := range []string{"cycles/s", "allocs/cycle", "round trips/s", "fast open:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
