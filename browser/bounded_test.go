package browser

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestBounded100kPeers: 100k distinct peers announced on the LAN with
// nobody reading events: the cache, the peer set and the event queue stay
// within their bounds, the overflow is counted, memory stays bounded, and
// Peers() still returns the current set.
func TestBounded100kPeers(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	synctest.Test(t, func(t *testing.T) {
		const maxPeers, maxRecords = 1024, 1500
		e := newEnv(t, envOpt{noRead: true, cfg: func(c *Config) {
			c.MaxPeers, c.MaxRecords, c.EventQueue = maxPeers, maxRecords, 64
		}})
		var ms0 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		for i := range n {
			pkt := txtResponse(t, testkit.ID(t, i), peerName(i), 4500, true, "/ip4/10.0.0.9/tcp/4001")
			e.injectNoWait(pkt, "10.0.0.9")
			if i%100 == 99 {
				syncWait()
			}
		}
		syncWait()
		st := e.b.Stats()
		if st.Records > maxRecords || st.Peers > maxPeers || len(e.b.Peers()) > maxPeers {
			t.Fatalf("over bounds: %+v", st)
		}
		if st.Evicted == 0 || st.EventsDropped == 0 {
			t.Errorf("overflow not counted: %+v", st)
		}
		if st.QueueFull != 0 || st.PeersFound != uint64(n) {
			t.Errorf("stats %+v", st)
		}
		var ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		if grow := int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc); grow > 32<<20 {
			t.Errorf("heap grew by %d MB", grow>>20)
		}
		t.Logf("stats %+v, heap %d KB → %d KB", st, ms0.HeapAlloc>>10, ms1.HeapAlloc>>10)
		// The newest peers are the ones kept.
		if ps := e.b.Peers(); len(ps) == 0 || ps[len(ps)-1].ID != testkit.ID(t, n-1) {
			t.Error("newest peer not kept")
		}
		time.Sleep(time.Second)
	})
}

// TestSlowConsumer: a consumer that does not read never blocks the
// browser; when it reads again it gets the queued events, coalesced.
func TestSlowConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{noRead: true, cfg: func(c *Config) { c.EventQueue = 8 }})
		for i := range 20 {
			e.inject(goResponse(t, testkit.ID(t, i), peerName(i), 4500, "/ip4/10.0.0.9/tcp/4001"), "10.0.0.9")
		}
		// Peer 0's Found is in flight (taken by the dispatcher), peers 1–8
		// are queued, 9–19 dropped. Peer 1's new address merges into its
		// undelivered Found.
		e.inject(txtResponse(t, testkit.ID(t, 1), peerName(1), 4500, false, "/ip4/10.0.0.9/tcp/5"), "10.0.0.9")
		if len(e.b.Peers()) != 20 {
			t.Fatalf("%d peers", len(e.b.Peers()))
		}
		st := e.b.Stats()
		if st.EventsDropped == 0 || st.EventsCoalesced != 1 {
			t.Errorf("stats %+v", st)
		}
		var got []Event
		for len(got) < 9 {
			got = append(got, <-e.b.Events())
		}
		if got[0].Peer.ID != testkit.ID(t, 0) || got[1].Peer.ID != testkit.ID(t, 1) || got[1].Kind != Found || len(got[1].Peer.Addrs) != 2 {
			t.Errorf("first events %v %v", got[0], got[1])
		}
	})
}

// TestDispatcherCoalescing: Lost cancels an undelivered Found.
func TestDispatcherCoalescing(t *testing.T) {
	var ctr counters
	d := newDispatcher(4, &ctr)
	id := testkit.ID(t, 1)
	d.push(Event{Kind: Found, Peer: peerInfo(id, nil)})
	d.push(Event{Kind: Updated, Peer: peerInfo(id, nil)})
	d.push(Event{Kind: Lost, Peer: peerInfo(id, nil)})
	if len(d.pending) != 0 || ctr.eventsCoalesced.Load() != 2 {
		t.Fatalf("pending %v", d.pending)
	}
	d.push(Event{Kind: Lost, Peer: peerInfo(id, nil)})
	d.push(Event{Kind: Found, Peer: peerInfo(id, nil)})
	if len(d.pending) != 2 {
		t.Fatalf("pending %v", d.pending)
	}
}

