package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // in the standard error
	}{
		{nil, "usage: tfo probe"},
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"probe"}, "no host:port to probe"},
		{[]string{"probe", "a:1", "b:2"}, "one host:port to probe, not 2"},
		{[]string{"probe", "example.com"}, `"example.com": want host:port`},
		{[]string{"probe", ":80"}, `":80": want host:port`},
		{[]string{"probe", "example.com:"}, `"example.com:": want host:port`},
		{[]string{"probe", "-n", "0", "h:1"}, "-n 0: from 1 to 1000"},
		{[]string{"probe", "-n", "1001", "h:1"}, "-n 1001: from 1 to 1000"},
		{[]string{"probe", "-n", "x", "h:1"}, `invalid value "x" for flag -n`},
		{[]string{"probe", "-timeout", "0s", "h:1"}, "-timeout 0s: must be positive"},
		{[]string{"probe", "-tls", "-data", "x", "h:1"}, "-tls and -data: one or the other"},
		{[]string{"probe", "h:1", "-data", "x", "-tls"}, "-tls and -data: one or the other"},
		{[]string{"probe", "-data", "", "h:1"}, "-data: no bytes to send"},
		{[]string{"probe", "-data", `\q`, "h:1"}, "a bad escape"},
		{[]string{"probe", "-bogus", "h:1"}, "flag provided but not defined: -bogus"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), tt.args, &stdout, &stderr)
		if code != exitUsage {
			t.Errorf("%q: exit %d; want %d", tt.args, code, exitUsage)
		}
		if !strings.Contains(stderr.String(), tt.want) || !strings.Contains(stderr.String(), "usage: tfo probe") {
			t.Errorf("%q: standard error %q; want %q and the usage", tt.args, stderr.String(), tt.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: standard output %q; want none", tt.args, stdout.String())
		}
	}
}

// TestUsageErrorsJSON checks that with -json, standard output is one JSON object even
// for a usage error, with the error in its error field, and for -h.
func TestUsageErrorsJSON(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		err  string // in the error field
	}{
		{[]string{"probe", "-json"}, exitUsage, "no host:port to probe"},
		{[]string{"probe", "-json", "-n", "0", "h:1"}, exitUsage, "-n 0: from 1 to 1000"},
		{[]string{"probe", "-bogus", "-json", "h:1"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"probe", "--json=true", "a:1", "b:2"}, exitUsage, "one host:port to probe, not 2"},
		{[]string{"probe", "-json", "-h"}, exitOK, ""},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), tt.args, &stdout, &stderr)
		var res Result
		dec := json.NewDecoder(&stdout)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&res); err != nil {
			t.Errorf("%q: standard output is not a Result: %v", tt.args, err)
			continue
		}
		if dec.More() {
			t.Errorf("%q: more than one JSON value", tt.args)
		}
		if code != tt.code || !strings.Contains(res.Error, tt.err) || (tt.err == "") != (res.Error == "") || !strings.HasPrefix(res.Usage, "usage: tfo probe") {
			t.Errorf("%q: exit %d, error %q, usage %q; want exit %d, error %q and the usage", tt.args, code, res.Error, res.Usage, tt.code, tt.err)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"probe", "-h"}, {"probe", "-help"}} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, &stdout, &stderr); code != exitOK {
			t.Errorf("%q: exit %d; want %d", args, code, exitOK)
		}
		if !strings.HasPrefix(stdout.String(), "usage: tfo probe") || stderr.Len() != 0 {
			t.Errorf("%q: standard output %q, standard error %q; want the usage on standard output", args, stdout.String(), stderr.String())
		}
	}
}

func TestParseProbe(t *testing.T) {
	cfg, err := parseProbe([]string{"-n", "3", "[2001:db8::1]:443", "-json", "-data", `GET\r\n\x00é`, "-timeout", "2s"})
	if err != nil {
		t.Fatal(err)
	}
	want := probeConfig{target: "[2001:db8::1]:443", json: true, n: 3, data: []byte("GET\r\n\x00é"), timeout: 2 * time.Second}
	if cfg.target != want.target || cfg.json != want.json || cfg.n != want.n || !bytes.Equal(cfg.data, want.data) || cfg.timeout != want.timeout || cfg.tls {
		t.Errorf("parseProbe = %+v; want %+v", cfg, want)
	}
	if cfg.send() != sendData {
		t.Errorf("send = %q; want %q", cfg.send(), sendData)
	}
	cfg, err = parseProbe([]string{"example.com:https", "-tls"})
	if err != nil || cfg.n != 5 || cfg.timeout != 10*time.Second || cfg.send() != sendTLS {
		t.Errorf("parseProbe = %+v, %v; want 5 rounds, 10s, TLS", cfg, err)
	}
	cfg, err = parseProbe([]string{"example.com:80"})
	if err != nil || cfg.send() != sendHTTP {
		t.Errorf("parseProbe = %+v, %v; want an HTTP HEAD", cfg, err)
	}
}

// TestUnreachable checks that a probe of a port that refuses connections fails with
// exit 1 and says why, without a verdict.
func TestUnreachable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"probe", "-json", "127.0.0.1:1"}, &stdout, &stderr)
	if code != exitFails {
		t.Errorf("exit %d; want %d", code, exitFails)
	}
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	// Windows words the refusal in its own way.
	refused := runtime.GOOS == "windows" || strings.Contains(res.Error, "connection refused")
	if !strings.Contains(res.Error, "the first conn failed: ") || !strings.Contains(res.Error, "127.0.0.1:1") || !refused ||
		res.Verdict != "" || res.Address != "127.0.0.1:1" || len(res.Rounds) != 0 {
		t.Errorf("result %+v; want a refused first conn and no verdict", res)
	}
	if !strings.Contains(stderr.String(), res.Error) {
		t.Errorf("standard error %q lacks %q", stderr.String(), res.Error)
	}
}
