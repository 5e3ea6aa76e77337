// Package peers starts real mDNS peers of other implementations inside the
// test's network namespaces (see internal/netns): avahi-daemon with a
// private D-Bus, avahi-browse and avahi-publish, the go-libp2p and js-libp2p
// reference nodes of internal/interop, and python-zeroconf. Every process is
// bounded by a context and stopped by t.Cleanup; nothing runs in the root
// namespace.
//
// Tools that are not installed make the test skip, unless
// DISCOVERY_REQUIRE_INTEROP=1 (set by .ci/run), where they make it fail.
package peers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Require skips (or, under DISCOVERY_REQUIRE_INTEROP=1, fails) the test when
// one of the commands is not on PATH.
func Require(t testing.TB, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			if os.Getenv("DISCOVERY_REQUIRE_INTEROP") == "1" {
				t.Fatalf("%s is required (DISCOVERY_REQUIRE_INTEROP=1) but not installed", c)
			}
			t.Skipf("%s is not installed: see .ci/run for the packages the interop tests need", c)
		}
	}
}

// Event is one JSON line printed by a peer.
type Event map[string]any

// Str returns a string field of the event.
func (e Event) Str(k string) string { s, _ := e[k].(string); return s }

// Strs returns a string-list field of the event.
func (e Event) Strs(k string) []string {
	l, _ := e[k].([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Proc is a running peer whose stdout is JSON lines.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	evs  []Event
	ats  []time.Time   // when each event was read
	cond chan struct{} // closed and replaced on every new event
	done chan struct{}
	errb bytes.Buffer
	out  bytes.Buffer // non-JSON stdout lines
}

// Start runs cmd (already configured to run in a namespace) and collects
// its JSON lines. The process is stopped (SIGTERM, then SIGKILL) at cleanup.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Name: name, cmd: cmd, cond: make(chan struct{}), done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &syncWriter{w: &p.errb, mu: &p.mu}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go p.read(stdout)
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.Stderr())
		}
	})
	return p
}

type syncWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (p *Proc) read(r io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var ev Event
		p.mu.Lock()
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			p.evs = append(p.evs, ev)
			p.ats = append(p.ats, time.Now())
		} else {
			p.out.Write(sc.Bytes())
			p.out.WriteByte('\n')
		}
		close(p.cond)
		p.cond = make(chan struct{})
		p.mu.Unlock()
	}
	_ = p.cmd.Wait()
	p.mu.Lock()
	close(p.cond)
	p.cond = make(chan struct{})
	p.mu.Unlock()
}

// Events returns a copy of the events so far.
func (p *Proc) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.evs...)
}

// TimedEvents returns a copy of the events so far and when each was read.
func (p *Proc) TimedEvents() ([]Event, []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.evs...), append([]time.Time(nil), p.ats...)
}

// Stderr returns what the process wrote to stderr.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.String()
}

// WaitStderr waits until stderr holds every string of want (stderr and
// stdout are separate pipes: an event on stdout does not mean that what
// the process wrote to stderr before it has been read) and returns
// stderr, or ctx's error with what it holds.
func (p *Proc) WaitStderr(ctx context.Context, want ...string) (string, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s := p.Stderr()
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(s, w) }) {
			return s, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return s, fmt.Errorf("%s: %w waiting for stderr to hold %q", p.Name, ctx.Err(), want)
		}
	}
}

// Output returns the stdout lines that were not JSON.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// WaitFor waits until an event satisfies match and returns it.
func (p *Proc) WaitFor(ctx context.Context, match func(Event) bool) (Event, error) {
	seen := 0
	for {
		p.mu.Lock()
		evs, cond := p.evs, p.cond
		p.mu.Unlock()
		for ; seen < len(evs); seen++ {
			if match(evs[seen]) {
				return evs[seen], nil
			}
		}
		select {
		case <-cond:
		case <-p.done:
			p.mu.Lock()
			n := len(p.evs)
			p.mu.Unlock()
			if seen == n {
				return nil, fmt.Errorf("%s exited before the awaited event; stderr: %s", p.Name, p.Stderr())
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w waiting for an event; got %d events", p.Name, ctx.Err(), seen)
		}
	}
}

// WaitSelf waits for the "self" event (the node's own ID and addresses),
// which the reference nodes and `p2p-mdns run` and `announce` print first,
// and returns it; it fails the test, with the process's stderr, if none
// comes before ctx is done.
func (p *Proc) WaitSelf(t testing.TB, ctx context.Context) Event {
	t.Helper()
	ev, err := p.WaitFor(ctx, func(e Event) bool { return e.Str("event") == "self" })
	if err != nil {
		t.Fatalf("no self event: %v\nstderr of %s:\n%s", err, p.Name, p.Stderr())
	}
	return ev
}

// Wait waits for the process to exit on its own.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits up to grace, then kills.
func (p *Proc) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
