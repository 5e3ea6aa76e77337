//go:build linux

package hostile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-services/discovery"
	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// binary builds cmd/p2p-mdns once per test binary.
func binary(t *testing.T) string {
	return peers.Build(t, "github.com/chorus-services/discovery/cmd/p2p-mdns")
}

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
}

func (s nodeStats) has(id string) bool       { return slices.Contains(s.Peers, id) }
func (s nodeStats) connected(id string) bool { return slices.Contains(s.Connected, id) }

// node is a `p2p-mdns run --json --stats …` process in a namespace. Unlike
// peers.Proc it keeps only what the tests look at, so that a node printing
// tens of thousands of events about fake peers costs the test little
// memory: every stats event, the events of the watched IDs (all events
// until selective is called), and a count per event kind.
type node struct {
	name string
	cmd  *exec.Cmd

	mu        sync.Mutex
	id        string
	stats     []nodeStats
	events    []nodeEvent
	counts    map[string]int
	watch     map[string]bool
	selective bool
	changed   chan struct{} // closed and replaced on every kept line
	done      chan struct{}
	stderr    tail
}

const statsEvery = "250ms"

// startNode runs `p2p-mdns run --json --iface lan0 --stats 250ms` plus
// args in host i of nt; it is stopped (SIGTERM, then SIGKILL) at cleanup.
func startNode(t *testing.T, nt *netns.Net, i int, bin string, args ...string) *node {
	t.Helper()
	all := append([]string{"run", "--json", "--iface", netns.LinkName, "--stats", statsEvery}, args...)
	n := &node{name: fmt.Sprintf("run@h%d", i), cmd: nt.Exec(t.Context(), i, bin, all...), counts: map[string]int{},
		watch: map[string]bool{}, changed: make(chan struct{}), done: make(chan struct{})}
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.cmd.Stderr = &n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", n.name, err)
	}
	go n.read(out)
	t.Cleanup(func() {
		n.stop(5 * time.Second)
		if t.Failed() {
			t.Logf("%s stderr (tail):\n%s", n.name, n.stderr.String())
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	ev, err := n.waitEvent(ctx, func(e nodeEvent) bool { return e.Event == "self" })
	if err != nil {
		t.Fatal(err)
	}
	n.id = ev.ID
	return n
}

var statsPrefix = []byte(`{"event":"stats"`)

func (n *node) read(r io.Reader) {
	defer close(n.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, statsPrefix) {
			var s nodeStats
			if json.Unmarshal(line, &s) == nil {
				n.mu.Lock()
				n.stats = append(n.stats, s)
				n.notify()
				n.mu.Unlock()
			}
			continue
		}
		var ev nodeEvent
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		n.mu.Lock()
		n.counts[ev.Event]++
		if !n.selective || n.watch[ev.ID] {
			n.events = append(n.events, ev)
			n.notify()
		}
		n.mu.Unlock()
	}
	_ = n.cmd.Wait()
	n.mu.Lock()
	n.notify()
	n.mu.Unlock()
}

// notify wakes the waiters (n.mu held).
func (n *node) notify() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// selectiveOn makes the node keep only the events of the given IDs from
// now on (the stats events are always kept).
func (n *node) selectiveOn(ids ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.selective = true
	for _, id := range ids {
		n.watch[id] = true
	}
}

// wait polls cond (called with n.mu held) until it is true, the process
// exits or ctx ends.
func (n *node) wait(ctx context.Context, what string, cond func() bool) error {
	for {
		n.mu.Lock()
		ok, ch := cond(), n.changed
		n.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-n.done:
			n.mu.Lock()
			ok := cond()
			n.mu.Unlock()
			if ok {
				return nil
			}
			return fmt.Errorf("%s exited while waiting for %s; stderr: %s", n.name, what, n.stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("%s: %w waiting for %s", n.name, ctx.Err(), what)
		}
	}
}

func (n *node) waitEvent(ctx context.Context, match func(nodeEvent) bool) (nodeEvent, error) {
	var got nodeEvent
	seen := 0
	err := n.wait(ctx, "an event", func() bool {
		for ; seen < len(n.events); seen++ {
			if match(n.events[seen]) {
				got = n.events[seen]
				return true
			}
		}
		return false
	})
	return got, err
}

// waitStats waits for a stats event (from now on) that satisfies match.
func (n *node) waitStats(ctx context.Context, match func(nodeStats) bool) (nodeStats, error) {
	var got nodeStats
	n.mu.Lock()
	seen := len(n.stats)
	n.mu.Unlock()
	err := n.wait(ctx, "a stats event", func() bool {
		for ; seen < len(n.stats); seen++ {
			if match(n.stats[seen]) {
				got = n.stats[seen]
				return true
			}
		}
		return false
	})
	return got, err
}

// nextStats returns the next stats event.
func (n *node) nextStats(ctx context.Context) (nodeStats, error) {
	return n.waitStats(ctx, func(nodeStats) bool { return true })
}

// statsSince returns the stats events with t ≥ t0.
func (n *node) statsSince(t0 float64) []nodeStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []nodeStats
	for _, s := range n.stats {
		if s.T >= t0 {
			out = append(out, s)
		}
	}
	return out
}

// eventsOf returns the kept events of id of the given kind.
func (n *node) eventsOf(id, kind string) []nodeEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []nodeEvent
	for _, e := range n.events {
		if e.ID == id && e.Event == kind {
			out = append(out, e)
		}
	}
	return out
}

func (n *node) count(kind string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.counts[kind]
}

// stop sends SIGTERM (goodbyes and a last stats event) and waits up to
// grace, then kills.
func (n *node) stop(grace time.Duration) {
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(grace):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// tail keeps the last 32 KB written to it.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - 32<<10; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
