// Tfo diagnoses TCP Fast Open from this machine.
//
// Usage:
//
//	tfo probe [-json] [-n N] [-tls | -data bytes] [-timeout d] host:port
//
// Probe tells whether connections from this machine to the server at host:port
// fast-open, and if not, why not. It shows, in this order:
//
//   - This machine: the operating system and its kernel; whether the client setting
//     lets clients fast-open (Linux: net.ipv4.tcp_fastopen, bit 0x1; macOS:
//     net.inet.tcp.fastopen, bit 0x2; elsewhere unknown); whether the system holds a
//     fast open cookie for the server's address, with the SYNs carrying data to it
//     that it recorded as lost (Linux: the kernel's tcp_metrics cache; elsewhere
//     unknown); what package tfo remembers about the server, which its API does
//     not show: a new process remembers nothing; and the path to the server (Linux):
//     the device its packets leave by, whether they stay on this machine (loopback,
//     or a veth to a container), and whether that device has RPS, without which a
//     fast-opened response can overtake its SYN-ACK and wait 200 ms.
//   - The first conn, dialed with package tfo, which asks the server for a cookie
//     unless the system holds one: what became of fast open on it (tfo.Report), and
//     the time from the start of the dial to the first byte of the answer.
//   - N rounds (-n, 5 by default), each a conn with tfo and one with package net, the
//     order alternating from round to round: the tfo conn's report, and the time to
//     the first byte of the answer with each package. Their medians, net's median
//     connect time, which is one round trip, and the time tfo saved, in milliseconds
//     and in round trips.
//   - The system's cookie cache again, after the conns.
//   - A verdict, with a line of advice.
//
// Each conn sends first what any server of its kind answers at once: by default an
// HTTP request, "HEAD / HTTP/1.1" with a Host header and "Connection: close"; with
// -tls, a TLS ClientHello from crypto/tls that offers an X25519 key share alone, so
// that it fits in a SYN, and the first byte of the ServerHello is the answer timed
// (the certificate is not checked: nothing is sent over the session); with -data, the
// bytes given, in which the escapes of a Go string literal (\r, \n, \x00) stand for
// the bytes they name. As with any tfo.Dialer, bytes that net/http would not send twice,
// such as a POST, do not travel in the SYN.
//
// The verdicts, with the -json name of each:
//
//	works         fast open works: at least half the tfo conns of the rounds fast-opened
//	no-cookie     the server gives no cookie (or something on the path strips the option)
//	data-refused  the server refuses the data of the cookies it gave
//	syn-lost      SYNs with data are lost on the path
//	client-off    the client setting is off
//	no-fast-open  the platform has no fast open (or the kernel is too old)
//	not-replayable the bytes sent first must not run twice (a POST, say), so tfo
//	              sends them after the handshake
//	unknown       the platform does not tell what became of fast open, and the times
//	              show no round trip saved
//
// A verdict other than works names the cause that most tfo conns of the rounds
// showed. Probe exits with 0 when fast open works, 1 when it does not or the probe
// could not reach the server, and 2 for a usage error.
//
// The flags are:
//
//	-json
//		print the result as JSON: an object of type Result, whose fields are kept
//		from one version to the next (go doc -cmd -all github.com/fastopen/tfo/cmd/tfo
//		describes each); a usage error too, in its error field
//	-n N
//		the number of rounds after the first conn, from 1 to 1000 (default 5)
//	-tls
//		send a TLS ClientHello first
//	-data bytes
//		send these bytes first
//	-timeout d
//		the time each conn has to connect and answer (default 10s)
//
// On Linux the conns go from the network namespace of the process, and the settings
// and the cookie cache shown are that namespace's.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0 // fast open works, or help was asked for
	exitFails = 1 // it does not, or the probe failed
	exitUsage = 2 // a usage error
)

const usage = `usage: tfo probe [-json] [-n N] [-tls | -data bytes] [-timeout d] host:port

Run 'go doc github.com/fastopen/tfo/cmd/tfo' for details.
`

// run runs the command line args, without the program's name, writing to stdout and
// stderr, and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "probe":
		return runProbe(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "tfo: unknown command %q\n%s", args[0], usage)
	return exitUsage
}
