package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorus-services/discovery/internal/pcapread"
)

var updateGoldens = flag.Bool("update", false, "rewrite the replay goldens in testdata/replay")

func replayCaptures(t *testing.T) []string {
	files, _ := filepath.Glob("../../testdata/pcap/*.pcap")
	if len(files) == 0 {
		t.Fatal("no captures in ../../testdata/pcap")
	}
	return files
}

// TestReplayGolden replays every capture with --json and compares the
// output with testdata/replay/<name>.jsonl (go test -run TestReplayGolden
// -update rewrites them). It also checks the events against the capture's
// sidecar: per peer, the union of the found / updated addresses is exactly
// its expected multiaddrs after the default address rules, the peers that
// said goodbye are lost, and no other peer appears.
func TestReplayGolden(t *testing.T) {
	for _, path := range replayCaptures(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".pcap")
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := realMain([]string{"replay", "--json", path}, &out, &errb); code != 0 {
				t.Fatalf("code %d: %s", code, errb.String())
			}
			golden := filepath.Join("testdata", "replay", name+".jsonl")
			if *updateGoldens {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s (run with -update to rewrite it):\n got:\n%s\nwant:\n%s", golden, out.Bytes(), want)
			}

			sc, err := pcapread.ReadSidecar(path)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]map[string]bool{}
			lost := map[string]bool{}
			lastT := 0.0
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			// The last line is the file record.
			var rec fileRecord
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil || rec.Event != "file" || rec.File != path || rec.Datagrams == 0 || rec.Frames < rec.Datagrams || rec.Peers != len(sc.Expected.Peers) && name != "g1_avahi_txt_too_large" {
				t.Errorf("file record %q (%v), want %d peers", lines[len(lines)-1], err, len(sc.Expected.Peers))
			}
			for _, l := range lines[:len(lines)-1] {
				if l == "" {
					continue
				}
				var ev peerEvent
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatalf("bad line %q: %v", l, err)
				}
				if ev.File != path || ev.T < lastT || ev.Addrs == nil {
					t.Errorf("line %q: file, time order or addrs wrong", l)
				}
				lastT = ev.T
				switch ev.Event {
				case evFound, evUpdated:
					if got[ev.ID] == nil {
						got[ev.ID] = map[string]bool{}
					}
					for _, a := range ev.Addrs {
						got[ev.ID][a] = true
					}
				case evLost:
					lost[ev.ID] = true
				default:
					t.Errorf("unexpected event %q", ev.Event)
				}
			}
			// A peer proposed in a probe and never announced (avahi's
			// too-large TXT in g1) is found from its probe, as by default,
			// and lost; the sidecars list only what responses carry.
			expected := map[string]bool{}
			for _, p := range sc.Expected.Peers {
				expected[p.PeerID] = true
			}
			for id := range got {
				if !expected[id] && lost[id] {
					delete(got, id)
					delete(lost, id)
				}
			}
			// replay's default rules: loopback dropped, link-local zoned
			// with --iface-name (eth0).
			browserView := func(p pcapread.ExpectedPeer) ([]string, error) { return p.BrowserAddrs("eth0") }
			for _, m := range sc.Mismatches(got, lost, browserView, false) {
				t.Error(m)
			}
		})
	}
}

// TestReplayMultiple replays two captures in one run, in table mode: a
// header per file, and the same events as each file alone.
func TestReplayMultiple(t *testing.T) {
	a, d := "../../testdata/pcap/a_avahi_announce_goodbye.pcap", "../../testdata/pcap/d_golibp2p_two_nodes.pcap"
	var out, errb bytes.Buffer
	if code := realMain([]string{"replay", a, d}, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var headers []string
	counts := map[string]int{}
	for _, l := range lines {
		if strings.HasPrefix(l, "# ") {
			headers = append(headers, l)
			continue
		}
		f := strings.Fields(l)
		if len(f) < 5 {
			t.Fatalf("short table line %q", l)
		}
		counts[f[1]]++
	}
	// Per file: its name before its events, a summary after them.
	if len(headers) != 4 || headers[0] != "# "+a || !strings.Contains(headers[1], a+": 26 mDNS datagrams") || headers[2] != "# "+d || !strings.Contains(headers[3], d+": 80 mDNS datagrams") {
		t.Errorf("headers %q", headers)
	}
	// a: one peer found and lost; d: two peers found and lost.
	if counts[evFound] != 3 || counts[evLost] != 3 {
		t.Errorf("events %v\n%s", counts, out.String())
	}
	// Flags after the files are accepted too, and --json carries "file".
	out.Reset()
	if code := realMain([]string{"replay", a, "--json", d}, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"file":"`+a+`"`) || !strings.Contains(out.String(), `"file":"`+d+`"`) || strings.Contains(out.String(), "# ") {
		t.Errorf("json output:\n%s", out.String())
	}
}

// TestReplayLinger: with --linger 0 the goodbyes of the last second of a
// capture are not reported yet.
func TestReplayLinger(t *testing.T) {
	d := "../../testdata/pcap/d_golibp2p_two_nodes.pcap"
	var out, errb bytes.Buffer
	if code := realMain([]string{"replay", "--json", "--linger", "0s", d}, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	if strings.Contains(out.String(), `"event":"lost"`) || !strings.Contains(out.String(), `"event":"found"`) {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestReplayErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pcap")
	if err := os.WriteFile(bad, []byte("this is not a capture at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := "../../testdata/pcap/a_avahi_announce_goodbye.pcap"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not a pcap", []string{"replay", bad}, "not a pcap"},
		{"missing", []string{"replay", filepath.Join(dir, "missing.pcap")}, "no such file"},
		{"good then bad", []string{"replay", "--json", good, bad}, "not a pcap"},
		{"no file", []string{"replay", "--json"}, "no capture file"},
		{"bad service", []string{"replay", "--service", "a..b", good}, ""},
		{"bad flag", []string{"replay", "--bogus", good}, ""},
		{"bad log level", []string{"replay", "--log-level", "loud", good}, ""},
		{"negative linger", []string{"replay", "--linger", "-1s", good}, "linger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := realMain(tc.args, &out, &errb); code != 2 {
				t.Errorf("code %d, want 2: %s", code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", errb.String(), tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("output before the error:\n%s", out.String())
			}
		})
	}
	var out, errb bytes.Buffer
	if code := realMain([]string{"replay", "-h"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "FILE.pcap") {
		t.Errorf("-h: code %d, %q", code, out.String())
	}
}
