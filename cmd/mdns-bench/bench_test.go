//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/benchstat"
	"github.com/chorus-services/discovery/internal/netns"
)

// TestMain lets the test binary act as the bench's node: the harness
// re-executes os.Executable() (here, the test binary) as "node".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "node" {
		os.Exit(runMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func requireNetns(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("the bench builds network namespaces: not with -short")
	}
	if err := netns.Available(); err != nil {
		if os.Getenv(netns.RequireEnv) == "1" {
			t.Fatalf("%v (and %s=1 requires namespace tests to run)", err, netns.RequireEnv)
		}
		t.Skipf("skipping: the bench needs namespaces: %v", err)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		if os.Getenv(netns.RequireEnv) == "1" {
			t.Fatalf("the bench needs nft (nftables) (and %s=1 requires namespace tests to run)", netns.RequireEnv)
		}
		t.Skip("skipping: the bench needs nft (nftables)")
	}
}

// TestBenchBothSmoke runs the harness at N=4 with the three
// implementations, in the join scenario (three nodes start together, the
// fourth 2.5 s later), with short windows, and checks that it works, not
// how fast anything is.
func TestBenchBothSmoke(t *testing.T) {
	requireNetns(t)
	jsonFile := filepath.Join(t.TempDir(), "results.jsonl")
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := runBench(t.Context(), []string{"-n", "4", "--impl", "all", "--join", "2500ms", "--window", "2s", "--steady", "4s",
		"--converge-timeout", "20s", "--json", jsonFile}, &stdout, &stderr)
	t.Logf("ran in %v\n%s\n%s", time.Since(start).Round(time.Millisecond), stderr.String(), stdout.String())
	if code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	for _, want := range []string{"ours/go", "ours-dropin/go", "steady pkt/node/min", "others found it", "join: joiner found all"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("%q is missing from stdout", want)
		}
	}
	if ns := namespaceList(t); strings.Contains(ns, fmt.Sprintf("%s%d-", netns.Prefix, os.Getpid())) {
		t.Errorf("namespaces left behind:\n%s", ns)
	}

	if n := nodeProcesses(t); n > 0 {
		t.Errorf("%d node processes left running", n)
	}

	f, err := os.Open(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var impls []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("JSON line: %v\n%s", err, sc.Text())
		}
		impls = append(impls, r.Impl)
		checkResult(t, &r)
		checkJoin(t, &r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(impls, ","), strings.Join(allImpls, ","); got != want {
		t.Fatalf("runs %v, want %s", got, want)
	}
}

// checkJoin checks the join metrics of a smoke run: the joiner (node 4)
// starts 2.5 s after the others.
func checkJoin(t *testing.T, r *Result) {
	t.Helper()
	j := r.Join
	if j == nil {
		t.Fatalf("%s: no join result", r.Impl)
	}
	if j.SettleS != 2.5 || len(j.FoundByMS) != 3 {
		t.Errorf("%s: join %+v", r.Impl, j)
	}
	if !j.Settled {
		t.Logf("%s: the three first nodes had not settled when the fourth started (settled at %v ms)", r.Impl, j.SettledMS)
	}
	// The joiner's times count from its own start, so they are far below
	// the 2.5 s it started after the others.
	for what, v := range map[string]*float64{"found all": j.FoundAllMS, "found by all": j.FoundByAllMS} {
		if v == nil || *v <= 0 || *v > 15000 {
			t.Errorf("%s: joiner %s at %v ms", r.Impl, what, v)
		}
	}
	if r.Impl != implGo && (j.ConnectedAllMS == nil || *j.ConnectedAllMS <= 0) {
		t.Errorf("%s: joiner connected all at %v ms", r.Impl, j.ConnectedAllMS)
	}
	if j.FoundBy.N != 3 || j.FoundBy.Max != *j.FoundByAllMS {
		t.Errorf("%s: found by %+v", r.Impl, j.FoundBy)
	}
	// The joiner sends at least one query (and ours its probes).
	if j.Traffic.Packets == 0 || j.Traffic.Seconds <= 0 {
		t.Errorf("%s: join traffic %+v", r.Impl, j.Traffic)
	}
	if r.FindAll.Max*1e-3 < j.SettleS {
		t.Errorf("%s: every node had found all at %.0f ms, before the joiner started", r.Impl, r.FindAll.Max)
	}
}

