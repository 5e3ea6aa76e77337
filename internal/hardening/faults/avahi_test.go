package faults

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/hardening/node"
	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// avahiPeer is the libp2p peer avahi-publish announces on host 1 (no host
// listens behind its address: dials to it fail, which does not matter).
const (
	avahiPeer     = "12D3KooWSfsqkSUU6DTgDKK6RuxGJs7poPksfrxQEFwNNvmy32vT"
	avahiPeerAddr = "/ip4/198.51.100.11/tcp/4002"
)

// TestAvahiShares5353 runs avahi-daemon and `run` node A in the same
// namespace (both bound to UDP 5353 with SO_REUSEPORT, RFC 6762 §15.1) and
// node B on another host. Both stacks keep working:
//
//   - A and B find each other and connect, with avahi-daemon running next
//     to A (started first, so A is the second socket on the port);
//   - avahi-browse, through the avahi-daemon that shares A's port,
//     resolves A's service (multicast loopback between the two stacks) and
//     B's (from the LAN), each with its dnsaddr TXT strings;
//   - a service published by avahi on host 1 is found by B (avahi's
//     responder is heard on the LAN) and by A (loopback again);
//   - A never loses B nor B A; nothing lost at the end.
func TestAvahiShares5353(t *testing.T) {
	t.Parallel()
	nt := netns.New(t, 2)
	av := peers.StartAvahi(t, nt, 1, "shared-h1")
	ctx := withTimeout(t, 75*time.Second)
	ab := meshed(t, ctx, nt, 1, 2)
	a, b := ab[0], ab[1]
	ma, mb := a.Mark(), b.Mark()

	av.Publish(t, "avahi-neighbour", "_p2p._udp", 4002, "dnsaddr="+avahiPeerAddr+"/p2p/"+avahiPeer)
	for _, n := range []*node.Node{a, b} {
		waitFrom(t, ctx, n, 0, "found the avahi-published peer", func(e node.Event) bool {
			return (e.Str("event") == "found" || e.Str("event") == "updated") && e.Str("id") == avahiPeer && slices.Contains(e.Strs("addrs"), avahiPeerAddr)
		})
	}

	want := map[string]bool{a.ID: false, b.ID: false}
	var last string
	for attempt := 0; attempt < 6 && ctx.Err() == nil && !(want[a.ID] && want[b.ID]); attempt++ {
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, out, _ := av.Browse(bctx, "_p2p._udp")
		cancel()
		last = out
		for _, r := range res {
			for id := range want {
				if slices.ContainsFunc(r.TXT, func(s string) bool { return strings.HasPrefix(s, "dnsaddr=") && strings.HasSuffix(s, "/p2p/"+id) }) {
					want[id] = true
				}
			}
		}
	}
	if !want[a.ID] || !want[b.ID] {
		t.Fatalf("avahi-browse on host 1 resolved A %v, B %v; last output:\n%s", want[a.ID], want[b.ID], last)
	}
	keptThroughout(t, a, ma, b.ID)
	keptThroughout(t, b, mb, a.ID)
	nothingLost(t, ctx, a, b)
}
