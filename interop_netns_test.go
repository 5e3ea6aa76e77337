//go:build linux

package discovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// TestDropInConnectsWithGoLibp2p: a go-libp2p node using its own mdns and a
// node using our NewMdnsService (same program, -impl ours), each connecting
// to what its notifee is told, find and connect to each other both ways, on
// real sockets in two namespaces.
func TestDropInConnectsWithGoLibp2p(t *testing.T) {
	nt := netns.New(t, 2)
	theirs := peers.GoNode(t, nt, 1, "-duration", "25s", "-connect", "-impl", "go-libp2p")
	ours := peers.GoNode(t, nt, 2, "-duration", "25s", "-connect", "-impl", "ours")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	theirID, ourID := theirs.WaitSelf(t, ctx).Str("id"), ours.WaitSelf(t, ctx).Str("id")
	for _, c := range []struct {
		p    *peers.Proc
		want string
		what string
	}{{ours, theirID, "ours found go-libp2p"}, {theirs, ourID, "go-libp2p found ours"}} {
		if _, err := c.p.WaitFor(ctx, func(e peers.Event) bool {
			return e.Str("event") == "peer:discovery" && e.Str("id") == c.want
		}); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if _, err := c.p.WaitFor(ctx, func(e peers.Event) bool {
			return e.Str("event") == "connected" && e.Str("id") == c.want
		}); err != nil {
			t.Fatalf("%s but did not connect: %v", c.what, err)
		}
		t.Log(c.what + " and connected")
	}
}
