package browser

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
)

// at sleeps until d after the env started.
func (e *env) at(d time.Duration) {
	time.Sleep(d - e.since())
	syncWait()
}

func lastEvent(t *testing.T, e *env) Event {
	t.Helper()
	evs := e.evs()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	return evs[len(evs)-1]
}

// TestCacheFlushOneSecond: a cache-flush record makes the other records of
// its RRset received more than 1 s earlier expire one second later, and
// keeps those received within the last second (§10.2).
func TestCacheFlushOneSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		id := testkit.ID(t, 1)
		a, b, c := "/ip4/10.0.0.9/tcp/1", "/ip4/10.0.0.9/tcp/2", "/ip4/10.0.0.9/tcp/3"
		e.at(time.Second)
		e.inject(txtResponse(t, id, peerName(1), 4500, true, a), "10.0.0.9")
		e.at(3 * time.Second)
		e.inject(txtResponse(t, id, peerName(1), 4500, true, b), "10.0.0.9")
		if ev := lastEvent(t, e); ev.Kind != Updated || len(ev.Peer.Addrs) != 2 {
			t.Fatalf("after the new record: %v %v", ev.Kind, ev.Peer.Addrs)
		}
		e.at(4*time.Second - time.Millisecond)
		if got := len(e.b.Peers()[0].Addrs); got != 2 {
			t.Fatalf("old record flushed before 1 s: %d addrs", got)
		}
		e.at(4 * time.Second)
		if ev := lastEvent(t, e); ev.Kind != Updated || !slices.Equal(addrStrings(ev.Peer.Addrs), []string{b}) || !ev.Time.Equal(e.T0.Add(4*time.Second)) {
			t.Fatalf("at 4 s: %v %v at %v", ev.Kind, ev.Peer.Addrs, ev.Time.Sub(e.T0))
		}
		// Two parts of one RRset within a second: both kept.
		e.at(10 * time.Second)
		e.inject(txtResponse(t, id, peerName(1), 4500, true, c), "10.0.0.9")
		e.at(10*time.Second + 500*time.Millisecond)
		e.inject(txtResponse(t, id, peerName(1), 4500, true, a), "10.0.0.9")
		e.at(20 * time.Second)
		got := addrStrings(e.b.Peers()[0].Addrs)
		slices.Sort(got)
		if !slices.Equal(got, []string{a, c}) {
			t.Errorf("addrs %v, want %v", got, []string{a, c})
		}
		if k := kinds(e.evs()); slices.Contains(k, "lost") {
			t.Errorf("events %v", k)
		}
	})
}

// TestGoodbyeAfterOneSecond: a TTL-0 record expires one second after the
// goodbye (§10.1), then the peer is Lost.
func TestGoodbyeAfterOneSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		id := testkit.ID(t, 1)
		e.inject(goResponse(t, id, peerName(1), 4500, "/ip4/10.0.0.9/tcp/1"), "10.0.0.9")
		e.at(5 * time.Second)
		e.inject(goResponse(t, id, peerName(1), 0, "/ip4/10.0.0.9/tcp/1"), "10.0.0.9")
		e.at(6*time.Second - time.Millisecond)
		if len(e.b.Peers()) != 1 {
			t.Fatal("peer gone before 1 s")
		}
		e.at(6 * time.Second)
		ev := lastEvent(t, e)
		if ev.Kind != Lost || ev.Peer.ID != id || !ev.Time.Equal(e.T0.Add(6*time.Second)) {
			t.Fatalf("%v %v at %v", ev.Kind, ev.Peer.ID, ev.Time.Sub(e.T0))
		}
		if len(e.b.Peers()) != 0 || e.b.Stats().PeersLost != 1 {
			t.Errorf("peers %v, stats %+v", e.b.Peers(), e.b.Stats())
		}
	})
}

// TestRefreshPoints: the refresh query points are 80, 85, 90, 95 % of the
// TTL plus 0–2 % (§5.2).
func TestRefreshPoints(t *testing.T) {
	b := &Browser{cfg: Config{Rand: rand.New(rand.NewPCG(3, 4))}}
	t0 := time.Unix(1000, 0)
	for range 100 {
		e := &entry{}
		b.setTTL(e, 100, t0)
		for stage := range 4 {
			lo := t0.Add(time.Duration(80+5*stage) * time.Second)
			if e.refreshAt.Before(lo) || !e.refreshAt.Before(lo.Add(2*time.Second)) {
				t.Fatalf("stage %d at %v, want [%v, +2s)", stage, e.refreshAt.Sub(t0), lo.Sub(t0))
			}
			e.refreshStage++
			e.refreshAt = b.refreshPoint(e)
		}
		if !e.refreshAt.IsZero() {
			t.Fatal("a fifth refresh")
		}
	}
}

