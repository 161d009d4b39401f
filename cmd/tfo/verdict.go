package main

import "github.com/fastopen/tfo"

// A verdict is what a probe concludes of fast open to a server: its name in JSON, the
// words for it, and a line of advice.
type verdict struct {
	name, text, advice string
}

// The verdicts. A verdict other than verdictWorks names a cause; ties between causes
// go to the one that comes first here.
var (
	verdictWorks = verdict{"works", "fast open works",
		"nothing to do: repeat conns to this server carry their first bytes in the SYN and save a round trip"}
	verdictClientOff  = verdict{"client-off", "the client setting is off", clientSettingAdvice}
	verdictNoFastOpen = verdict{"no-fast-open", "the platform has no fast open",
		"nothing to do here: this system (or its kernel: Linux clients need 4.11) cannot fast-open, and tfo connects as net does"}
	verdictSYNLost = verdict{"syn-lost", "SYNs with data are lost on the path",
		"something on the path drops SYNs that carry data; tfo pauses fast open to such a server after 3 losses in a row, so that later conns cost what net's do"}
	verdictDataRefused = verdict{"data-refused", "the server refuses the data",
		"the server gave a cookie and then refused it: its servers hold different keys (share them: tfo.DeriveKeys), its key changed, or its fast open queue overflows (TcpExt TCPFastOpenListenOverflow)"}
	verdictNoCookie = verdict{"no-cookie", "the server gives no cookie",
		"turn fast open on at the server (Linux: bit 0x2 of net.ipv4.tcp_fastopen and a fast open listener, as tfo.Listen makes; 0x403 makes every listener one); if it is on, something on the path strips the fast open option"}
	verdictNotReplayable = verdict{"not-replayable", "the first bytes must not run twice, so they follow the handshake",
		"the bytes sent first are a request that net/http never sends twice, such as a POST, and a SYN's data can reach the server twice: tfo's default Dialer sends them after the handshake; probe with a GET, or let them in the SYN with Dialer.Replayable where running them twice does no harm"}
	verdictUnknown = verdict{"unknown", "not known: the reports do not tell why the conns did not fast-open",
		"read the conns' reports; where the system does not tell what became of fast open (Windows, FreeBSD), the times showed no round trip saved"}
)

// causes are the verdicts that name a cause, in the order that breaks ties.
var causes = []*verdict{&verdictClientOff, &verdictNoFastOpen, &verdictNotReplayable, &verdictSYNLost, &verdictDataRefused, &verdictNoCookie, &verdictUnknown}

// decide returns the verdict on local, the rounds and their summary s, or false if no
// tfo conn of the rounds connected. Fast open works when at least half the tfo conns
// that connected fast-opened; otherwise the verdict is the cause that most of them
// showed. Where the system does not tell what became of fast open, the times decide:
// it works if tfo saved at least half a round trip.
func decide(local Local, rounds []Round, s Summary) (verdict, bool) {
	if !local.FastOpen {
		return verdictNoFastOpen, true
	}
	clientOn := local.Setting.Client != nil && *local.Setting.Client
	var connected, fast int
	count := map[*verdict]int{}
	for _, r := range rounds {
		switch r.TFO.Outcome {
		case tfo.OutcomeNotConnected, tfo.OutcomePending:
			continue
		case tfo.OutcomeFastOpened:
			fast++
		case tfo.OutcomeSystemRefused:
			// A system that refuses fast open with the client setting on has none: a
			// kernel without TCP_FASTOPEN_CONNECT.
			if clientOn {
				count[&verdictNoFastOpen]++
			} else {
				count[&verdictClientOff]++
			}
		case tfo.OutcomeSYNLost, tfo.OutcomePaused:
			count[&verdictSYNLost]++
		case tfo.OutcomeDataRefused:
			count[&verdictDataRefused]++
		case tfo.OutcomeNoCookie:
			count[&verdictNoCookie]++
		case tfo.OutcomeNotReplayable:
			count[&verdictNotReplayable]++
		default:
			count[&verdictUnknown]++
		}
		connected++
	}
	if connected == 0 {
		return verdict{}, false
	}
	if fast > 0 && 2*fast >= connected {
		return verdictWorks, true
	}
	var best *verdict
	for _, v := range causes {
		if best == nil || count[v] > count[best] {
			best = v
		}
	}
	if best == &verdictUnknown && s.RTTMS >= minRTTMS && s.SavedRTTs >= 0.5 {
		return verdictWorks, true
	}
	return *best, true
}

// minRTTMS is the least round trip, in milliseconds, over which the times can tell a
// round trip saved from noise.
const minRTTMS = 1
