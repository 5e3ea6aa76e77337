//go:build linux

// Package node is the one harness of the hardening suites (faults,
// hostile) for the process they test: `p2p-mdns run --json --stats`,
// inside a host namespace of internal/netns (never in the root namespace:
// its libp2p host dials stay on the namespace LAN). It reads the
// process's JSON lines and keeps every stats event and the peer events:
// all of them, or, from Watch on, only those of the watched peer IDs, so
// that a node printing tens of thousands of events about fake peers costs
// the test little memory. Waits wake on every kept line (no polling) and
// are bounded by the caller's context. The other p2p-mdns subcommands with
// JSON output (sniff, browse) run through Start.
//
// NothingLost is the closing check of both suites (issue #8, "nothing
// lost") and Lists the rule it applies to one stats event.
package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/internal/syncbuf"
)

// StatsEvery is the period of the nodes' stats events (`run --stats`).
const StatsEvery = "250ms"

// SelfLimit bounds the wait for a node's self event.
const SelfLimit = 15 * time.Second

// Event is one JSON line of the process.
type Event = peers.Event

// Node is a p2p-mdns process in a host namespace; it is stopped (SIGTERM,
// then SIGKILL after 5 s) at the end of the test.
type Node struct {
	Name  string // "run@h1"
	Host  int
	ID    string    // from the self event (Run)
	Addrs []string  // from the self event (Run)
	T0    time.Time // the process's clock origin ("t" 0) on the test's clock (Run)

	cmd *exec.Cmd

	mu        sync.Mutex
	events    []Event
	watch     map[string]bool
	selective bool
	changed   chan struct{} // closed and replaced on every kept line
	done      chan struct{}
	stderr    syncbuf.Buffer
}

// Binary builds cmd/p2p-mdns once per test binary.
func Binary(t testing.TB) string {
	return peers.P2PMdns(t)
}

// Start runs `p2p-mdns args...` in host i of nt.
func Start(t testing.TB, nt *netns.Net, i int, args ...string) *Node {
	t.Helper()
	n := &Node{Name: fmt.Sprintf("%s@h%d", args[0], i), Host: i, cmd: nt.Exec(t.Context(), i, Binary(t), args...),
		watch: map[string]bool{}, changed: make(chan struct{}), done: make(chan struct{}), stderr: syncbuf.Buffer{Max: 1 << 20}}
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.cmd.Stderr = &n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", n.Name, err)
	}
	go n.read(out)
	t.Cleanup(func() {
		n.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("%s stderr (tail):\n%s", n.Name, Tail(n.Stderr(), 40))
		}
	})
	return n
}

// Run runs `p2p-mdns run --json --iface lan0 --stats 250ms` plus args in
// host i of nt (see Up).
func Run(t testing.TB, nt *netns.Net, i int, args ...string) *Node {
	t.Helper()
	return Up(t, nt, i, append([]string{"run", "--json", "--iface", netns.LinkName, "--stats", StatsEvery}, args...)...)
}

// Up runs `p2p-mdns args...`, a subcommand that prints a self event (run,
// announce), in host i of nt and waits (SelfLimit) for that event.
func Up(t testing.TB, nt *netns.Net, i int, args ...string) *Node {
	t.Helper()
	n := Start(t, nt, i, args...)
	ctx, cancel := context.WithTimeout(t.Context(), SelfLimit)
	defer cancel()
	ev, _, err := n.WaitFrom(ctx, 0, "self event", func(e Event) bool { return e.Str("event") == "self" })
	if err != nil {
		t.Fatal(err)
	}
	n.ID, n.Addrs = ev.Str("id"), ev.Strs("addrs")
	n.T0 = time.Now().Add(-secs(ev["t"]))
	return n
}

func (n *Node) String() string { return fmt.Sprintf("h%d(%s)", n.Host, Short(n.ID)) }

// At returns when an event happened, on the test's clock.
func (n *Node) At(e Event) time.Time { return n.T0.Add(secs(e["t"])) }

func secs(v any) time.Duration {
	f, _ := v.(float64)
	return time.Duration(f * float64(time.Second))
}

const statsPrefix = `{"event":"stats"`

func (n *Node) read(r io.Reader) {
	defer close(n.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if (len(line) < len(statsPrefix) || string(line[:len(statsPrefix)]) != statsPrefix) && n.selectiveOn() {
			var head struct {
				ID any `json:"id"` // a string in peer events, a number in sniff's
			}
			_ = json.Unmarshal(line, &head)
			if id, _ := head.ID.(string); !n.watched(id) {
				continue
			}
		}
		var ev Event
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		n.mu.Lock()
		n.events = append(n.events, ev)
		n.notify()
		n.mu.Unlock()
	}
	_ = n.cmd.Wait()
	n.mu.Lock()
	n.notify()
	n.mu.Unlock()
}

func (n *Node) selectiveOn() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.selective
}

func (n *Node) watched(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.watch[id]
}

