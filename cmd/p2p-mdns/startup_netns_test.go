package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// startRun starts `p2p-mdns run --json` in host namespace i with args and
// returns it with its peer ID.
func startRun(t *testing.T, ctx context.Context, nt *netns.Net, i int, name string, args ...string) (*peers.Proc, string) {
	t.Helper()
	bin := peers.P2PMdns(t)
	p := peers.Start(t, name, nt.Exec(t.Context(), i, bin, append([]string{"run", "--json", "--duration", "60s"}, args...)...))
	return p, p.WaitSelf(t, ctx).Str("id")
}

// waitConnected waits for p's connected event for id and returns its
// direction.
func waitConnected(t *testing.T, ctx context.Context, p *peers.Proc, id string) string {
	t.Helper()
	ev, err := p.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "connected" && e.Str("id") == id })
	if err != nil {
		t.Fatalf("no connected event for %s: %v\n%s", id, err, p.Stderr())
	}
	return ev.Str("direction")
}

// waitFoundEachOther waits until a (peer ID idA) has found b (idB) and b
// has found a; what says in what situation, for the failure.
func waitFoundEachOther(t *testing.T, ctx context.Context, what string, a *peers.Proc, idA string, b *peers.Proc, idB string) {
	t.Helper()
	for _, c := range []struct {
		p  *peers.Proc
		id string
	}{{a, idB}, {b, idA}} {
		if _, err := c.p.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "found" && e.Str("id") == c.id }); err != nil {
			t.Fatalf("not found %s: %v\n%s", what, err, c.p.Stderr())
		}
	}
}

// TestRunLoopbackNetns: two `run --iface lo` on one machine (one
// namespace) find each other and connect, each side reporting the
// connection with its direction. The kernel gives a multicast packet sent
// on lo a LAN source address; every source on a loopback interface is this
// host, so it is accepted.
func TestRunLoopbackNetns(t *testing.T) {
	nt := netns.New(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	a, idA := startRun(t, ctx, nt, 1, "run-a@lo", "--iface", "lo", "--ipv6=false")
	for _, e := range a.Events() {
		if e.Str("event") == "self" && len(e.Strs("addrs")) == 0 {
			t.Errorf("self lists no address; on lo the loopback ones are announced")
		}
	}
	b, idB := startRun(t, ctx, nt, 1, "run-b@lo", "--iface", "lo", "--ipv6=false")
	waitFoundEachOther(t, ctx, "over lo", a, idA, b, idB)
	dirs := []string{waitConnected(t, ctx, a, idB), waitConnected(t, ctx, b, idA)}
	if !(dirs[0] == "outbound" && dirs[1] == "inbound" || dirs[0] == "inbound" && dirs[1] == "outbound" ||
		dirs[0] == "outbound" && dirs[1] == "outbound") {
		t.Errorf("directions %v, want one side outbound and the other inbound (or both outbound: simultaneous dials)", dirs)
	}
}

// TestRunWaitsForInterfaceNetns: `run` started while its link is down
// starts anyway, says it waits, and finds and connects to a peer once the
// link comes up.
func TestRunWaitsForInterfaceNetns(t *testing.T) {
	nt := netns.New(t, 2)
	if err := nt.SetLinkUp(1, false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	a, idA := startRun(t, ctx, nt, 1, "run@h1(down)", "--iface", netns.LinkName, "--log-level", "info")
	b, idB := startRun(t, ctx, nt, 2, "run@h2", "--iface", netns.LinkName)
	time.Sleep(2 * time.Second)
	if !strings.Contains(a.Stderr(), "waiting") {
		t.Errorf("no word of waiting for an interface on stderr:\n%s", a.Stderr())
	}
	for _, e := range a.Events() {
		if e.Str("event") == "found" {
			t.Fatalf("found %s with its link down", e.Str("id"))
		}
	}
	if err := nt.SetLinkUp(1, true); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	waitFoundEachOther(t, ctx, "after the link came up", a, idA, b, idB)
	waitConnected(t, ctx, a, idB)
	t.Log(fmt.Sprintf("found and connected %s after the link came up", time.Since(up).Round(time.Millisecond)))
}
