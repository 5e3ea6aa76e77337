package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

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
	want := "     1.500  stats        heap 3.0 MB (sys 8.0 MB)  goroutines 42  peers 1  connected 0  dropped: responder 4, browser 5  dials 0 ok 0 failed\n"
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
	bin := peers.Build(t, "github.com/chorus-services/discovery/cmd/p2p-mdns")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	a := peers.Start(t, "run@h1", nt.Exec(t.Context(), 1, bin, "run", "--json", "--iface", netns.LinkName, "--stats", "250ms", "--duration", "20s"))
	b := peers.Start(t, "run@h2", nt.Exec(t.Context(), 2, bin, "run", "--json", "--iface", netns.LinkName, "--duration", "20s"))
	self, err := b.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "self" })
	if err != nil {
		t.Fatal(err)
	}
	other := self.Str("id")
	// A stats event that lists b both in Peers() and as connected, once a
	// has announced (under load a may find and connect to b first).
	announced := func(e peers.Event) bool {
		m, _ := e["metrics"].(map[string]any)
		r, _ := m["Responder"].(map[string]any)
		n, _ := r["Announcements"].(float64)
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
