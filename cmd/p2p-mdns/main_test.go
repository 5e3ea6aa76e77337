package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := realMain(nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "sniff") {
		t.Errorf("no args: code %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := realMain([]string{"nope"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Errorf("unknown: code %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := realMain([]string{"sniff", "--bogus"}, &out, &errb); code != 2 {
		t.Errorf("bad flag: code %d", code)
	}
	if code := realMain([]string{"sniff", "--service", "a..b"}, &out, &errb); code != 2 {
		t.Errorf("bad service: code %d", code)
	}
	if code := realMain([]string{"sniff", "-h"}, &out, &errb); code != 0 {
		t.Errorf("-h: code %d", code)
	}
}

// TestHelpAndVersion: help goes to stdout with a purpose and an example,
// for the program and for every command; --version prints the version.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		var out, errb bytes.Buffer
		if code := realMain(args, &out, &errb); code != 0 || errb.Len() != 0 || !strings.Contains(out.String(), "example:") || !strings.Contains(out.String(), "keygen") {
			t.Errorf("%q: code %d, stdout %q, stderr %q", args, code, out.String(), errb.String())
		}
	}
	for _, c := range commands {
		var out, errb bytes.Buffer
		if code := realMain([]string{c.name, "-h"}, &out, &errb); code != 0 || errb.Len() != 0 {
			t.Errorf("%s -h: code %d, stderr %q", c.name, code, errb.String())
		}
		first, _, _ := strings.Cut(out.String(), "\n")
		if first != "p2p-mdns "+c.name+": "+c.summary || !strings.Contains(out.String(), "\nexample:\n  ") || !strings.Contains(out.String(), "p2p-mdns "+c.name) || !strings.Contains(out.String(), "-log-level") && c.name != "keygen" {
			t.Errorf("%s -h:\n%s", c.name, out.String())
		}
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		var out, errb bytes.Buffer
		if code := realMain(args, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "p2p-mdns v") || !strings.Contains(out.String(), " go1.") {
			t.Errorf("%q: code %d, %q", args, code, out.String())
		}
	}
}

// TestSniffRead decodes a capture with --read, in both output formats.
func TestSniffRead(t *testing.T) {
	path := "../../testdata/pcap/d_golibp2p_two_nodes.pcap"
	var out, errb bytes.Buffer
	if code := realMain([]string{"sniff", "--read", path}, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	for _, want := range []string{"query", "response", "goodbye", "12D3KooWMxqzRsw4HnxR6p53QLxNWYC4EMMxgPAP65SGJ2SXjQte", "/ip4/198.51.100.11/udp/4001/quic-v1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	out.Reset()
	if code := realMain([]string{"sniff", "--json", "--read", path}, &out, &errb); code != 0 {
		t.Fatalf("code %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var r struct {
		Kind string `json:"kind"`
		Src  string `json:"src"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil || r.Kind != "query" || !strings.HasPrefix(r.Src, "198.51.100.11") {
		t.Errorf("first line %q: %v", lines[0], err)
	}
}

func TestSniffReadBadFile(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pcap")
	if err := os.WriteFile(bad, []byte("this is not a capture"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := realMain([]string{"sniff", "--read", bad}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "not a pcap") {
		t.Errorf("code %d: %q", code, errb.String())
	}
	if code := realMain([]string{"sniff", "--read", bad + ".missing"}, &out, &errb); code != 2 {
		t.Errorf("missing file: code %d", code)
	}
}

// usageCase is one invalid invocation of a subcommand.
type usageCase struct {
	name string
	args []string
	want string // in stderr
}

// checkUsage runs each case of sub and wants exit code 2, want in stderr
// (once, on one line) and nothing on stdout; then `sub -h` exits 0 and
// mentions helpFlag on stdout.
func checkUsage(t *testing.T, sub string, cases []usageCase, helpFlag string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := realMain(append([]string{sub}, tc.args...), &out, &errb); code != 2 {
				t.Errorf("code %d, want 2: %s", code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", errb.String(), tc.want)
			}
			if strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 || !strings.HasPrefix(errb.String(), "p2p-mdns "+sub+": ") {
				t.Errorf("usage error not one line: %q", errb.String())
			}
			if out.Len() != 0 {
				t.Errorf("printed %q", out.String())
			}
		})
	}
	var out, errb bytes.Buffer
	if code := realMain([]string{sub, "-h"}, &out, &errb); code != 0 || !strings.Contains(out.String(), helpFlag) {
		t.Errorf("-h: code %d, %q", code, out.String())
	}
}