// TestRefreshQueries: unanswered, a record is queried at 80 and 85 % of
// its TTL (a TXT question for a go-libp2p instance, without the record as a
// known answer); after those two unanswered queries POOF flushes it 10 s
// after the first (§10.5).
func TestRefreshQueries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		id := testkit.ID(t, 1)
		t0 := time.Second
		e.at(t0)
		e.inject(txtResponse(t, id, peerName(1), 100, true, "/ip4/10.0.0.9/tcp/1"), "10.0.0.9")
		e.at(t0 + 100*time.Second)
		var refresh []time.Duration
		for _, q := range e.queries() {
			if q.v4 && q.m.Question[0].Qtype == dns.TypeTXT {
				refresh = append(refresh, q.at-t0)
				if q.m.Question[0].Name != peerName(1)+"."+mdns.SpecService || len(q.m.Answer) != 0 {
					t.Errorf("refresh query %v with %d known answers", q.m.Question, len(q.m.Answer))
				}
			}
		}
		// The 90 % query (at 90–92 s) goes out too when its jitter puts it
		// before the flush (10 s after the first, also within 90–92 s).
		if len(refresh) < 2 || len(refresh) > 3 || refresh[0] < 80*time.Second || refresh[0] >= 82*time.Second || refresh[1] < 85*time.Second || refresh[1] >= 87*time.Second ||
			(len(refresh) == 3 && (refresh[2] < 90*time.Second || refresh[2] >= refresh[0]+10*time.Second)) {
			t.Fatalf("refresh queries at %v, want at 80–82 s and 85–87 s (and 90–92 s before the flush)", refresh)
		}
		ev := lastEvent(t, e)
		// §10.5: flushed 10 s after the first unanswered query, or 1 s
		// after the last one when that is later.
		wantLost := max(refresh[0]+10*time.Second, refresh[len(refresh)-1]+time.Second)
		if ev.Kind != Lost || ev.Time.Sub(e.T0)-t0 != wantLost {
			t.Errorf("%v at %v, want lost at %v", ev.Kind, ev.Time.Sub(e.T0)-t0, wantLost)
		}
		if st := e.b.Stats(); st.Poofed == 0 || st.RefreshQueries == 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestRefreshAnswered: a record answered at each refresh lives on.
func TestRefreshAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		id := testkit.ID(t, 1)
		pkt := txtResponse(t, id, peerName(1), 100, true, "/ip4/10.0.0.9/tcp/1")
		e.inject(pkt, "10.0.0.9")
		for i := range 10 {
			e.at(time.Duration(i+1) * 83 * time.Second)
			e.inject(pkt, "10.0.0.9")
		}
		if k := kinds(e.evs()); !slices.Equal(k, []string{"found"}) {
			t.Errorf("events %v", k)
		}
	})
}

// TestPOOF: two queries from other hosts that should have been answered
// with a cached PTR, and no answer within 10 s, flush it and the instance's
// records (§10.5); an answered query does not.
func TestPOOF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		id, id2 := testkit.ID(t, 1), testkit.ID(t, 2)
		e.inject(goResponse(t, id, peerName(1), 4500, "/ip4/10.0.0.9/tcp/1"), "10.0.0.9")
		e.inject(goResponse(t, id2, peerName(2), 4500, "/ip4/10.0.0.8/tcp/1"), "10.0.0.8")
		e.at(10 * time.Second)
		e.inject(ptrQuery(t), "10.0.0.7")
		e.inject(goResponse(t, id2, peerName(2), 4500, "/ip4/10.0.0.8/tcp/1"), "10.0.0.8")
		e.at(15 * time.Second)
		e.inject(ptrQuery(t), "10.0.0.7")
		e.inject(goResponse(t, id2, peerName(2), 4500, "/ip4/10.0.0.8/tcp/1"), "10.0.0.8")
		e.at(20*time.Second - time.Millisecond)
		if len(e.b.Peers()) != 2 {
			t.Fatal("flushed before 10 s")
		}
		e.at(22 * time.Second)
		ps := e.b.Peers()
		if len(ps) != 1 || ps[0].ID != id2 {
			t.Fatalf("peers %v, want only %s", ps, id2)
		}
		ev := lastEvent(t, e)
		if ev.Kind != Lost || ev.Peer.ID != id {
			t.Errorf("%v %v", ev.Kind, ev.Peer.ID)
		}
		if e.b.Stats().Poofed != 1 {
			t.Errorf("Poofed %d", e.b.Stats().Poofed)
		}
	})
}

