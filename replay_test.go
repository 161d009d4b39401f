package tfo

import (
	"strings"
	"testing"
)

func TestDefaultReplayable(t *testing.T) {
	const (
		get  = "GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n"
		post = "POST /p HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nhi"
	)
	tlsHello := string([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03})
	for _, tt := range []struct {
		name string
		b    string
		want bool
	}{
		{"GET", get, true},
		{"HEAD", "HEAD / HTTP/1.1\r\n\r\n", true},
		{"OPTIONS", "OPTIONS * HTTP/1.1\r\n\r\n", true},
		{"TRACE", "TRACE / HTTP/1.1\r\n\r\n", true},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", true},
		{"POST", post, false},
		{"PUT", "PUT /x HTTP/1.1\r\n\r\n", false},
		{"PATCH", "PATCH /x1 HTTP/1.1\r\n\r\n", false},
		{"DELETE", "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"HTTP/1.0 POST", "POST /p HTTP/1.0\r\n\r\n", false},
		{"unknown method", "PROPFIND /x HTTP/1.1\r\n\r\n", false},
		{"absolute URI, as to a proxy", "POST http://example.com/p HTTP/1.1\r\n\r\n", false},
		{"lower-case get", "get / HTTP/1.1\r\n\r\n", false},
		{"lower-case post", "post / HTTP/1.1\r\n\r\n", false},
		{"line feeds only", "POST /p HTTP/1.1\nHost: h\n\n", false},

		{"Idempotency-Key", "POST /p HTTP/1.1\r\nHost: h\r\nIdempotency-Key: 42\r\n\r\n", true},
		{"X-Idempotency-Key", "PATCH /p HTTP/1.1\r\nX-Idempotency-Key: 42\r\n\r\n", true},
		{"idempotency key in lower case", "POST /p HTTP/1.1\r\nidempotency-key: 42\r\n\r\n", true},
		{"key in the body", "POST /p HTTP/1.1\r\nContent-Length: 20\r\n\r\nIdempotency-Key: 42\r\n", false},
		{"key's line not complete", "POST /p HTTP/1.1\r\nIdempotency-Key: 4", false},
		{"key's name cut", "POST /p HTTP/1.1\r\nIdempotency-K", false},
		{"similar name", "POST /p HTTP/1.1\r\nIdempotency-Keys: 42\r\n\r\n", false},

		// Requests split over several Writes: the first decides.
		{"first Write of a POST: request line", "POST /p HTTP/1.1\r\n", false},
		{"first Write of a POST: method", "POST", false},
		{"first Write of a POST: method and space", "POST ", false},
		{"first Write of a GET: method", "GET", true},
		{"first Write of a PROPFIND: method cut", "PROPF", false},
		{"first Write of a DELETE", "DELETE", false},
		{"first Write of a GET: method and space", "GET ", true},
		{"short: P", "P", false},
		{"short: PO", "PO", false},
		{"short: target cut", "POST /x", false},
		{"short: scheme cut", "POST htt", false},
		{"short: version cut", "POST /x HTTP/", false},
		{"short: version cut in H", "POST /x H", false},
		{"short: version without line end", "POST /x HTTP/1.1", false},

		{"empty", "", true},
		{"TLS ClientHello", tlsHello, true},
		{"h2c preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", true},
		{"HTTP/2 version", "POST / HTTP/2\r\n\r\n", true},
		{"raw message", "PING 1", true},
		{"raw word", "PING", true},
		{"raw word, lower case", "hello", true},
		{"raw letter", "x", true},
		{"lower-case method alone", "post", true},
		{"raw line", "hello 0", true},
		{"redis inline command", "SET key value\r\n", true},
		{"redis RESP", "*1\r\n$4\r\nPING\r\n", true},
		{"SMTP-like", "EHLO example.com\r\n", true},
		{"binary", "\x00\x01\x02", true},
		{"method without target", "POST  HTTP/1.1\r\n", true},
		{"target not a path", "POST x HTTP/1.1\r\n", true},
		{"control character in target", "POST /\x01 HTTP/1.1\r\n", true},
		{"no version", "POST /x\r\n\r\n", true},
		{"leading space", " POST /x HTTP/1.1\r\n\r\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultReplayable([]byte(tt.b)); got != tt.want {
				t.Errorf("DefaultReplayable(%q) = %v, want %v", tt.b, got, tt.want)
			}
		})
	}
}

// TestDefaultReplayablePrefixes checks that no first Write that is the start of a POST
// counts as replayable, whatever its length.
func TestDefaultReplayablePrefixes(t *testing.T) {
	const post = "POST http://example.com/p HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nhi"
	for i := 1; i <= len(post); i++ {
		if DefaultReplayable([]byte(post[:i])) {
			t.Errorf("DefaultReplayable(%q) = true", post[:i])
		}
	}
	const keyed = "PUT /p HTTP/1.1\r\nIdempotency-Key: 1\r\n\r\n"
	at := strings.Index(keyed, "\r\n\r\n")
	for i := 1; i <= len(keyed); i++ {
		if got, want := DefaultReplayable([]byte(keyed[:i])), i >= at+2; got != want {
			t.Errorf("DefaultReplayable(%q) = %v, want %v", keyed[:i], got, want)
		}
	}
}

func TestAlwaysReplayable(t *testing.T) {
	if !AlwaysReplayable([]byte("POST /p HTTP/1.1\r\n\r\n")) {
		t.Error("AlwaysReplayable(POST) = false")
	}
}

func BenchmarkDefaultReplayable(b *testing.B) {
	for _, req := range []string{
		"GET /x HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Go-http-client/1.1\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 40\r\n\r\n",
	} {
		b.Run(req[:strings.IndexByte(req, ' ')], func(b *testing.B) {
			p := []byte(req)
			b.ReportAllocs()
			for b.Loop() {
				DefaultReplayable(p)
			}
		})
	}
}
