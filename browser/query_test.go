package browser

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/miekg/dns"
)

// TestQuerySchedule: first query 20–120 ms after start with the QU bit, then
// intervals doubling from a random first one of 1–2 s (§5.2, §5.4), on both
// families.
func TestQuerySchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, qs := queriesWithin(t, 130*time.Second) // 63 first intervals of 1–2 s
		if len(qs) > 14 {                          // the 8th round may fall within 130 s with a short first interval
			qs = qs[:14]
		}
		var times []time.Duration
		for i, q := range qs {
			if len(q.m.Question) != 1 || q.m.Question[0].Qtype != dns.TypePTR || q.m.Question[0].Name != mdns.SpecService {
				t.Fatalf("query %d: %v", i, q.m.Question)
			}
			if q.m.Id != 0 {
				t.Errorf("query %d: ID %d, want 0 (§18.1)", i, q.m.Id)
			}
			qu := mdns.IsQU(q.m.Question[0])
			if qu != (i < 2) {
				t.Errorf("query %d at %v: QU %v", i, q.at, qu)
			}
			if i%2 == 0 {
				times = append(times, q.at)
				if !q.v4 || qs[i+1].v4 || qs[i+1].at != q.at {
					t.Fatalf("query %d: want an IPv4 and an IPv6 copy at once", i)
				}
			}
		}
		if len(times) != 7 {
			t.Fatalf("sent at %v, want 7 rounds", times)
		}
		first := times[0]
		if first < 20*time.Millisecond || first > 120*time.Millisecond {
			t.Errorf("first query at %v, want 20–120 ms", first)
		}
		unit := times[1] - first
		if unit < time.Second || unit >= 2*time.Second {
			t.Errorf("first interval %v, want 1–2 s (§5.2: at least 1 s)", unit)
		}
		want := []time.Duration{0, 1, 3, 7, 15, 31, 63}
		for i, w := range want {
			if got := times[i] - first; got != w*unit {
				t.Errorf("query %d at first+%v, want +%v (intervals doubling, §5.2)", i, got, w*unit)
			}
		}
		if st := e.b.Stats(); st.QueriesSent < 14 || st.QueriesSent > 16 {
			t.Errorf("QueriesSent %d, want 14 (16 with an 8th round)", st.QueriesSent)
		}
		for _, r := range e.Cap.Sent("b", e.T0) {
			if r.Packet.Src.Port() != mdns.Port {
				t.Errorf("query from port %d, want 5353", r.Packet.Src.Port())
			}
		}
	})
}

// TestQueryIntervalCap: the interval stops doubling at 60 minutes.
func TestQueryIntervalCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, qs := queriesWithin(t, 6*time.Hour)
		last := qs[len(qs)-1].at - qs[len(qs)-3].at
		if last != time.Hour {
			t.Errorf("last interval %v, want 1h", last)
		}
	})
}

// TestKnownAnswersTC: every cached PTR with more than half its TTL left is
// a known answer (§7.1), spread over packets with TC on all but the last
// (§7.2); answers below half their TTL are left out.
func TestKnownAnswersTC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		time.Sleep(500 * time.Millisecond) // after the first (QU) query
		e.at(e.round(1) - 500*time.Millisecond)
		const n = 200
		for i := range n {
			e.inject(goResponse(t, testkit.ID(t, i), peerName(i), 4500, "/ip4/10.0.0.9/tcp/4001"), "10.0.0.9")
		}
		// One short-lived record: below half its TTL at the next query.
		e.inject(goResponse(t, testkit.ID(t, 999), peerName(999), 1, "/ip4/10.0.0.8/tcp/4001"), "10.0.0.8")
		syncWait()
		if got := len(e.b.Peers()); got != n+1 {
			t.Fatalf("%d peers, want %d", got, n+1)
		}
		before := len(e.Cap.Sent("b", e.T0))
		time.Sleep(time.Second)
		syncWait()
		// The short-lived record caused refresh queries (80–95 %); check the
		// scheduled query, the last round.
		sent := e.Cap.Sent("b", e.T0)[before:]
		last := e.T0.Add(e.round(1))
		var v4 []*dns.Msg
		for _, r := range sent {
			if r.Packet.Dst.Addr().Is4() && r.Time.Equal(last) {
				m, err := mdns.Parse(r.Packet.Data)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Packet.Data) > e.iface.MTU()-28 {
					t.Errorf("packet of %d bytes exceeds the MTU", len(r.Packet.Data))
				}
				v4 = append(v4, m)
			}
		}
		if len(v4) < 2 {
			t.Fatalf("%d packets, want the known answers split over several", len(v4))
		}
		known := 0
		for i, m := range v4 {
			if m.Truncated != (i < len(v4)-1) {
				t.Errorf("packet %d/%d: TC %v", i, len(v4), m.Truncated)
			}
			if (len(m.Question) > 0) != (i == 0) {
				t.Errorf("packet %d: %d questions", i, len(m.Question))
			}
			for _, rr := range m.Answer {
				if rr.Header().Ttl*2 <= 4500 || rr.Header().Class != dns.ClassINET {
					t.Errorf("known answer %v", rr)
				}
				known++
			}
		}
		if known != n {
			t.Errorf("%d known answers, want %d", known, n)
		}
	})
}