// notify wakes the waiters (n.mu held).
func (n *Node) notify() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// Watch makes the node keep, from now on, only the peer events of the
// given IDs (stats events are always kept).
func (n *Node) Watch(ids ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.selective = true
	for _, id := range ids {
		n.watch[id] = true
	}
}

// Mark is the index of the node's next kept event, for waits on what
// happens from now on.
func (n *Node) Mark() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.events)
}

// Events returns the kept events so far.
func (n *Node) Events() []Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.events)
}

// EventsFrom returns the kept events of one kind ("": all) from index
// from on.
func (n *Node) EventsFrom(from int, kind string) []Event {
	var out []Event
	for _, e := range n.Events()[min(from, n.Mark()):] {
		if kind == "" || e.Str("event") == kind {
			out = append(out, e)
		}
	}
	return out
}

// WaitFrom waits until a kept event from index from on matches and returns
// it with its index (match may call the node's methods). It fails when
// ctx ends or the process exits first, with the events since from and the
// tail of stderr in the error.
func (n *Node) WaitFrom(ctx context.Context, from int, what string, match func(Event) bool) (Event, int, error) {
	i := from
	for {
		n.mu.Lock()
		evs, ch := n.events, n.changed // append-only: evs stays valid unlocked
		n.mu.Unlock()
		for ; i < len(evs); i++ {
			if match(evs[i]) {
				return evs[i], i, nil
			}
		}
		select {
		case <-ch:
			continue
		case <-n.done:
			if i < n.Mark() {
				continue
			}
			return nil, i, fmt.Errorf("%v exited while waiting for %s; events since:\n%s\nstderr tail:\n%s", n, what, Describe(n.EventsFrom(from, "")), Tail(n.Stderr(), 30))
		case <-ctx.Done():
			return nil, i, fmt.Errorf("%v: no %s: %w; last stats: %s; events since:\n%s\nstderr tail:\n%s", n, what, ctx.Err(), n.lastStats(), Describe(n.EventsFrom(from, "")), Tail(n.Stderr(), 30))
		}
	}
}

// Stderr returns the tail (the last 1 MiB) of what the process wrote to
// stderr.
func (n *Node) Stderr() string { return n.stderr.String() }

// Stop sends SIGTERM (goodbyes and a last stats event) and waits up to
// grace, then kills.
func (n *Node) Stop(grace time.Duration) {
	_ = n.cmd.Process.Signal(syscall.SIGTERM) // os.ErrProcessDone once it has exited
	kill := time.AfterFunc(grace, func() { _ = n.cmd.Process.Kill() })
	defer kill.Stop()
	<-n.done
}

// Lists reports whether e is a stats event listing every one of ids in
// Peers() and, when connected is set, among the host's connections.
func Lists(e Event, connected bool, ids ...string) bool {
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

// WaitMesh waits until every node lists every other in Peers() and is
// connected to it, in a stats event from index from[node] on (nil: 0).
func WaitMesh(ctx context.Context, from map[*Node]int, nodes ...*Node) error {
	for _, n := range nodes {
		var want []string
		for _, o := range nodes {
			if o != n {
				want = append(want, o.ID)
			}
		}
		_, _, err := n.WaitFrom(ctx, from[n], fmt.Sprintf("stats event listing %d peers, all connected", len(want)),
			func(e Event) bool { return Lists(e, true, want...) })
		if err != nil {
			return err
		}
	}
	return nil
}

// NothingLost is the closing check of the hardening tests (issue #8,
// "nothing lost"): every node still running lists every other in Peers()
// and is connected to it, in a stats event emitted after the check began,
// so that a state from before the fault cannot pass it.
func NothingLost(ctx context.Context, nodes ...*Node) error {
	from := map[*Node]int{}
	for _, n := range nodes {
		from[n] = n.Mark()
	}
	return WaitMesh(ctx, from, nodes...)
}

// Decode decodes an event into T (a typed view of a stats event).
func Decode[T any](e Event) (T, error) {
	var v T
	b, err := json.Marshal(e)
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	return v, err
}

// Short shortens a peer ID for messages.
func Short(id string) string {
	if len(id) > 16 {
		return id[:8] + "…" + id[len(id)-4:]
	}
	return id
}

// Shorts shortens a list of peer IDs (Short).
func Shorts(ids []string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, Short(id))
	}
	return out
}

// Describe renders the non-stats events, one a line.
func Describe(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Str("event") == "stats" {
			continue
		}
		fmt.Fprintf(&b, "  t=%v %s %s %v\n", e["t"], e.Str("event"), Short(e.Str("id")), e.Strs("addrs"))
	}
	return b.String()
}

// Tail returns the last lines of s.
func Tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// lastStats describes the last stats event: the peers listed and those
// connected.
func (n *Node) lastStats() string {
	n.mu.Lock()
	evs := n.events
	n.mu.Unlock()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Str("event") == "stats" {
			return fmt.Sprintf("peers %v, connected %v", Shorts(evs[i].Strs("peers")), Shorts(evs[i].Strs("connected")))
		}
	}
	return "none"
}