func checkResult(t *testing.T, r *Result) {
	t.Helper()
	name := r.Impl
	if r.N != 4 || r.Run != 1 || r.SteadyS != 4 || r.WindowS != 2 {
		t.Errorf("%s: parameters %+v", name, r.Params)
	}
	// Every node must find every other. Every pair must be connected with
	// ours (and its drop-in, whose notifee connects); go-libp2p's notifee is told of a peer once and dials once, so
	// a failed (e.g. simultaneous) dial leaves its pair unconnected for
	// good: that is the baseline's behaviour, logged, not a harness fault.
	if r.MissedPairs != 0 || r.MeshFoundMS == nil {
		t.Errorf("%s: not every node found every other: missed %d", name, r.MissedPairs)
	}
	connectedAll := r.Converged && r.UnconnectedPairs == 0 && r.MeshConnectedMS != nil && r.ConnectAll.N == 4
	switch {
	case connectedAll:
	case r.Impl == implGo:
		t.Logf("%s: %d pair(s) never connected (its notifee dials each peer once)", name, r.UnconnectedPairs)
	default:
		t.Errorf("%s: not every pair connected: converged %v, unconnected %d", name, r.Converged, r.UnconnectedPairs)
	}
	if len(r.FindAllMS) != 4 || r.FindAll.N != 4 {
		t.Errorf("%s: per-node times %v", name, r.FindAllMS)
	}
	for i, ms := range r.FindAllMS {
		if ms == nil || *ms <= 0 || *ms > 20000 {
			t.Errorf("%s: node %d found all at %v ms", name, i+1, ms)
		}
	}
	if r.MeshFoundMS != nil && r.MeshConnectedMS != nil && r.Conv.Seconds*1000 < *r.MeshFoundMS-200 {
		t.Errorf("%s: conv window %.3fs ends before the mesh was found (%.0f ms)", name, r.Conv.Seconds, *r.MeshFoundMS)
	}
	// Every node announces and queries on both families: some packets of
	// each in the convergence window, fewer than a storm, and every packet
	// is at least IP + UDP + DNS headers long.
	for _, w := range []struct {
		name string
		w    window
	}{{"conv", r.Conv}, {"window", r.Window}} {
		if w.w.Packets < 4 || w.w.Packets > 5000 || w.w.V4Packets == 0 || w.w.V6Packets == 0 ||
			w.w.Bytes < 40*w.w.Packets || w.w.Bytes > 9000*w.w.Packets || w.w.Packets != w.w.V4Packets+w.w.V6Packets {
			t.Errorf("%s: %s window counters %+v", name, w.name, w.w)
		}
	}
	if r.Window.Packets < r.Conv.Packets && r.WindowS*1000 >= *r.MeshFoundMS {
		t.Errorf("%s: window %d packets < conv %d", name, r.Window.Packets, r.Conv.Packets)
	}
	if r.Steady == nil || r.Steady.Seconds < 3.5 || r.Steady.Seconds > 6 || r.SteadyCPU == nil || len(r.SteadyCPUPerMin) != 4 {
		t.Errorf("%s: steady window %+v", name, r.Steady)
	} else if r.Steady.Packets > 2000 {
		t.Errorf("%s: %d packets in 4 s of steady state", name, r.Steady.Packets)
	}
	if r.RcvbufDrops > 1000 || r.InjectedLoss != 0 {
		t.Errorf("%s: %d receive-buffer drops, %d injected losses at N=4", name, r.RcvbufDrops, r.InjectedLoss)
	}
	if len(r.CPUS) != 4 || r.CPU.N != 4 || r.CPU.Max <= 0 || r.CPU.Max > 60 || r.RunS < 6 {
		t.Errorf("%s: cpu %v over %.1f s", name, r.CPUS, r.RunS)
	}
	if len(r.RSSMiB) != 4 || r.RSS.Median < 5 || r.RSS.Max > 2048 {
		t.Errorf("%s: peak rss %v MiB", name, r.RSSMiB)
	}
	if r.Impl != implOurs && r.FoundCalls < 12 {
		t.Errorf("%s: %d HandlePeerFound calls for 12 ordered pairs", name, r.FoundCalls)
	}
	if r.EventsDropped != 0 || r.ChanDropped != 0 {
		t.Errorf("%s: %d events, %d PeersChan deliveries dropped", name, r.EventsDropped, r.ChanDropped)
	}
	if len(r.PairConnectMS) != 6 || (connectedAll && r.PairConnect.N != 6) || r.PairConnect.Max > orNaN(r.MeshConnectedMS) {
		t.Errorf("%s: pair connection times %+v", name, r.PairConnect)
	}
}

