package browser

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"testing/synctest"
	"time"
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
		defer e.stop()
		var ms0 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		for i := range n {
			pkt := txtResponse(t, testID(i), peerName(i), 4500, true, "/ip4/10.0.0.9/tcp/4001")
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
		if ps := e.b.Peers(); len(ps) == 0 || ps[len(ps)-1].ID != testID(n-1) {
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
		defer e.stop()
		for i := range 20 {
			e.inject(goResponse(t, testID(i), peerName(i), 4500, "/ip4/10.0.0.9/tcp/4001"), "10.0.0.9")
		}
		// Peer 0's Found is in flight (taken by the dispatcher), peers 1–8
		// are queued, 9–19 dropped. Peer 1's new address merges into its
		// undelivered Found.
		e.inject(txtResponse(t, testID(1), peerName(1), 4500, false, "/ip4/10.0.0.9/tcp/5"), "10.0.0.9")
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
		if got[0].Peer.ID != testID(0) || got[1].Peer.ID != testID(1) || got[1].Kind != Found || len(got[1].Peer.Addrs) != 2 {
			t.Errorf("first events %v %v", got[0], got[1])
		}
	})
}

// TestDispatcherCoalescing: Lost cancels an undelivered Found.
func TestDispatcherCoalescing(t *testing.T) {
	var ctr counters
	d := newDispatcher(4, &ctr)
	id := testID(1)
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
		defer e.stop()
		var addrs []string
		for i := range 20 {
			addrs = append(addrs, fmt.Sprintf("/ip4/10.0.0.9/tcp/%d", 1000+i))
		}
		e.inject(rustResponse(t, testID(1), "abcdefghijklmnopqrstuvwxyz0123456789", 360, addrs...), "10.0.0.9:40000")
		ps := e.b.Peers()
		if len(ps) != 1 || !slices.Equal(addrStrings(ps[0].Addrs), addrs[18:]) {
			t.Fatalf("peers %v", ps)
		}
		if st := e.b.Stats(); st.Records != 8 || st.Evicted == 0 {
			t.Errorf("stats %+v", st)
		}
	})
}
