//go:build linux

package hostile

import (
	"context"
	"slices"

	"github.com/chorus-services/discovery"
	"github.com/chorus-services/discovery/internal/hardening/node"
)

// The nodes under test are node.Run processes (`p2p-mdns run --json
// --iface lan0 --stats 250ms`); this file is the typed view of their
// events these tests read.

// nodeEvent is one peer event of `p2p-mdns run --json`.
type nodeEvent struct {
	Event string   `json:"event"`
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	Error string   `json:"error"`
	T     float64  `json:"t"`
}

// nodeStats is one stats event of `p2p-mdns run --stats D`.
type nodeStats struct {
	T          float64                    `json:"t"`
	HeapInuse  uint64                     `json:"heap_inuse"`
	HeapSys    uint64                     `json:"heap_sys"`
	HeapAlloc  uint64                     `json:"heap_alloc"`
	Goroutines int                        `json:"goroutines"`
	Peers      []string                   `json:"peers"`
	Connected  []string                   `json:"connected"`
	Metrics    discovery.DiscoveryMetrics `json:"metrics"`

	raw node.Event
}

func (s nodeStats) has(id string) bool       { return slices.Contains(s.Peers, id) }
func (s nodeStats) connected(id string) bool { return slices.Contains(s.Connected, id) }

// asStats decodes a stats event (ok false for any other event).
func asStats(e node.Event) (nodeStats, bool) {
	if e.Str("event") != "stats" {
		return nodeStats{}, false
	}
	s, err := node.Decode[nodeStats](e)
	s.raw = e
	return s, err == nil
}

// waitStats waits for a stats event (from now on) that satisfies match.
func waitStats(ctx context.Context, n *node.Node, match func(nodeStats) bool) (nodeStats, error) {
	var got nodeStats
	_, _, err := n.WaitFrom(ctx, n.Mark(), "a stats event", func(e node.Event) bool {
		s, ok := asStats(e)
		if ok = ok && match(s); ok {
			got = s
		}
		return ok
	})
	return got, err
}

// nextStats returns the next stats event.
func nextStats(ctx context.Context, n *node.Node) (nodeStats, error) {
	return waitStats(ctx, n, func(nodeStats) bool { return true })
}

// statsSince returns the stats events with t ≥ t0.
func statsSince(n *node.Node, t0 float64) []nodeStats {
	var out []nodeStats
	for _, e := range n.EventsFrom(0, "stats") {
		if s, ok := asStats(e); ok && s.T >= t0 {
			out = append(out, s)
		}
	}
	return out
}

// waitEvent waits for a kept peer event (since the node started) that
// satisfies match.
func waitEvent(ctx context.Context, n *node.Node, match func(nodeEvent) bool) (nodeEvent, error) {
	var got nodeEvent
	_, _, err := n.WaitFrom(ctx, 0, "an event", func(e node.Event) bool {
		if e.Str("event") == "stats" {
			return false
		}
		ev, err := node.Decode[nodeEvent](e)
		if err == nil && match(ev) {
			got = ev
			return true
		}
		return false
	})
	return got, err
}

// eventsOf returns the kept events of id of the given kind.
func eventsOf(n *node.Node, id, kind string) []nodeEvent {
	var out []nodeEvent
	for _, e := range n.EventsFrom(0, kind) {
		if ev, err := node.Decode[nodeEvent](e); err == nil && ev.ID == id {
			out = append(out, ev)
		}
	}
	return out
}
