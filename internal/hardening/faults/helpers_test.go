package faults

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/hardening/node"
	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/internal/sniff"
)

// startNode starts `p2p-mdns run` on host i's lan0 with extra arguments
// (node.Run). The process ends by itself after 80 s at the latest
// (--duration) and is stopped at cleanup.
func startNode(t *testing.T, nt *netns.Net, i int, extra ...string) *node.Node {
	t.Helper()
	return node.Run(t, nt, i, append([]string{"--duration", "80s", "--log-level", "info"}, extra...)...)
}

// startSniff starts `p2p-mdns sniff --json` on host i: one event per mDNS
// datagram on lan0, with its records.
func startSniff(t *testing.T, nt *netns.Net, i int) *node.Node {
	t.Helper()
	return node.Start(t, nt, i, "sniff", "--json", "--iface", netns.LinkName, "--duration", "80s")
}

// waitFrom is node.Node.WaitFrom failing the test.
func waitFrom(t *testing.T, ctx context.Context, n *node.Node, from int, what string, match func(node.Event) bool) (node.Event, int) {
	t.Helper()
	e, i, err := n.WaitFrom(ctx, from, what, match)
	if err != nil {
		t.Fatal(err)
	}
	return e, i
}

// waitMesh is node.WaitMesh failing the test.
func waitMesh(t *testing.T, ctx context.Context, from map[*node.Node]int, nodes ...*node.Node) {
	t.Helper()
	if err := node.WaitMesh(ctx, from, nodes...); err != nil {
		t.Fatal(err)
	}
}

// meshed starts a node on each of hosts and waits until they all list,
// and are connected to, each other.
func meshed(t *testing.T, ctx context.Context, nt *netns.Net, hosts ...int) []*node.Node {
	t.Helper()
	var nodes []*node.Node
	for _, i := range hosts {
		nodes = append(nodes, startNode(t, nt, i))
	}
	waitMesh(t, ctx, nil, nodes...)
	return nodes
}

// nothingLost is the closing check of every test (node.NothingLost).
func nothingLost(t *testing.T, ctx context.Context, nodes ...*node.Node) {
	t.Helper()
	start := time.Now()
	if err := node.NothingLost(ctx, nodes...); err != nil {
		t.Fatalf("nothing lost: %v", err)
	}
	t.Logf("nothing lost: %d nodes list and are connected to each other (checked in %v)", len(nodes), time.Since(start).Round(time.Millisecond))
}

// lastStats returns the node's latest stats event from index from on.
func lastStats(t *testing.T, ctx context.Context, n *node.Node, from int) node.Event {
	t.Helper()
	waitFrom(t, ctx, n, from, "stats event", func(e node.Event) bool { return e.Str("event") == "stats" })
	s := n.EventsFrom(from, "stats")
	return s[len(s)-1]
}

// keptThroughout checks that n never reported any of ids lost from index
// from on, and that each of its stats events since listed them in Peers().
func keptThroughout(t *testing.T, n *node.Node, from int, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if l := eventsOf(n.EventsFrom(from, "lost"), id); len(l) > 0 {
			t.Errorf("%v reported %s lost %d times", n, node.Short(id), len(l))
		}
	}
	stats := n.EventsFrom(from, "stats")
	for _, e := range stats {
		if !node.Lists(e, false, ids...) {
			t.Errorf("%v: stats at t=%v lists peers %v, missing one of %v", n, e["t"], node.Shorts(e.Strs("peers")), node.Shorts(ids))
			return
		}
	}
	if len(stats) == 0 {
		t.Errorf("%v: no stats event to check", n)
	}
}

func eventsOf(evs []node.Event, id string) []node.Event {
	var out []node.Event
	for _, e := range evs {
		if e.Str("id") == id {
			out = append(out, e)
		}
	}
	return out
}

// counter reads a number from a stats event: path names nested fields,
// e.g. "metrics", "responder", "probes".
func counter(e node.Event, path ...string) float64 {
	var cur any = map[string]any(e)
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return -1
		}
		cur = m[k]
	}
	f, ok := cur.(float64)
	if !ok {
		return -1
	}
	return f
}

// faultLAN starts a test of this package: in parallel with the others, on
// a new LAN of n hosts, its waits bounded by limit.
func faultLAN(t *testing.T, n int, limit time.Duration) (*netns.Net, context.Context) {
	t.Parallel()
	return netns.New(t, n), withTimeout(t, limit)
}

// withTimeout bounds a test's waits.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// records returns the records of a sniffed datagram.
func records(e node.Event) []sniff.Record {
	r, _ := node.Decode[sniff.Report](e)
	return r.Records
}

// sniffedPeers returns the libp2p peer candidates of a sniffed datagram.
func sniffedPeers(e node.Event) []sniff.Peer {
	r, _ := node.Decode[sniff.Report](e)
	return r.Peers
}

// lanAddrs returns the addresses of a self event a peer on the LAN can
// use: without loopback, and without those for which drop is true.
func lanAddrs(addrs []string, drop func(string) bool) []string {
	var out []string
	for _, a := range addrs {
		if strings.HasPrefix(a, "/ip4/127.") || strings.HasPrefix(a, "/ip6/::1/") || (drop != nil && drop(a)) {
			continue
		}
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// anyHasPrefix reports whether one of addrs starts with p.
func anyHasPrefix(addrs []string, p string) bool {
	return slices.ContainsFunc(addrs, func(a string) bool { return strings.HasPrefix(a, p) })
}
