package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/benchstat"
)

func fp(v float64) *float64 { return &v }

// fastRun is a simultaneous-start run at N=2 with the given per-node
// found-all and per-pair connection times.
func fastRun(impl string, found []*float64, pairs ...*float64) netnsRun {
	x := netnsRun{Params: benchstat.Params{Impl: impl, N: 2}, FindAllMS: found, PairConnectMS: pairs}
	x.MeshFoundMS, x.MeshConnectedMS = found[len(found)-1], pairs[len(pairs)-1]
	return x
}

func TestTargetsVerdicts(t *testing.T) {
	c, err := parseFlags([]string{"-parts", "none"})
	if err != nil {
		t.Fatal(err)
	}
	r := &report{cfg: c, fast: map[int][]netnsRun{2: {
		fastRun("ours", []*float64{fp(100), fp(120)}, fp(140)),
		fastRun("ours", []*float64{fp(130), fp(900)}, fp(400)),
		fastRun("go-libp2p", []*float64{fp(5), fp(6)}, fp(17)),
	}}, join: map[int][]netnsRun{10: {
		{Params: benchstat.Params{Impl: "ours", N: 10}, Join: &joinRun{Settled: true, FoundAllMS: fp(60), ConnectedAllMS: fp(80), FoundByAllMS: nil,
			FoundByMS: []*float64{fp(900), nil}}},
	}}}
	got := r.targets()
	for _, want := range []string{
		// Pairs 140 and 400 ms: median 270 (+80 %), max 400 (+33 %).
		"| N=2: every pair connected, median | ≤ 150 ms | 270 ms | 17 ms | **no** (+80 %) |",
		"| N=2: every pair connected, max | ≤ 300 ms | 400 ms | 17 ms | **no** (+33 %) |",
		// Nodes 100, 120, 130, 900: median 125.
		"| N=2: found all, median | ≤ 150 ms | 125 ms | 6 ms | yes |",
		"| join into 9: it found all others, median | ≤ 300 ms | 60 ms | – | yes |",
		"| join into 9: all others found it, median | ≤ 300 ms | never | – | **no** (never) |",
		"| N=10: found all, max | ≤ 400 ms | – | – | not measured |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets lack\n%s\nin\n%s", want, got)
		}
	}
	if s := r.joinSection(); !strings.Contains(s, "| 1 into 9 | this project (`NewMDNSDiscovery`, `PeersChan`) | 1 (1) | 60 / 60 | 80 / 80 | never | 900 / 900 (1 never) |") {
		t.Errorf("join table:\n%s", s)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-quick", "-parts", "netns,micro", "-n", "2,3"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.parts, ",") != "fast,join,loss,noconnect,steady,micro" || c.runs != 1 || c.joinSettle != 4*time.Second ||
		len(c.ns) != 2 || c.ns[1] != 3 || !strings.HasPrefix(c.data, os.TempDir()) {
		t.Errorf("%+v", c)
	}
	c, err = parseFlags(nil)
	if err != nil || len(c.parts) != len(allParts) || c.runs != 3 || c.data != filepath.Join("testdata", "benchmarks") {
		t.Errorf("defaults %+v, %v", c, err)
	}
	for _, bad := range [][]string{{"-parts", "mirco"}, {"-join-n", "2"}, {"-n", "x"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestRenderEmpty: with no results at all the report still renders and
// lists what is missing.
func TestRenderEmpty(t *testing.T) {
	dir := t.TempDir()
	c, err := parseFlags([]string{"-parts", "none", "-data", dir, "-out", filepath.Join(dir, "B.md")})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(c.out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Not in this report (never run): micro-benchmarks, simultaneous start at N=2") {
		t.Errorf("report:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "connected.svg")); err != nil {
		t.Error(err)
	}
}
