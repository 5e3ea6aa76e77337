package faults

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// statsEvery is the period of the nodes' stats events (`run --stats`).
const statsEvery = "250ms"

// node is one `p2p-mdns run --json --stats` process in a host namespace.
type node struct {
	*peers.Proc
	host  int
	id    string
	addrs []string  // from its self event
	t0    time.Time // the node's clock origin ("t" 0) on the test's clock
}

// at returns when an event happened, on the test's clock.
func (n *node) at(e peers.Event) time.Time {
	f, _ := e["t"].(float64)
	return n.t0.Add(time.Duration(f * float64(time.Second)))
}

// binary builds p2p-mdns once per test binary.
func binary(t *testing.T) string {
	return peers.Build(t, "github.com/chorus-services/discovery/cmd/p2p-mdns")
}

// startNode starts `p2p-mdns run` on host i's lan0 with extra arguments and
// waits for its self event. The process ends by itself after 80 s at the
// latest (--duration) and is stopped at cleanup.
func startNode(t *testing.T, ctx context.Context, nt *netns.Net, i int, extra ...string) *node {
	t.Helper()
	args := append([]string{"run", "--json", "--iface", netns.LinkName, "--stats", statsEvery, "--duration", "80s", "--log-level", "info"}, extra...)
	p := peers.Start(t, fmt.Sprintf("run@h%d", i), nt.Exec(t.Context(), i, binary(t), args...))
	ev, err := p.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "self" })
	if err != nil {
		t.Fatal(err)
	}
	n := &node{Proc: p, host: i, id: ev.Str("id"), addrs: ev.Strs("addrs")}
	f, _ := ev["t"].(float64)
	n.t0 = time.Now().Add(-time.Duration(f * float64(time.Second)))
	return n
}

func (n *node) String() string { return fmt.Sprintf("h%d(%s)", n.host, short(n.id)) }

func short(id string) string {
	if len(id) > 16 {
		return id[:8] + "…" + id[len(id)-4:]
	}
	return id
}

// mark is the index of the node's next event, for waits on what happens
// from now on.
func (n *node) mark() int { return len(n.Events()) }

// waitFrom polls the node's events from index from on until one matches
// and returns it with its index; it fails the test when ctx ends first.
func (n *node) waitFrom(t *testing.T, ctx context.Context, from int, what string, match func(peers.Event) bool) (peers.Event, int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		evs := n.Events()
		for i := from; i < len(evs); i++ {
			if match(evs[i]) {
				return evs[i], i
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%v: no %s: %v; events since:\n%s\nstderr tail:\n%s", n, what, ctx.Err(), describe(n.Events(), from), tail(n.Stderr(), 30))
		case <-tick.C:
		}
	}
}

// eventsFrom returns the node's events of one kind from index from on.
func (n *node) eventsFrom(from int, kind string) []peers.Event {
	var out []peers.Event
	evs := n.Events()
	for i := from; i < len(evs); i++ {
		if evs[i].Str("event") == kind {
			out = append(out, evs[i])
		}
	}
	return out
}

func isEvent(kind, id string) func(peers.Event) bool {
	return func(e peers.Event) bool { return e.Str("event") == kind && e.Str("id") == id }
}

// lists reports whether a stats event lists every one of ids in Peers()
// and, when connected is set, among the host's connections.
func lists(e peers.Event, connected bool, ids ...string) bool {
	if e.Str("event") != "stats" {
		return false
	}
	for _, id := range ids {
		if !slices.Contains(e.Strs("peers"), id) || (connected && !slices.Contains(e.Strs("connected"), id)) {
			return false
		}
	}
	return true
}

func ids(nodes ...*node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.id
	}
	return out
}

// others returns the nodes other than n.
func others(n *node, all []*node) []*node {
	var out []*node
	for _, o := range all {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}

// waitMesh waits until every node lists every other in Peers() and is
// connected to it, in a stats event from index from[node] on (nil: 0).
func waitMesh(t *testing.T, ctx context.Context, from map[*node]int, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		want := ids(others(n, nodes)...)
		n.waitFrom(t, ctx, from[n], fmt.Sprintf("stats event listing %d peers, all connected", len(want)),
			func(e peers.Event) bool { return lists(e, true, want...) })
	}
}

