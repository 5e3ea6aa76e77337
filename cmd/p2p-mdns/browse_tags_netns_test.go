package main

import (
	"context"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// TestBrowseEveryTagNetns: a peer announced under the library's default
// tag (CHORUS-peer-discovery, NewMDNSDiscovery with "") and one under
// go-libp2p's (_p2p._udp) are both listed by a plain `browse` (no
// --service), each with its tag; `browse --service _p2p._udp` lists only
// the second.
func TestBrowseEveryTagNetns(t *testing.T) {
	nt := netns.New(t, 3)
	bin := peers.Build(t, "github.com/chorus-services/discovery/cmd/p2p-mdns")
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	tags := map[int]string{1: "CHORUS-peer-discovery", 2: "_p2p._udp"}
	ids := map[string]string{} // id → tag
	for i, tag := range tags {
		h := nt.Host(i)
		p := peers.Start(t, "announce@"+tag, nt.Exec(t.Context(), i, bin, "announce", "--json", "--iface", netns.LinkName, "--random",
			"--service", tag, "--addr", "/ip4/"+h.V4.Addr().String()+"/tcp/4001", "--duration", "40s"))
		ev, err := p.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "self" })
		if err != nil {
			t.Fatal(err)
		}
		ids[ev.Str("id")] = tag
	}
	time.Sleep(2 * time.Second) // both announced: idle peers that only answer
	all := peers.Start(t, "browse", nt.Exec(t.Context(), 3, bin, "browse", "--json", "--iface", netns.LinkName, "--duration", "30s"))
	only := peers.Start(t, "browse --service _p2p._udp", nt.Exec(t.Context(), 3, bin, "browse", "--json", "--iface", netns.LinkName, "--service", "_p2p._udp", "--duration", "30s"))
	start := time.Now()
	for id, tag := range ids {
		ev, err := all.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "found" && e.Str("id") == id })
		if err != nil {
			t.Fatalf("browse did not list the peer under %s: %v\n%s", tag, err, all.Stderr())
		}
		if ev.Str("tag") != tag {
			t.Errorf("peer under %s listed with tag %q", tag, ev.Str("tag"))
		}
		t.Logf("browse found the peer under %s after %v", tag, time.Since(start).Round(time.Millisecond))
	}
	if _, err := only.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "found" && ids[e.Str("id")] == "_p2p._udp" }); err != nil {
		t.Fatal(err)
	}
	for _, e := range only.Events() {
		if e.Str("event") == "found" && ids[e.Str("id")] == "CHORUS-peer-discovery" {
			t.Errorf("browse --service _p2p._udp listed the CHORUS-peer-discovery peer")
		}
	}
}
