package browser

import (
	"slices"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

// TestMergeAcrossIfacesAndFlavours: one peer announced go-libp2p style on
// one interface and rust-libp2p style on another is one peer whose
// addresses are the union (link-local ones zoned per interface); losing
// one interface only updates it.
func TestMergeAcrossIfacesAndFlavours(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan, err := memnet.New(memnet.Config{Seed: 1, Segments: []memnet.SegmentConfig{{Name: "a"}, {Name: "b"}}})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := lan.AddHost("b", memnet.IfaceConfig{Segment: "a", Name: "eth0"}, memnet.IfaceConfig{Segment: "b", Name: "wlan0"})
		c, _ := h.Listen(memnet.ListenOptions{})
		br, err := New(Config{Conn: c})
		if err != nil {
			t.Fatal(err)
		}
		go br.Run(t.Context())
		var mu sync.Mutex
		var all []Event
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ev := range br.Events() {
				mu.Lock()
				all = append(all, ev)
				mu.Unlock()
			}
		}()
		events := func() []Event { mu.Lock(); defer mu.Unlock(); return slices.Clone(all) }
		defer func() { br.Close(); <-done; lan.Close() }()

		id := testID(1)
		eth0, wlan0 := h.Iface("eth0"), h.Iface("wlan0")
		lan.Inject("", eth0, transport.Packet{Data: goResponse(t, id, peerName(1), 4500, "/ip4/10.0.0.9/tcp/1", "/ip6/fe80::9/tcp/1"), Src: mustAP("10.0.0.9:5353"), Dst: transport.GroupV4})
		syncWait()
		lan.Inject("", wlan0, transport.Packet{Data: rustResponse(t, id, "abcdefghijklmnopqrstuvwxyz0123456789", 360, "/ip4/10.1.0.9/tcp/1", "/ip6/fe80::9/tcp/1"), Src: mustAP("10.1.0.9:40000"), Dst: transport.GroupV4})
		syncWait()
		ps := br.Peers()
		if len(ps) != 1 {
			t.Fatalf("peers %v", ps)
		}
		got := addrStrings(ps[0].Addrs)
		sort.Strings(got)
		want := []string{"/ip4/10.0.0.9/tcp/1", "/ip4/10.1.0.9/tcp/1", "/ip6zone/eth0/ip6/fe80::9/tcp/1", "/ip6zone/wlan0/ip6/fe80::9/tcp/1"}
		if !slices.Equal(got, want) {
			t.Fatalf("addrs %v, want %v", got, want)
		}
		evs := events()
		if k := kinds(evs); !slices.Equal(k, []string{"found", "updated"}) || evs[1].Flavour != mdns.FlavourRust {
			t.Fatalf("events %v", k)
		}
		wlan0.SetUp(false)
		time.Sleep(time.Millisecond)
		syncWait()
		if k := kinds(events()); len(k) != 2 {
			t.Fatalf("events %v within the down grace (§10.3)", k)
		}
		time.Sleep(ifaceDownGrace)
		syncWait()
		evs = events()
		if k := kinds(evs); !slices.Equal(k, []string{"found", "updated", "updated"}) || len(evs[2].Peer.Addrs) != 2 {
			t.Fatalf("events %v", k)
		}
	})
}
