package tfo

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// TestOutcomeText checks that every outcome has a name that reads back, and a sentence.
func TestOutcomeText(t *testing.T) {
	names, texts := map[string]bool{}, map[string]bool{}
	for o := range numOutcomes {
		b, err := o.MarshalText()
		if err != nil || len(b) == 0 {
			t.Errorf("%d: MarshalText = %q, %v", o, b, err)
		}
		if names[string(b)] || texts[o.String()] {
			t.Errorf("%q: its name or its words are another outcome's too", b)
		}
		names[string(b)], texts[o.String()] = true, true
		if strings.Trim(string(b), "abcdefghijklmnopqrstuvwxyz-") != "" {
			t.Errorf("%q: a name is lower-case words joined by dashes", b)
		}
		var back Outcome
		if err := back.UnmarshalText(b); err != nil || back != o {
			t.Errorf("%q: UnmarshalText = %d, %v", b, back, err)
		}
		if len(o.String()) < 20 {
			t.Errorf("%q: String %q says too little", b, o.String())
		}
	}
	if _, err := numOutcomes.MarshalText(); err == nil {
		t.Error("MarshalText of an outcome that does not exist")
	}
	var o Outcome
	if err := o.UnmarshalText([]byte("no such outcome")); err == nil {
		t.Error("UnmarshalText of a name that does not exist")
	}
	if _, err := Report(nil); err == nil {
		t.Error("Report(nil) without an error")
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	if _, err := Report(c1); err == nil || errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Report of a pipe: %v", err)
	}
}