// TestMaxAddrsPerPeer: a peer's addresses and records are bounded; the
// newest addresses are kept.
func TestMaxAddrsPerPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{cfg: func(c *Config) { c.MaxAddrs = 2 }})
		var addrs []string
		for i := range 20 {
			addrs = append(addrs, fmt.Sprintf("/ip4/10.0.0.9/tcp/%d", 1000+i))
		}
		e.inject(rustResponse(t, testkit.ID(t, 1), "abcdefghijklmnopqrstuvwxyz0123456789", 360, addrs...), "10.0.0.9:40000")
		ps := e.b.Peers()
		if len(ps) != 1 || !slices.Equal(addrStrings(ps[0].Addrs), addrs[18:]) {
			t.Fatalf("peers %v", ps)
		}
		if st := e.b.Stats(); st.Records != 8 || st.Evicted == 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestFloodKeepsEstablishedPeer: a peer whose record was received again at
// least 500 ms after its first sighting (it answers our queries) is
// established; a flood of distinct peers, each seen once, churns through
// the other slots of the peer set and the record cache but never evicts it
// or its records (issue #8). A newcomer that is refreshed becomes
// established too; only when every peer is established is one evicted.
func TestFloodKeepsEstablishedPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxPeers, maxRecords = 64, 200
		e := newEnv(t, envOpt{noRead: true, cfg: func(c *Config) { c.MaxPeers, c.MaxRecords = maxPeers, maxRecords }})
		estab := testkit.ID(t, 1_000_000)
		announce := func() {
			e.inject(goResponse(t, estab, peerName(0), 4500, "/ip4/10.0.0.9/tcp/4001"), "10.0.0.9")
		}
		announce()
		time.Sleep(400 * time.Millisecond)
		announce() // a copy 400 ms later: not yet established
		if st := e.b.Stats(); st.Established != 0 {
			t.Fatalf("established after 400 ms: %+v", st)
		}
		time.Sleep(600 * time.Millisecond)
		announce() // received again 1 s after the first: established
		if st := e.b.Stats(); st.Established != 1 {
			t.Fatalf("not established after 1 s: %+v", st)
		}
		for i := range 5000 {
			e.injectNoWait(goResponse(t, testkit.ID(t, i), peerName(i+1), 4500, "/ip4/10.0.0.8/tcp/4001"), "10.0.0.8")
			if i%50 == 49 {
				syncWait()
			}
		}
		syncWait()
		st := e.b.Stats()
		if st.Evicted < 5000-maxPeers || st.Peers > maxPeers || st.Records > maxRecords {
			t.Fatalf("stats %+v", st)
		}
		if !slices.ContainsFunc(e.b.Peers(), func(ai peer.AddrInfo) bool { return ai.ID == estab && len(ai.Addrs) == 1 }) {
			t.Fatalf("the established peer was evicted by the flood; stats %+v", st)
		}
		// Flood peers refreshed a second later are established as well; when
		// every peer is, a newcomer evicts the one refreshed least recently.
		for round := range 2 {
			for i := range maxPeers - 1 {
				e.injectNoWait(goResponse(t, testkit.ID(t, 10_000+i), peerName(10_001+i), 4500, "/ip4/10.0.0.8/tcp/4001"), "10.0.0.8")
			}
			syncWait()
			if round == 0 {
				time.Sleep(time.Second)
			}
		}
		if !slices.ContainsFunc(e.b.Peers(), func(ai peer.AddrInfo) bool { return ai.ID == estab }) {
			t.Fatal("the established peer was evicted by other established peers with a free slot")
		}
		e.inject(goResponse(t, testkit.ID(t, 20_000), peerName(20_001), 4500, "/ip4/10.0.0.8/tcp/4001"), "10.0.0.8")
		if ps := e.b.Peers(); len(ps) != maxPeers || slices.ContainsFunc(ps, func(ai peer.AddrInfo) bool { return ai.ID == estab }) {
			t.Errorf("with every slot established, the least recently refreshed peer was kept (%d peers)", len(ps))
		}
	})
}
