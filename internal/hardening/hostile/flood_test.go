//go:build linux

package hostile

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/dialer"
	"github.com/chorus-services/discovery/internal/hardening/hostile/flood"
	"github.com/chorus-services/discovery/internal/hardening/node"
	"github.com/chorus-services/discovery/internal/netns"
)

var (
	floodDuration = flag.Duration("flood.duration", 10*time.Second, "duration of TestFlood's flood (the issue's full run: 60s; env DISCOVERY_FLOOD_DURATION)")
	floodRate     = flag.Float64("flood.rate", 100_000, "fake peers per second of TestFlood's flood")
)

func floodDur(t *testing.T) time.Duration {
	if s := os.Getenv("DISCOVERY_FLOOD_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("DISCOVERY_FLOOD_DURATION: %v", err)
		}
		return d
	}
	return *floodDuration
}

const (
	heapLimit = 64 << 20 // bytes of Go heap in use a flooded node may hold
	// goroutineSlack bounds how far the goroutine count may rise over its
	// pre-flood level: the dialer's attempts in flight (at most its cap)
	// and the swarm goroutines of each.
	goroutineSlack = 120
)

// TestFlood floods a `p2p-mdns run` node (host 1), which is connected to
// one real peer (host 2, another `p2p-mdns run`), from host 3 with
// distinct fake libp2p peers (-flood.rate, default 100,000/s) plus garbage,
// irrelevant chatter, TTL-64 and off-link packets, for -flood.duration
// (10 s; the 60 s with -flood.duration=60s). The node's stats
// events, every 250 ms, must show: Go heap in use below 64 MB and no growth
// from the first half of the flood to the second, a flat goroutine count,
// the real peer in Peers() and connected throughout and afterwards, the
// dialer never above its concurrency cap, and drops counted per reason,
// each within what was sent of the traffic it belongs to.
func TestFlood(t *testing.T) {
	dur := floodDur(t)
	nt := netns.New(t, 3)
	life := (dur + 90*time.Second).String()
	a := node.Run(t, nt, 1, "--duration", life)
	r := node.Run(t, nt, 2, "--duration", life)
	ctx, cancel := context.WithTimeout(t.Context(), dur+80*time.Second)
	defer cancel()

	base := realPeerSettled(t, ctx, a, r.ID)
	a.Watch(r.ID)
	wait := floodPlan{from: 3, dst: nt.Host(1).V4.Addr(), peerRate: *floodRate, duration: dur}.start(t, nt, ctx)
	rep := wait()
	t.Logf("flood: %v", rep)
	t.Logf("achieved: %.0f fake peers/s (asked %.0f), %.0f datagrams/s in all", rep.Rate(stPeers), *floodRate, float64(rep.Sent())/rep.Elapsed.Seconds())

	during := statsSince(a, base.T)
	final := afterFlood(t, ctx, a, r.ID)
	checkResources(t, base, during, final)
	checkRealPeer(t, r.ID, during)
	checkDialerCap(t, base, during)
	checkFloodDrops(t, base, final, rep)
}

// realPeerSettled waits until the node has the real peer in Peers(), is
// connected to it and has established it (its records were received again
// after their first sighting: browser.Stats.Established; the real peer is
// the only peer), and returns the node's stats then.
func realPeerSettled(t *testing.T, ctx context.Context, a *node.Node, id string) nodeStats {
	t.Helper()
	s, err := waitStats(ctx, a, func(s nodeStats) bool {
		return s.has(id) && s.connected(id) && s.Metrics.Browser.Established == 1
	})
	if err != nil {
		t.Fatalf("the real peer was never found, connected and established: %v", err)
	}
	return s
}

