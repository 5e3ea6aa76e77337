//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/netns"
)

// TestMain lets the test binary act as the bench's node: the harness
// re-executes os.Executable() (here, the test binary) as "node".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "node" {
		if err := runNode(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "mdns-bench node:", err)
			os.Exit(exitFailure)
		}
		os.Exit(exitOK)
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

// TestBenchBothSmoke runs the harness at N=4 with both implementations and
// short windows, and checks that it works, not how fast anything is.
func TestBenchBothSmoke(t *testing.T) {
	requireNetns(t)
	jsonFile := filepath.Join(t.TempDir(), "results.jsonl")
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := runBench(t.Context(), []string{"-n", "4", "--impl", "both", "--window", "2s", "--steady", "4s",
		"--converge-timeout", "20s", "--json", jsonFile}, &stdout, &stderr)
	t.Logf("ran in %v\n%s\n%s", time.Since(start).Round(time.Millisecond), stderr.String(), stdout.String())
	if code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(stdout.String(), "ours/go") || !strings.Contains(stdout.String(), "steady pkt/node/min") {
		t.Error("the table or the ratios are missing from stdout")
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
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(impls, ",") != implOurs+","+implGo {
		t.Fatalf("runs %v, want ours then go-libp2p", impls)
	}
}

func checkResult(t *testing.T, r *Result) {
	t.Helper()
	name := r.Impl
	if r.N != 4 || r.Run != 1 || r.SteadyS != 4 || r.WindowS != 2 {
		t.Errorf("%s: parameters %+v", name, r.runConfig)
	}
	// Every node must find every other. Every pair must be connected with
	// ours; go-libp2p's notifee is told of a peer once and dials once, so
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
	if r.Impl == implGo && r.FoundCalls < 12 {
		t.Errorf("go-libp2p: %d HandlePeerFound calls for 12 ordered pairs", r.FoundCalls)
	}
	if r.EventsDropped != 0 {
		t.Errorf("%s: %d events dropped", name, r.EventsDropped)
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
		{"--impl", "go-libp2p", "--probe-hints"}, {"--steady", "-1s"}, {"extra"},
	} {
		var stderr bytes.Buffer
		if _, err := parseBenchFlags(args, &stderr); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	f, err := parseBenchFlags([]string{"-n", "30", "--impl", "both", "--steady", "5m", "--loss", "2.5", "--probe-hints"}, &bytes.Buffer{})
	if err != nil || f.n != 30 || f.steady != 5*time.Minute || f.loss != 2.5 || !f.probeHints {
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
