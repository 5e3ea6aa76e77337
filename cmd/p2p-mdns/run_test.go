package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// runMesh starts n `p2p-mdns run --json` processes, one per namespace, and
// checks that every node finds every other and that every pair gets
// connected (a `connected` event on either side: the dialer reports it from
// host.Connect, and skips a peer the host is already connected to). Then it stops the last one with SIGTERM and checks
// that every other reports it `lost` (its goodbye, RFC 6762 §10.1).
func runMesh(t *testing.T, n int) {
	nt := netns.New(t, n)
	bin := peers.P2PMdns(t)
	procs := make([]*peers.Proc, n)
	ids := make([]string, n)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for i := range procs {
		procs[i] = peers.Start(t, fmt.Sprintf("run@h%d", i+1), nt.Exec(t.Context(), i+1, bin, "run", "--json", "--iface", netns.LinkName, "--duration", "60s"))
	}
	for i, p := range procs {
		ev := p.WaitSelf(t, ctx)
		ids[i] = ev.Str("id")
	}
	start := time.Now()
	saw := func(i, j int, kind string) bool {
		for _, e := range procs[i].Events() {
			if e.Str("event") == kind && e.Str("id") == ids[j] {
				return true
			}
		}
		return false
	}
	for {
		// Every node has found every other, and every pair is connected
		// (by either side: the other one then skips a connected peer).
		missing := 0
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				if !saw(i, j, "found") || !saw(j, i, "found") || (!saw(i, j, "connected") && !saw(j, i, "connected")) {
					missing++
				}
			}
		}
		if missing == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d pairs never found each other and connected", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("full mesh of %d nodes connected in %s", n, time.Since(start).Round(time.Millisecond))

	last := procs[n-1]
	if err := last.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n-1; i++ {
		if _, err := procs[i].WaitFor(ctx, func(e peers.Event) bool {
			return e.Str("event") == "lost" && e.Str("id") == ids[n-1]
		}); err != nil {
			t.Fatalf("node %d did not report the stopped node lost: %v", i+1, err)
		}
	}
}

func TestRunMesh2(t *testing.T) { runMesh(t, 2) }
func TestRunMesh5(t *testing.T) { runMesh(t, 5) }

// TestRunStatsFlag: a negative --stats is a usage error, before any socket
// is opened.
func TestRunStatsFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := realMain([]string{"run", "--stats", "-1s"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--stats") {
		t.Errorf("code %d, stderr %q", code, errb.String())
	}
}

// TestStatsWriterTable: the table form is one summary line.
func TestStatsWriterTable(t *testing.T) {
	var b bytes.Buffer
	ev := statsEvent{Event: "stats", T: 1.5, HeapInuse: 3 << 20, HeapSys: 8 << 20, Goroutines: 42, Peers: []string{"a"}, Connected: []string{}}
	ev.Metrics.Browser.DroppedTTL, ev.Metrics.Browser.QueueFull, ev.Metrics.Responder.DroppedOffLink = 2, 3, 4
	if err := newStatsWriter(&b, false).write(ev); err != nil {
		t.Fatal(err)
	}
	want := "     1.500  stats        heap 3.0 MB (sys 8.0 MB)  goroutines 42  peers 1  connected 0  dropped 9 (offlink 4, queue_full 3, ttl 2)  dials 0 ok 0 failed\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

// TestRunStats runs two `run --json --stats 250ms` nodes in namespaces and
// checks the stats events: periodic, with heap and goroutine figures, the
// other node in Peers() and connected, the counters of every layer, and one
// last event at exit.
func TestRunStats(t *testing.T) {
	nt := netns.New(t, 2)
	bin := peers.P2PMdns(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	a := peers.Start(t, "run@h1", nt.Exec(t.Context(), 1, bin, "run", "--json", "--iface", netns.LinkName, "--stats", "250ms", "--duration", "20s"))
	b := peers.Start(t, "run@h2", nt.Exec(t.Context(), 2, bin, "run", "--json", "--iface", netns.LinkName, "--duration", "20s"))
	self := b.WaitSelf(t, ctx)
	other := self.Str("id")
	// A stats event that lists b both in Peers() and as connected, once a
	// has announced (b is found from its probes before that).
	announced := func(e peers.Event) bool {
		m, _ := e["metrics"].(map[string]any)
		r, _ := m["responder"].(map[string]any)
		n, _ := r["announcements"].(float64)
		return n > 0
	}
	ev, err := a.WaitFor(ctx, func(e peers.Event) bool {
		return e.Str("event") == "stats" && slices.Contains(e.Strs("peers"), other) && slices.Contains(e.Strs("connected"), other) && announced(e)
	})
	if err != nil {
		t.Fatal(err)
	}
	var s statsEvent
	raw, _ := json.Marshal(ev)
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	m := s.Metrics
	if s.HeapInuse == 0 || s.HeapSys < s.HeapInuse || s.Goroutines < 5 || m.PeersDiscovered < 1 || m.ConnectionsSuccess+int(m.Dialer.SkippedConnected) < 1 ||
		m.Browser.Packets == 0 || m.Responder.Received == 0 || m.Responder.Announcements == 0 || m.Browser.Peers != 1 {
		t.Errorf("stats %s", raw)
	}
	// Periodic: at least 4 stats events by now, 250 ms apart on average.
	var ts []float64
	for _, e := range a.Events() {
		if e.Str("event") == "stats" {
			ts = append(ts, e["t"].(float64))
		}
	}
	if len(ts) < 2 || (ts[len(ts)-1]-ts[0])/float64(len(ts)-1) > 0.5 {
		t.Errorf("stats times %v", ts)
	}
	// One last stats event at exit (SIGTERM), after the goodbyes.
	a.Stop(10 * time.Second)
	evs := a.Events()
	last := evs[len(evs)-1]
	var fin statsEvent
	raw, _ = json.Marshal(last)
	if err := json.Unmarshal(raw, &fin); err != nil || fin.Event != "stats" || fin.Metrics.Responder.Goodbyes == 0 {
		t.Errorf("last event %s (%v), want a stats event after the goodbyes", raw, err)
	}
}
