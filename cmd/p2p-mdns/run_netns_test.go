package main

import (
	"context"
	"fmt"
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
	bin := peers.Build(t, "github.com/chorus-services/discovery/cmd/p2p-mdns")
	procs := make([]*peers.Proc, n)
	ids := make([]string, n)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for i := range procs {
		procs[i] = peers.Start(t, fmt.Sprintf("run@h%d", i+1), nt.Exec(t.Context(), i+1, bin, "run", "--json", "--iface", netns.LinkName, "--duration", "60s"))
	}
	for i, p := range procs {
		ev, err := p.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "self" })
		if err != nil {
			t.Fatal(err)
		}
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