// TestDuplicateQuestionSuppression: a QM query for our question by another
// host, with only known answers we would give, replaces our next scheduled
// query on that family (§7.3); one with a known answer we lack does not.
func TestDuplicateQuestionSuppression(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		time.Sleep(500 * time.Millisecond) // first query sent at 20–120 ms
		e.inject(ptrQuery(t), "10.0.0.7")
		time.Sleep(e.round(1) + time.Millisecond - e.since())
		syncWait()
		qs := e.queries()
		if len(qs) != 3 || qs[2].v4 {
			t.Fatalf("sent %d queries (last v4=%v), want the IPv4 one suppressed", len(qs), qs[len(qs)-1].v4)
		}
		if st := e.b.Stats(); st.QueriesSuppressed != 1 {
			t.Errorf("QueriesSuppressed %d, want 1", st.QueriesSuppressed)
		}
		// A query with a known answer we do not have: no suppression.
		foreign := &dns.PTR{Hdr: dns.RR_Header{Name: mdns.SpecService, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4500}, Ptr: "x." + mdns.SpecService}
		e.inject(ptrQuery(t, foreign), "10.0.0.7")
		time.Sleep(e.round(2) + time.Millisecond - e.since())
		syncWait()
		if qs := e.queries(); len(qs) != 5 {
			t.Errorf("sent %d queries, want 5", len(qs))
		}
	})
}

// TestDuplicateSuppressionOwnAndTC: §7.3 with the known-answer lists of a
// real LAN: another host's query listing our own instance (cached from our
// responder's looped-back announcement) suppresses ours; a TC query
// suppresses ours unless one of its continuation packets (§7.2) lists a
// record we lack.
func TestDuplicateSuppressionOwnAndTC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		time.Sleep(500 * time.Millisecond) // first query sent at 20–120 ms
		// Our own announcement looped back, and one other peer.
		e.inject(goResponse(t, testkit.ID(t, -1), "ourselves", 4500, "/ip4/10.0.0.2/tcp/4001"), "10.0.0.2")
		e.inject(goResponse(t, testkit.ID(t, 1), peerName(1), 4500, "/ip4/10.0.0.9/tcp/4001"), "10.0.0.9")
		suppressed := func() uint64 { syncWait(); return e.b.Stats().QueriesSuppressed }

		e.inject(ptrQuery(t, kaPTR("ourselves"), kaPTR(peerName(1))), "10.0.0.7")
		time.Sleep(e.round(1) + time.Millisecond - e.since())
		if n := suppressed(); n != 1 {
			t.Fatalf("a query listing our own instance: %d suppressed, want 1", n)
		}

		e.inject(kaQuery(t, true, true, kaPTR(peerName(1))), "10.0.0.7")
		e.inject(kaQuery(t, false, false, kaPTR("stranger")), "10.0.0.7")
		time.Sleep(e.round(2) + time.Millisecond - e.since())
		if n := suppressed(); n != 1 {
			t.Fatalf("a TC query whose continuation lists a record we lack: %d suppressed, want still 1", n)
		}

		e.inject(kaQuery(t, true, true, kaPTR(peerName(1))), "10.0.0.7")
		e.inject(kaQuery(t, false, false, kaPTR("ourselves")), "10.0.0.7")
		time.Sleep(e.round(3) + time.Millisecond - e.since())
		if n := suppressed(); n != 2 {
			t.Fatalf("a TC query with only records we know: %d suppressed, want 2", n)
		}
	})
}

// TestLegacyQueryIgnored: a query from a port other than 5353 (a legacy
// querier, §6.7, or rust-libp2p) neither suppresses our query nor counts
// for POOF: its answers may go by unicast.
func TestLegacyQueryIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		e.inject(goResponse(t, testkit.ID(t, 1), peerName(1), 4500, "/ip4/10.0.0.9/tcp/1"), "10.0.0.9")
		time.Sleep(500 * time.Millisecond)
		for range 3 {
			e.inject(ptrQuery(t), "10.0.0.7:40000")
		}
		e.at(30 * time.Second)
		if st := e.b.Stats(); st.QueriesSuppressed != 0 || st.Poofed != 0 || len(e.b.Peers()) != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}