// afterFlood waits two seconds of the node's clock after the flood (its
// queues drain) and checks that nothing was lost: the real peer is still
// in Peers() and connected. It returns the stats then.
func afterFlood(t *testing.T, ctx context.Context, a *node.Node, id string) nodeStats {
	t.Helper()
	s, err := nextStats(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	t0 := s.T
	s, err = waitStats(ctx, a, func(s nodeStats) bool { return s.T >= t0+2 })
	if err != nil {
		t.Fatal(err)
	}
	nothingLost(t, s, id)
	return s
}

// nothingLost: the real peer, which still exists, is in Peers() and
// connected in the stats event s (node.Lists, the rule of the closing
// check of both hardening suites, applied to this sample: the flood is
// over and nothing may have been lost by then).
func nothingLost(t *testing.T, s nodeStats, ids ...string) {
	t.Helper()
	if !node.Lists(s.raw, true, ids...) {
		t.Errorf("nothing lost: at t=%.1f peers %v (connected %v), want %v in both", s.T, node.Shorts(s.Peers), node.Shorts(s.Connected), node.Shorts(ids))
	}
}

func checkResources(t *testing.T, base nodeStats, during []nodeStats, final nodeStats) {
	t.Helper()
	if len(during) < 8 {
		t.Fatalf("only %d stats events during the flood", len(during))
	}
	var maxHeap, maxSys uint64
	maxG := 0
	half := len(during) / 2
	var firstMax, secondMax uint64
	for i, s := range during {
		maxHeap, maxSys, maxG = max(maxHeap, s.HeapInuse), max(maxSys, s.HeapSys), max(maxG, s.Goroutines)
		if i < half {
			firstMax = max(firstMax, s.HeapInuse)
		} else {
			secondMax = max(secondMax, s.HeapInuse)
		}
	}
	t.Logf("heap in use: %.1f MB before, max %.1f MB during (first half %.1f, second half %.1f), %.1f MB after; heap sys max %.1f MB",
		mb(base.HeapInuse), mb(maxHeap), mb(firstMax), mb(secondMax), mb(final.HeapInuse), mb(maxSys))
	t.Logf("goroutines: %d before, max %d during, %d after", base.Goroutines, maxG, final.Goroutines)
	if maxHeap >= heapLimit {
		t.Errorf("heap in use reached %.1f MB, limit %.0f MB", mb(maxHeap), mb(heapLimit))
	}
	// No growth trend: the second half peaks at most 25 % (plus 4 MB of GC
	// noise) above the first.
	if float64(secondMax) > 1.25*float64(firstMax)+4<<20 {
		t.Errorf("heap grows: first half max %.1f MB, second half max %.1f MB", mb(firstMax), mb(secondMax))
	}
	if maxG > base.Goroutines+goroutineSlack {
		t.Errorf("goroutines rose from %d to %d (slack %d)", base.Goroutines, maxG, goroutineSlack)
	}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// checkRealPeer: the real peer stayed connected, and in Peers(), at every
// stats event of the flood.
func checkRealPeer(t *testing.T, id string, during []nodeStats) {
	t.Helper()
	var missing, disconnected []string
	for _, s := range during {
		if !s.has(id) {
			missing = append(missing, fmt.Sprintf("%.2f", s.T))
		}
		if !s.connected(id) {
			disconnected = append(disconnected, fmt.Sprintf("%.2f", s.T))
		}
	}
	if len(missing) > 0 {
		t.Errorf("real peer missing from Peers() in %d of %d stats events during the flood (t = %s)", len(missing), len(during), strings.Join(missing, " "))
	}
	if len(disconnected) > 0 {
		t.Errorf("real peer not connected in %d of %d stats events (t = %s)", len(disconnected), len(during), strings.Join(disconnected, " "))
	}
}

// checkDialerCap: attempts in flight never exceed the dialer's cap (the
// run command leaves it at dialer.DefaultConcurrency) in any sample.
func checkDialerCap(t *testing.T, base nodeStats, during []nodeStats) {
	t.Helper()
	maxIn := 0
	for _, s := range during {
		maxIn = max(maxIn, s.Metrics.Dialer.InFlight)
		if s.Metrics.Dialer.InFlight > dialer.DefaultConcurrency {
			t.Errorf("t=%.2f: %d dials in flight, cap %d", s.T, s.Metrics.Dialer.InFlight, dialer.DefaultConcurrency)
		}
	}
	last := during[len(during)-1].Metrics.Dialer
	t.Logf("dialer: max %d in flight (cap %d), %d attempts, failures %v, %d queued, %d tracked, %d evicted",
		maxIn, dialer.DefaultConcurrency, last.Attempts-base.Metrics.Dialer.Attempts, last.Failures, last.Queued, last.Tracked, last.Evicted)
	if last.Attempts == base.Metrics.Dialer.Attempts {
		t.Error("the flood's peers were never dialled: the cap was not exercised")
	}
}

// checkFloodDrops: every drop reason the flood's traffic calls for is
// non-zero in the layer that sees it, and no reason counts more than the
// traffic it belongs to could cause.
func checkFloodDrops(t *testing.T, base, final nodeStats, rep flood.Report) {
	t.Helper()
	b0, b1 := base.Metrics.Browser, final.Metrics.Browser
	r0, r1 := base.Metrics.Responder, final.Metrics.Responder
	total := rep.Sent()
	// Besides the flood the node hears the real peer, its own multicast
	// and the real peer's answers: a few packets per second.
	const other = 2000
	type row struct {
		layer, reason string
		got, limit    uint64
		must          bool
	}
	rows := []row{
		{"browser", "packets", b1.Packets - b0.Packets, total + other, true},
		{"browser", "ttl", b1.DroppedTTL - b0.DroppedTTL, sent(rep, stTTL), true},
		{"browser", "offlink", b1.DroppedOffLink - b0.DroppedOffLink, sent(rep, stOffLink), true},
		{"browser", "malformed", b1.DroppedMalformed - b0.DroppedMalformed, sent(rep, stGarbage), true},
		{"browser", "irrelevant", b1.Ignored - b0.Ignored, sent(rep, stGarbage) + sent(rep, stChatter) + other, true},
		{"browser", "queue_full", b1.QueueFull - b0.QueueFull, total, false},
		{"browser", "evicted", b1.Evicted - b0.Evicted, 2 * (sent(rep, stPeers) + other), true},
		{"browser", "events_dropped", b1.EventsDropped - b0.EventsDropped, 2 * (sent(rep, stPeers) + other), false},
		{"responder", "received", r1.Received - r0.Received, total + other, true},
		{"responder", "ttl", r1.DroppedTTL - r0.DroppedTTL, sent(rep, stTTL), true},
		{"responder", "offlink", r1.DroppedOffLink - r0.DroppedOffLink, sent(rep, stOffLink), true},
		{"responder", "malformed", r1.DroppedMalformed - r0.DroppedMalformed, sent(rep, stGarbage), true},
		{"responder", "irrelevant", r1.Ignored - r0.Ignored, total + other, true},
		{"responder", "queue_full", r1.DroppedQueueFull - r0.DroppedQueueFull, total, false},
	}
	var sum strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&sum, "  %-9s %-14s %10d  (≤ %d)\n", r.layer, r.reason, r.got, r.limit)
		if r.must && r.got == 0 {
			t.Errorf("%s %s: 0, want > 0", r.layer, r.reason)
		}
		if r.got > r.limit {
			t.Errorf("%s %s: %d, more than the %d packets that can cause it", r.layer, r.reason, r.got, r.limit)
		}
	}
	// Each browser packet is dropped for at most one prefilter reason.
	if pre := (b1.DroppedTTL - b0.DroppedTTL) + (b1.QueueFull - b0.QueueFull); pre > b1.Packets-b0.Packets {
		t.Errorf("browser: %d TTL and queue drops of %d packets", pre, b1.Packets-b0.Packets)
	}
	if d := r1.Dropped() - r0.Dropped(); d > r1.Received-r0.Received {
		t.Errorf("responder: %d drops of %d packets", d, r1.Received-r0.Received)
	}
	t.Logf("drops per reason during the flood (%d datagrams sent):\n%s", total, sum.String())
}
