package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/fastopen/tfo"
)

// rounds returns rounds whose tfo conns had the outcomes os.
func rounds(os ...tfo.Outcome) []Round {
	var rs []Round
	for _, o := range os {
		rs = append(rs, Round{TFO: TFOConn{Outcome: o, FastOpened: o == tfo.OutcomeFastOpened}})
	}
	return rs
}

func repeat(o tfo.Outcome, n int) []tfo.Outcome { return slices.Repeat([]tfo.Outcome{o}, n) }

func TestDecide(t *testing.T) {
	on, off := true, false
	linux := Local{FastOpen: true, Setting: Setting{Name: "net.ipv4.tcp_fastopen", Client: &on}}
	linuxOff := Local{FastOpen: true, Setting: Setting{Name: "net.ipv4.tcp_fastopen", Client: &off}}
	unknownSetting := Local{FastOpen: true}
	none := Local{FastOpen: false}
	const (
		fast    = tfo.OutcomeFastOpened
		refused = tfo.OutcomeDataRefused
		lost    = tfo.OutcomeSYNLost
		paused  = tfo.OutcomePaused
		noCook  = tfo.OutcomeNoCookie
		system  = tfo.OutcomeSystemRefused
		unknown = tfo.OutcomeUnknown
		failed  = tfo.OutcomeNotConnected
	)
	for _, tt := range []struct {
		name     string
		local    Local
		outcomes []tfo.Outcome
		summary  Summary
		want     verdict
		ok       bool
	}{
		{"all fast-opened", linux, repeat(fast, 5), Summary{}, verdictWorks, true},
		{"half fast-opened", linux, []tfo.Outcome{refused, fast, refused, fast}, Summary{}, verdictWorks, true},
		{"one refused after a key change", linux, []tfo.Outcome{refused, fast, fast, fast, fast}, Summary{}, verdictWorks, true},
		{"fewer than half fast-opened", linux, []tfo.Outcome{refused, fast, refused}, Summary{}, verdictDataRefused, true},
		{"no cookie", linux, repeat(noCook, 5), Summary{}, verdictNoCookie, true},
		{"data refused", linux, repeat(refused, 5), Summary{}, verdictDataRefused, true},
		{"SYNs lost, then paused", linux, []tfo.Outcome{lost, lost, lost, paused, paused}, Summary{}, verdictSYNLost, true},
		{"client setting off", linuxOff, repeat(system, 5), Summary{}, verdictClientOff, true},
		{"refused, setting unknown", unknownSetting, repeat(system, 5), Summary{}, verdictClientOff, true},
		{"refused with the client setting on: an old kernel", linux, repeat(system, 5), Summary{}, verdictNoFastOpen, true},
		{"no fast open on the platform", none, repeat(system, 5), Summary{}, verdictNoFastOpen, true},
		{"a tie goes to the first cause", linux, []tfo.Outcome{refused, lost, refused, lost}, Summary{}, verdictSYNLost, true},
		{"the most common cause", linux, []tfo.Outcome{lost, refused, refused, noCook}, Summary{}, verdictDataRefused, true},
		{"failed conns do not count", linux, []tfo.Outcome{failed, failed, fast}, Summary{}, verdictWorks, true},
		{"no conn connected", linux, repeat(failed, 3), Summary{}, verdict{}, false},
		{"untold, no round trip saved", unknownSetting, repeat(unknown, 5), Summary{RTTMS: 20, SavedMS: 1, SavedRTTs: 0.05}, verdictUnknown, true},
		{"untold, a round trip saved", unknownSetting, repeat(unknown, 5), Summary{RTTMS: 20, SavedMS: 19, SavedRTTs: 0.95}, verdictWorks, true},
		{"untold, over loopback", unknownSetting, repeat(unknown, 5), Summary{RTTMS: 0.05, SavedMS: 0.1, SavedRTTs: 2}, verdictUnknown, true},
		{"not replayable", linux, repeat(tfo.OutcomeNotReplayable, 5), Summary{}, verdictNotReplayable, true},
		{"other outcomes", linux, repeat(tfo.OutcomeRaced, 2), Summary{RTTMS: 20}, verdictUnknown, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decide(tt.local, rounds(tt.outcomes...), tt.summary)
			if got != tt.want || ok != tt.ok {
				t.Errorf("decide = %q, %v; want %q, %v", got.name, ok, tt.want.name, tt.ok)
			}
		})
	}
}

// TestVerdictsDocumented checks that every verdict has words and advice, and that the
// command's documentation lists each by its name.
func TestVerdictsDocumented(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, v := range append([]*verdict{&verdictWorks}, causes...) {
		if v.name == "" || v.text == "" || v.advice == "" {
			t.Errorf("verdict %+v lacks a name, words or advice", *v)
		}
		if names[v.name] {
			t.Errorf("two verdicts named %q", v.name)
		}
		names[v.name] = true
		if !strings.Contains(string(src), "//\t"+v.name+" ") {
			t.Errorf("the package documentation does not list the verdict %q", v.name)
		}
	}
}