// nothingLost is the closing check of every test (issue #8, "nothing
// lost"): every node still running lists every other in Peers() and is
// connected to it, in a stats event emitted after the check began, so that
// a state from before the fault cannot pass it.
func nothingLost(t *testing.T, ctx context.Context, nodes ...*node) {
	t.Helper()
	from := map[*node]int{}
	for _, n := range nodes {
		from[n] = n.mark()
	}
	start := time.Now()
	waitMesh(t, ctx, from, nodes...)
	t.Logf("nothing lost: %d nodes list and are connected to each other (checked in %v)", len(nodes), time.Since(start).Round(time.Millisecond))
}

// keptThroughout checks that n never reported any of ids lost from index
// from on, and that each of its stats events since listed them in Peers().
func keptThroughout(t *testing.T, n *node, from int, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if l := eventsOf(n.eventsFrom(from, "lost"), id); len(l) > 0 {
			t.Errorf("%v reported %s lost %d times", n, short(id), len(l))
		}
	}
	stats := n.eventsFrom(from, "stats")
	for _, e := range stats {
		if !lists(e, false, ids...) {
			t.Errorf("%v: stats at t=%v lists peers %v, missing one of %v", n, e["t"], shorts(e.Strs("peers")), shorts(ids))
			return
		}
	}
	if len(stats) == 0 {
		t.Errorf("%v: no stats event to check", n)
	}
}

func eventsOf(evs []peers.Event, id string) []peers.Event {
	var out []peers.Event
	for _, e := range evs {
		if e.Str("id") == id {
			out = append(out, e)
		}
	}
	return out
}

func shorts(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = short(s)
	}
	return out
}

// counter reads a number from a stats event: path names nested fields,
// e.g. "metrics", "responder", "probes".
func counter(e peers.Event, path ...string) float64 {
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

// lastStats returns the node's latest stats event from index from on.
func (n *node) lastStats(t *testing.T, ctx context.Context, from int) peers.Event {
	t.Helper()
	n.waitFrom(t, ctx, from, "stats event", func(e peers.Event) bool { return e.Str("event") == "stats" })
	s := n.eventsFrom(from, "stats")
	return s[len(s)-1]
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// withTimeout bounds a test's waits.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// startBrowse starts `p2p-mdns browse --json` on host i (no announcing).
func startBrowse(t *testing.T, ctx context.Context, nt *netns.Net, i int) *node {
	t.Helper()
	p := peers.Start(t, fmt.Sprintf("browse@h%d", i), nt.Exec(t.Context(), i, binary(t), "browse", "--json", "--iface", netns.LinkName, "--duration", "60s"))
	return &node{Proc: p, host: i}
}

// startSniff starts `p2p-mdns sniff --json` on host i: one event per mDNS
// datagram on lan0, with its records.
func startSniff(t *testing.T, nt *netns.Net, i int) *node {
	t.Helper()
	p := peers.Start(t, fmt.Sprintf("sniff@h%d", i), nt.Exec(t.Context(), i, binary(t), "sniff", "--json", "--iface", netns.LinkName, "--duration", "80s"))
	return &node{Proc: p, host: i}
}

// record is one record of a sniffed datagram.
type record struct {
	Name, Type, Data string
	TTL              float64
}

func records(e peers.Event) []record {
	l, _ := e["records"].([]any)
	var out []record
	for _, x := range l {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		s := func(k string) string { v, _ := m[k].(string); return v }
		ttl, _ := m["ttl"].(float64)
		out = append(out, record{Name: s("name"), Type: s("type"), Data: s("data"), TTL: ttl})
	}
	return out
}

// sniffedPeer is one libp2p peer candidate of a sniffed datagram.
type sniffedPeer struct {
	ID, Instance string
	Addrs        []string
}

func sniffedPeers(e peers.Event) []sniffedPeer {
	l, _ := e["peers"].([]any)
	var out []sniffedPeer
	for _, x := range l {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		id, _ := m["id"].(string)
		inst, _ := m["instance"].(string)
		out = append(out, sniffedPeer{ID: id, Instance: inst, Addrs: peers.Event(m).Strs("addrs")})
	}
	return out
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

// describe renders the non-stats events from index from on, one a line.
func describe(evs []peers.Event, from int) string {
	var b strings.Builder
	for i := from; i < len(evs); i++ {
		e := evs[i]
		if e.Str("event") == "stats" {
			continue
		}
		fmt.Fprintf(&b, "  t=%v %s %s %v\n", e["t"], e.Str("event"), short(e.Str("id")), e.Strs("addrs"))
	}
	return b.String()
}