// TestBenchInterruptCleansUp: an interrupt in the middle of a run stops
// the nodes and deletes the namespaces.
func TestBenchInterruptCleansUp(t *testing.T) {
	requireNetns(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	timer := time.AfterFunc(5*time.Second, cancel)
	defer timer.Stop()
	var stdout, stderr bytes.Buffer
	code := runBench(ctx, []string{"-n", "3", "--impl", "ours", "--steady", "1m", "--quiet"}, &stdout, &stderr)
	if code != exitInterrupted {
		t.Fatalf("exit code %d, want %d\n%s", code, exitInterrupted, stderr.String())
	}
	if ns := namespaceList(t); strings.Contains(ns, fmt.Sprintf("%s%d-", netns.Prefix, os.Getpid())) {
		t.Errorf("namespaces left behind:\n%s", ns)
	}
	if n := nodeProcesses(t); n > 0 {
		t.Errorf("%d node processes left running", n)
	}
}

// nodeProcesses counts the processes running this test binary as a node.
func nodeProcesses(t *testing.T) int {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	n := 0
	for _, path := range cmdlines {
		b, err := os.ReadFile(path)
		if err == nil && bytes.HasPrefix(b, []byte(self+"\x00node\x00")) {
			n++
		}
	}
	return n
}

func namespaceList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "1"}, {"-n", "51"}, {"--impl", "rust"}, {"--runs", "0"}, {"--loss", "101"},
		{"--impl", "go-libp2p", "--strict-probes"}, {"--steady", "-1s"}, {"extra"}, {"--impl", "ours,ours"},
		{"--impl", "ours,rust"}, {"--join", "-1s"}, {"-n", "2", "--join", "5s"},
	} {
		var stderr bytes.Buffer
		if _, err := parseBenchFlags(args, &stderr); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	f, err := parseBenchFlags([]string{"-n", "30", "--impl", "both", "--steady", "5m", "--loss", "2.5", "--strict-probes"}, &bytes.Buffer{})
	if err != nil || f.n != 30 || f.steady != 5*time.Minute || f.loss != 2.5 || !f.strictProbes {
		t.Fatalf("%+v, %v", f, err)
	}
}

func TestSummarizeAndSNMP(t *testing.T) {
	s := summarize([]float64{5, 1, 3, 2, 4})
	if s.N != 5 || s.Median != 3 || s.Max != 5 || s.P99 != 5 || s.Mean != 3 {
		t.Fatalf("%+v", s)
	}
	snmp := "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 10 0 7 12 7 0\n"
	if v, err := snmpField(snmp, "Udp:", "RcvbufErrors"); err != nil || v != 7 {
		t.Fatalf("RcvbufErrors = %d, %v", v, err)
	}
	if v, err := snmp6Field("Udp6InDatagrams 3\nUdp6RcvbufErrors 9\n", "Udp6RcvbufErrors"); err != nil || v != 9 {
		t.Fatalf("Udp6RcvbufErrors = %d, %v", v, err)
	}
}

func TestImplList(t *testing.T) {
	for in, want := range map[string]string{
		"both": "ours,go-libp2p", "all": "ours,ours-dropin,go-libp2p", "ours-dropin": "ours-dropin",
		"go-libp2p, ours": "go-libp2p,ours", "ours,ours": "", "": "", "rust": "",
	} {
		if got := strings.Join(implList(in), ","); got != want {
			t.Errorf("implList(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestJoinMetrics: the join and pair metrics from hand-made matrices.
// Nodes 0 and 1 start at 0 and settle by 0.9 s; node 2 joins at 5 s.
func TestJoinMetrics(t *testing.T) {
	nan := math.NaN()
	r := &run{cfg: runConfig{Params: benchstat.Params{N: 3}, Join: 5 * time.Second}, offset: []float64{0, 0, 5}, snaps: map[string]snapshot{}}
	r.found = [][]float64{{nan, 0.8, 5.9}, {0.7, nan, 5.8}, {5.05, 5.07, nan}}
	r.conn = [][]float64{{nan, 0.9, nan}, {nan, nan, nan}, {5.1, 5.2, nan}}
	j := r.join()
	near := func(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-6 }
	if !j.Settled || !near(j.SettledMS, 900) || !near(j.FoundAllMS, 70) || !near(j.ConnectedAllMS, 200) ||
		!near(j.FoundByAllMS, 900) || j.FoundBy.N != 2 || math.Abs(j.FoundBy.Median-850) > 1e-6 {
		t.Errorf("join %+v (settled %v, found all %v, connected all %v, found by all %v)", j, *j.SettledMS, *j.FoundAllMS, *j.ConnectedAllMS, *j.FoundByAllMS)
	}
	pairs, st := r.pairConnect()
	// (0,1) at 0.9 s from 0; (0,2) at 5.1 s, (1,2) at 5.2 s, from 5 s.
	if len(pairs) != 3 || !near(pairs[0], 900) || !near(pairs[1], 100) || !near(pairs[2], 200) || st.Max != 900 {
		t.Errorf("pairs %v %+v", pairs, st)
	}
	// Node 1 never found the joiner: no "found by all"; a pair never
	// connected leaves the LAN unsettled.
	r.found[1][2], r.conn[0][1] = nan, nan
	if j := r.join(); j.FoundByAllMS != nil || j.FoundBy.N != 1 || j.Settled || j.SettledMS != nil {
		t.Errorf("join with a miss %+v", j)
	}
}