// TestPOOFKnownAnswersInContinuation: POOF (§10.5) reads another host's
// TC query together with its continuation packets (§7.2): a peer listed
// only in a continuation was not asked for and is kept, a peer listed in
// neither packet is flushed, and a query whose continuation never comes is
// not counted.
func TestPOOFKnownAnswersInContinuation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		for i := 1; i <= 3; i++ {
			e.inject(goResponse(t, testkit.ID(t, i), peerName(i), 4500, fmt.Sprintf("/ip4/10.0.0.%d/tcp/1", 10+i)), fmt.Sprintf("10.0.0.%d", 10+i))
		}
		// A TC query whose continuation is lost: not observed.
		e.at(5 * time.Second)
		e.inject(kaQuery(t, true, true, kaPTR(peerName(2))), "10.0.0.6")
		for _, at := range []time.Duration{10 * time.Second, 15 * time.Second} {
			e.at(at)
			e.inject(kaQuery(t, true, true, kaPTR(peerName(2))), "10.0.0.7")
			e.inject(kaQuery(t, false, false, kaPTR(peerName(1))), "10.0.0.7")
		}
		e.at(22 * time.Second)
		var ids []peer.ID
		for _, p := range e.b.Peers() {
			ids = append(ids, p.ID)
		}
		if len(ids) != 2 || !slices.Contains(ids, testkit.ID(t, 1)) || !slices.Contains(ids, testkit.ID(t, 2)) {
			t.Fatalf("peers %v, want peers 1 and 2 kept and 3 flushed", ids)
		}
		if n := e.b.Stats().Poofed; n != 1 {
			t.Errorf("Poofed %d, want 1", n)
		}
	})
}

// TestIfaceDownGrace: an interface going down keeps its records for a few
// seconds (RFC 6762 §10.3) and then loses them; nothing is queried while
// it is down; back up, it browses again with a QU query.
func TestIfaceDownGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		e.inject(goResponse(t, testkit.ID(t, 1), peerName(1), 4500, "/ip4/10.0.0.9/tcp/1"), "10.0.0.9")
		e.at(time.Second)
		e.iface.SetUp(false)
		e.at(time.Second + ifaceDownGrace - time.Millisecond)
		if k := kinds(e.evs()); !slices.Equal(k, []string{"found"}) || len(e.b.Peers()) != 1 {
			t.Fatalf("within the grace: events %v", k)
		}
		e.at(time.Second + ifaceDownGrace + time.Millisecond)
		if k := kinds(e.evs()); !slices.Equal(k, []string{"found", "lost"}) || len(e.b.Peers()) != 0 {
			t.Fatalf("after the grace: events %v", k)
		}
		n := len(e.queries())
		e.at(time.Minute)
		if len(e.queries()) != n {
			t.Error("queries on a down interface")
		}
		e.iface.SetUp(true)
		e.at(time.Minute + 200*time.Millisecond)
		qs := e.queries()
		if len(qs) != n+2 || !mdns.IsQU(qs[n].m.Question[0]) {
			t.Errorf("after up: %d queries, want a new QU query", len(qs)-n)
		}
	})
}

// TestIfaceFlapKeepsPeers: a link down for 2 s and back up loses no peer:
// the browser queries again without the peer's records among its known
// answers (they are below half their TTL), and the peer's answer renews
// them.
func TestIfaceFlapKeepsPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		resp := goResponse(t, testkit.ID(t, 1), peerName(1), 4500, "/ip4/10.0.0.9/tcp/1")
		e.inject(resp, "10.0.0.9")
		e.at(time.Second)
		e.iface.SetUp(false)
		e.at(3 * time.Second)
		n := len(e.queries())
		e.iface.SetUp(true)
		e.at(3*time.Second + 200*time.Millisecond)
		qs := e.queries()
		if len(qs) <= n {
			t.Fatal("no query after the link came back")
		}
		for _, q := range qs[n:] {
			if len(q.m.Answer) != 0 {
				t.Errorf("known answers %v: the peer would not answer", q.m.Answer)
			}
		}
		e.inject(resp, "10.0.0.9") // the peer's answer
		e.at(time.Minute)
		if k := kinds(e.evs()); !slices.Equal(k, []string{"found"}) || len(e.b.Peers()) != 1 {
			t.Fatalf("events %v, peers %d", k, len(e.b.Peers()))
		}
	})
}
