package browser

import (
	"slices"
	"sort"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

// TestMergeAcrossIfacesAndFlavours: one peer announced go-libp2p style on
// one interface and rust-libp2p style on another is one peer whose
// addresses are the union (link-local ones zoned per interface); losing
// one interface only updates it.
func TestMergeAcrossIfacesAndFlavours(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{segments: []memnet.SegmentConfig{{Name: "a"}, {Name: "b"}},
			ifaces: []memnet.IfaceConfig{{Segment: "a", Name: "eth0"}, {Segment: "b", Name: "wlan0"}}})
		id := testkit.ID(t, 1)
		eth0, wlan0 := e.host.Iface("eth0"), e.host.Iface("wlan0")
		e.Inject("", eth0, "10.0.0.9:5353", 0, goResponse(t, id, peerName(1), 4500, "/ip4/10.0.0.9/tcp/1", "/ip6/fe80::9/tcp/1"))
		syncWait()
		e.Inject("", wlan0, "10.1.0.9:40000", 0, rustResponse(t, id, "abcdefghijklmnopqrstuvwxyz0123456789", 360, "/ip4/10.1.0.9/tcp/1", "/ip6/fe80::9/tcp/1"))
		syncWait()
		ps := e.b.Peers()
		if len(ps) != 1 {
			t.Fatalf("peers %v", ps)
		}
		got := addrStrings(ps[0].Addrs)
		sort.Strings(got)
		want := []string{"/ip4/10.0.0.9/tcp/1", "/ip4/10.1.0.9/tcp/1", "/ip6zone/eth0/ip6/fe80::9/tcp/1", "/ip6zone/wlan0/ip6/fe80::9/tcp/1"}
		if !slices.Equal(got, want) {
			t.Fatalf("addrs %v, want %v", got, want)
		}
		evs := e.evs()
		if k := kinds(evs); !slices.Equal(k, []string{"found", "updated"}) || evs[1].Flavour != mdns.FlavourRust {
			t.Fatalf("events %v", k)
		}
		wlan0.SetUp(false)
		time.Sleep(time.Millisecond)
		syncWait()
		if k := kinds(e.evs()); len(k) != 2 {
			t.Fatalf("events %v within the down grace (§10.3)", k)
		}
		time.Sleep(ifaceDownGrace)
		syncWait()
		evs = e.evs()
		if k := kinds(evs); !slices.Equal(k, []string{"found", "updated", "updated"}) || len(evs[2].Peer.Addrs) != 2 {
			t.Fatalf("events %v", k)
		}
	})
}
