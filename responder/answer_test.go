package responder

import (
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/chorus-services/discovery/internal/malformed"
	"github.com/chorus-services/discovery/internal/testkit/memkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/miekg/dns"
)

// answersAfter returns a's v4 non-goodbye responses sent at or after t0.
func answersAfter(t *testing.T, b bed, t0 time.Time) []pkt {
	return only(b.sent(t, "a", t0), func(p pkt) bool { return p.v4() && p.m.Response && !p.ttl0() })
}

// BCT: shared reply timing / aggregation. PTR answers are delayed 20–120 ms
// uniformly; queries arriving meanwhile join the pending response; the
// answer to a PTR query has SRV, TXT and A/AAAA in the additional section.
func TestSharedAnswerDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		var delays []time.Duration
		for i := 0; i < 40; i++ {
			time.Sleep(1500 * time.Millisecond) // past the 1 s rate limit
			t0 := time.Now()
			b.inject(ptrQuery(), "", 0)
			time.Sleep(200 * time.Millisecond)
			ans := answersAfter(t, b, t0)
			if len(ans) != 1 {
				t.Fatalf("query %d: %d responses", i, len(ans))
			}
			delays = append(delays, ans[0].Time.Sub(t0))
			m := ans[0].m
			if len(m.Answer) != 1 || !hasRR(m.Extra, dns.TypeSRV) || !hasRR(m.Extra, dns.TypeTXT) || !hasRR(m.Extra, dns.TypeA) || !hasRR(m.Extra, dns.TypeAAAA) {
				t.Fatalf("layout: answers %v, additional %v", m.Answer, m.Extra)
			}
		}
		lo, hi := delays[0], delays[0]
		for _, d := range delays {
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < 20*time.Millisecond || hi > 120*time.Millisecond || hi-lo < 60*time.Millisecond {
			t.Errorf("delays in [%v, %v], want spread over 20–120 ms", lo, hi)
		}
		// Aggregation: a PTR and a meta-query 5 ms apart get one response.
		time.Sleep(1500 * time.Millisecond)
		t0 := time.Now()
		b.inject(ptrQuery(), "", 0)
		time.Sleep(5 * time.Millisecond)
		b.inject(query(0, false, nil, q(mdns.MetaQuery, dns.TypePTR)), "10.0.0.201:5353", 0)
		time.Sleep(200 * time.Millisecond)
		ans := answersAfter(t, b, t0)
		if len(ans) != 1 || len(ans[0].m.Answer) != 2 {
			t.Fatalf("aggregation: %d responses", len(ans))
		}
		// Unique-only answers go out at once (the SRV went out as an
		// additional record above: wait out the rate limit).
		time.Sleep(1500 * time.Millisecond)
		t0 = time.Now()
		b.inject(query(0, false, nil, q(mdns.InstanceName(testName, mdns.SpecService), dns.TypeSRV)), "", 0)
		time.Sleep(200 * time.Millisecond)
		ans = answersAfter(t, b, t0)
		if len(ans) != 1 || ans[0].Time != t0 || !hasRR(ans[0].m.Answer, dns.TypeSRV) || !hasRR(ans[0].m.Extra, dns.TypeA) {
			t.Fatalf("SRV answer: %d responses", len(ans))
		}
		r.stop(t)
	})
}

// BCT: known-answer suppression. A known PTR with ≥ half our TTL
// suppresses the answer, one with less does not; a multi-packet
// known-answer list (TC bit, §7.2) is waited for 400–500 ms and its
// continuation suppresses the answer; without continuation the answer
// goes out 400–500 ms after the first packet.
func TestKnownAnswerSuppression(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		ptr := func(ttl uint32) dns.RR {
			return &dns.PTR{Hdr: dns.RR_Header{Name: mdns.SpecService, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}, Ptr: mdns.InstanceName(testName, mdns.SpecService)}
		}
		other := &dns.PTR{Hdr: dns.RR_Header{Name: mdns.SpecService, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4500}, Ptr: "x." + mdns.SpecService}
		step := func(name string, send func(), want int, wantAt [2]time.Duration) {
			t.Helper()
			time.Sleep(2 * time.Second)
			t0 := time.Now()
			send()
			time.Sleep(time.Second)
			ans := answersAfter(t, b, t0)
			if len(ans) != want {
				t.Fatalf("%s: %d responses, want %d", name, len(ans), want)
			}
			if want == 1 {
				if d := ans[0].Time.Sub(t0); d < wantAt[0] || d > wantAt[1] {
					t.Errorf("%s: answered after %v", name, d)
				}
			}
		}
		step("known", func() { b.inject(query(0, false, []dns.RR{ptr(4500)}, q(mdns.SpecService, dns.TypePTR)), "", 0) }, 0, [2]time.Duration{})
		step("known-low-ttl", func() { b.inject(query(0, false, []dns.RR{ptr(2000)}, q(mdns.SpecService, dns.TypePTR)), "", 0) }, 1, [2]time.Duration{20 * time.Millisecond, 120 * time.Millisecond})
		step("tc-continued", func() {
			b.inject(query(0, true, []dns.RR{other}, q(mdns.SpecService, dns.TypePTR)), "", 0)
			time.Sleep(100 * time.Millisecond)
			b.inject(query(0, false, []dns.RR{ptr(4500)}), "", 0)
		}, 0, [2]time.Duration{})
		step("tc-alone", func() { b.inject(query(0, true, []dns.RR{other}, q(mdns.SpecService, dns.TypePTR)), "", 0) }, 1, [2]time.Duration{400 * time.Millisecond, 500 * time.Millisecond})
		// A LAN of 1000 peers: the list spans ~50 packets and names us in
		// the last one; nothing of it but our own records is held.
		step("tc-long", func() {
			many := make([]dns.RR, 20)
			for i := range 50 {
				for j := range many {
					many[j] = &dns.PTR{Hdr: dns.RR_Header{Name: mdns.SpecService, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4500}, Ptr: fmt.Sprintf("peer%04d.%s", 20*i+j, mdns.SpecService)}
				}
				if i == 0 {
					b.inject(query(0, true, many, q(mdns.SpecService, dns.TypePTR)), "", 0)
					continue
				}
				if i == 49 {
					many = append(many, ptr(4500))
				}
				b.inject(query(0, i < 49, many), "", 0)
			}
		}, 0, [2]time.Duration{})
		if s := r.Stats(); s.SuppressedKnown != 3 {
			t.Errorf("SuppressedKnown %d, want 3", s.SuppressedKnown)
		}
		r.stop(t)
	})
}

// queryThen sends, 2 s after announcing, a PTR query from the default
// foreign host and after that second from 10.0.0.201, and returns the
// answers sent until within after second.
func queryThen(t *testing.T, b bed, second []byte, after, within time.Duration) []pkt {
	t.Helper()
	time.Sleep(2 * time.Second)
	t0 := time.Now()
	b.inject(ptrQuery(), "", 0)
	time.Sleep(after)
	b.inject(second, "10.0.0.201:5353", 0)
	time.Sleep(within)
	return answersAfter(t, b, t0)
}

// BCT: duplicate answer suppression (§7.4). Another responder's answer
// with our PTR, heard while ours is pending, cancels ours.
func TestDuplicateAnswerSuppression(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		if ans := queryThen(t, b, response(r.rs.PTR), 5*time.Millisecond, time.Second); len(ans) != 0 {
			t.Fatalf("%d responses despite a duplicate answer", len(ans))
		}
		if s := r.Stats(); s.SuppressedDuplicate != 1 {
			t.Errorf("SuppressedDuplicate %d", s.SuppressedDuplicate)
		}
		r.stop(t)
	})
}

// BCT: rate limiting. A record is multicast at most once per second on an
// interface: a second PTR query 300 ms after the first gets no multicast.
func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		if ans := queryThen(t, b, ptrQuery(), 300*time.Millisecond, 500*time.Millisecond); len(ans) != 1 {
			t.Fatalf("%d responses within 1 s, want 1", len(ans))
		}
		if r.Stats().SuppressedRate != 1 {
			t.Errorf("SuppressedRate %d", r.Stats().SuppressedRate)
		}
		time.Sleep(time.Second)
		t1 := time.Now()
		b.inject(ptrQuery(), "", 0)
		time.Sleep(500 * time.Millisecond)
		if ans := answersAfter(t, b, t1); len(ans) != 1 {
			t.Fatalf("%d responses after 1 s, want 1", len(ans))
		}
		r.stop(t)
	})
}

// readUntil reads packets from c (in the bubble) until one parses as a
// response, or returns nil once nothing more is queued.
func readResponse(t *testing.T, c memkit.Conn) (*dns.Msg, transport.Packet) {
	t.Helper()
	buf := make([]byte, 9000)
	for c.Queued() > 0 {
		var p transport.Packet
		if err := c.ReadPacket(buf, &p); err != nil {
			t.Fatal(err)
		}
		if m, err := mdns.Parse(p.Data); err == nil && m.Response && !p.Multicast {
			return m, p
		}
	}
	return nil, transport.Packet{}
}

// BCT: QU / legacy unicast. A QU question is answered by unicast when the
// record was multicast on the interface within a quarter of its TTL, by
// multicast otherwise (§5.4); a query from a port other than 5353 gets a
// unicast reply with its ID, its question, TTL ≤ 10 s and no cache-flush
// bit (§6.7, §10.2).
func TestQUAndLegacyUnicast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		r := b.start(b.Host("a"), Config{PeerName: testName, TTLOther: 40}) // quarter TTL 10 s
		hb := b.Host("b")
		cb := b.Listen(hb)
		legacy := b.Listen(hb, memnet.ListenOptions{Port: 40000})
		announced()
		send := func(c memkit.Conn, data []byte) {
			if err := c.WritePacket(&transport.Packet{Data: data, Dst: transport.GroupV4, IfIndex: 1}); err != nil {
				t.Fatal(err)
			}
		}
		drain := func(c memkit.Conn) { c.Drain() }
		// Recently multicast (announcements): unicast.
		drain(cb)
		t0 := time.Now()
		send(cb, query(0, false, nil, qu(mdns.SpecService, dns.TypePTR)))
		time.Sleep(200 * time.Millisecond)
		m, p := readResponse(t, cb)
		if m == nil || p.Dst != netip.MustParseAddrPort("10.0.0.2:5353") || !hasRR(m.Answer, dns.TypePTR) {
			t.Fatalf("QU: no unicast response (%v)", p.Dst)
		}
		if n := len(answersAfter(t, b, t0)); n != 1 {
			t.Errorf("QU: %d responses, want only the unicast one", n)
		}
		// Not multicast for more than a quarter TTL: multicast.
		time.Sleep(11 * time.Second)
		drain(cb)
		t1 := time.Now()
		send(cb, query(0, false, nil, qu(mdns.SpecService, dns.TypePTR)))
		time.Sleep(200 * time.Millisecond)
		if m, _ := readResponse(t, cb); m != nil {
			t.Errorf("QU after a quarter TTL answered by unicast")
		}
		if ans := answersAfter(t, b, t1); len(ans) != 1 || !ans[0].Packet.Multicast {
			t.Errorf("QU after a quarter TTL: %d responses", len(ans))
		}
		// Legacy unicast.
		qs := q(mdns.SpecService, dns.TypePTR)
		send(legacy, query(0x1234, false, nil, qs))
		time.Sleep(200 * time.Millisecond)
		m, p = readResponse(t, legacy)
		if m == nil {
			t.Fatal("legacy: no response")
		}
		if m.Id != 0x1234 || len(m.Question) != 1 || m.Question[0] != qs || p.Dst.Port() != 40000 {
			t.Errorf("legacy: id %x, questions %v, to %v", m.Id, m.Question, p.Dst)
		}
		for _, rr := range append(append([]dns.RR{}, m.Answer...), m.Extra...) {
			if rr.Header().Ttl > 10 || mdns.IsCacheFlush(rr) {
				t.Errorf("legacy: %v", rr)
			}
		}
		s := r.Stats()
		if s.AnswersUnicast != 1 || s.AnswersLegacy != 1 {
			t.Errorf("stats %+v", s)
		}
		r.stop(t)
	})
}

// TestLegacyReplySize: a legacy unicast reply (§6.7) is one conventional
// DNS packet no larger than the querier accepts: 512 bytes without EDNS0
// (additional records dropped first), its EDNS0 size otherwise, and with
// the TC bit when the answer itself does not fit.
func TestLegacyReplySize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		var addrs []string
		for i := range 6 { // a TXT of ~800 bytes: over 512, within the MTU
			addrs = append(addrs, fmt.Sprintf("/ip4/10.0.0.1/udp/%d/quic-v1/webtransport/certhash/uEiAkH5a4DPGKUuOBjYw0CgwjvcJCJMD2K_1aluKR_tpevQ", 4000+i))
		}
		b.start(b.Host("a"), Config{PeerName: testName, Addrs: maddrs(t, addrs...)})
		legacy := b.Listen(b.Host("b"), memnet.ListenOptions{Port: 40000})
		announced()
		ask := func(q dns.Question, edns uint16) (*dns.Msg, int) {
			t.Helper()
			m := new(dns.Msg)
			m.Id, m.Question = 0x4242, []dns.Question{q}
			if edns > 0 {
				m.SetEdns0(edns, false)
			}
			data, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if err := legacy.WritePacket(&transport.Packet{Data: data, Dst: transport.GroupV4, IfIndex: 1}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			buf := make([]byte, 9000)
			var p transport.Packet
			if err := legacy.ReadPacket(buf, &p); err != nil {
				t.Fatal(err)
			}
			r, err := mdns.Parse(p.Data)
			if err != nil {
				t.Fatal(err)
			}
			if legacy.Queued() != 0 {
				t.Errorf("%v: more than one reply", q)
			}
			return r, len(p.Data)
		}
		ptrQ := q(mdns.SpecService, dns.TypePTR)
		m, n := ask(ptrQ, 0)
		if n > 512 || !hasRR(m.Answer, dns.TypePTR) || m.Truncated || hasRR(m.Extra, dns.TypeTXT) {
			t.Errorf("PTR without EDNS0: %d bytes, TC %v, answers %d, TXT in additional %v", n, m.Truncated, len(m.Answer), hasRR(m.Extra, dns.TypeTXT))
		}
		m, n = ask(ptrQ, 4096)
		if n <= 512 || !hasRR(m.Extra, dns.TypeTXT) || m.Truncated {
			t.Errorf("PTR with EDNS0 4096: %d bytes, TC %v, TXT in additional %v", n, m.Truncated, hasRR(m.Extra, dns.TypeTXT))
		}
		m, n = ask(q(mdns.InstanceName(testName, mdns.SpecService), dns.TypeTXT), 0)
		if n > 512 || !m.Truncated {
			t.Errorf("TXT without EDNS0: %d bytes, TC %v", n, m.Truncated)
		}
	})
}

// BCT: none (§11 source checks; Bonjour checks TTL 255 on responses).
// Packets with an IP TTL other than 255 and packets from off-link sources
// are dropped and counted, never answered.
func TestSecurityDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		time.Sleep(2 * time.Second)
		t0 := time.Now()
		qry := ptrQuery()
		b.inject(qry, "", 1)                                                                      // TTL 1
		b.inject(qry, "", 64)                                                                     // TTL 64
		b.inject(qry, "192.168.9.9:5353", 0)                                                      // off-link, multicast
		b.inject(query(0, false, nil, qu(mdns.SpecService, dns.TypePTR)), "192.168.9.9:40000", 0) // off-link legacy QU
		time.Sleep(time.Second)
		if ans := b.sent(t, "a", t0); len(ans) != 0 {
			t.Fatalf("%d packets sent", len(ans))
		}
		s := r.Stats()
		if s.DroppedTTL != 2 || s.DroppedOffLink != 2 {
			t.Errorf("stats %+v", s)
		}
		r.stop(t)
	})
}

// BCT: none (robustness). The malformed corpus, injected after announcing,
// never panics; every packet is counted as received and either dropped (by
// reason) or handled.
func TestMalformedCorpus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		for _, c := range malformed.Cases() {
			if len(c.Data) > mdns.MaxPacketSize+100 {
				c.Data = c.Data[:mdns.MaxPacketSize+100]
			}
			before := r.Stats()
			b.inject(c.Data, "", 0)
			time.Sleep(2 * time.Second)
			after := r.Stats()
			if after.Received != before.Received+1 {
				t.Errorf("%s: received %d → %d", c.Name, before.Received, after.Received)
			}
			handled := after.AnswersMulticast + after.AnswersUnicast + after.SuppressedKnown + after.Conflicts -
				before.AnswersMulticast - before.AnswersUnicast - before.SuppressedKnown - before.Conflicts
			// Dropped (a problem) or Ignored (the label prefilter: not
			// about our names, never parsed): either way counted.
			refused := after.Dropped() + after.Ignored - before.Dropped() - before.Ignored
			if refused == 0 && handled == 0 {
				t.Errorf("%s (parse %v): not counted", c.Name, c.Parse)
			}
			if !c.Parse && refused == 0 {
				t.Errorf("%s: unparseable packet not refused", c.Name)
			}
			t.Logf("%s: refused %+d (dropped %+d), handled %d", c.Name, refused, after.Dropped()-before.Dropped(), handled)
		}
		r.stop(t)
	})
}

// BCT: none (§6.7, §11). A legacy unicast query (source port ≠ 5353) is
// exempt from the TTL-255 check, because tools such as
// `dig -p 5353 @224.0.0.251` multicast with TTL 1, but never from the
// on-link check: on-link it gets one unicast answer, off-link none.
func TestLegacyQueryTTLExemption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		t0 := time.Now()
		qry := query(0x4242, false, nil, q(mdns.SpecService, dns.TypePTR))
		b.inject(qry, "10.0.0.200:40000", 1)   // on-link, TTL 1
		b.inject(qry, "192.168.9.9:40000", 64) // off-link
		time.Sleep(time.Second)
		sent := b.sent(t, "a", t0)
		var unicast, multicast int
		for _, p := range sent {
			switch {
			case p.Packet.Dst.Port() == 40000 && p.Packet.Dst.Addr().String() == "10.0.0.200":
				unicast++
			case p.Packet.Dst.Addr().IsMulticast():
				multicast++ // the PTR is also multicast for rust-libp2p (see answer)
			default:
				t.Errorf("packet to %v", p.Packet.Dst)
			}
		}
		if unicast != 1 || multicast != 1 {
			t.Fatalf("%d unicast and %d multicast answers, want 1 and 1", unicast, multicast)
		}
		s := r.Stats()
		if s.AnswersLegacy != 1 || s.DroppedOffLink != 1 || s.DroppedTTL != 0 {
			t.Errorf("stats %+v", s)
		}
		r.stop(t)
	})
}

// BCT: none (§6, §6.7; rust-libp2p interop). A multicast PTR answer owed
// to a querier on another port (rust-libp2p, which reads only the answers
// to its own queries) that the one-second rate limit holds back, because
// the PTR was just multicast, goes out when the limit allows, instead of
// being dropped until the querier asks again (rust-libp2p: 2 s later).
func TestLegacyAnswerAfterRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		isPTRAnswer := func(p pkt) bool {
			return p.m.Response && p.Packet.Dst.Addr().IsMulticast() && hasRR(p.m.Answer, dns.TypePTR)
		}
		b.inject(query(0, false, nil, q(mdns.SpecService, dns.TypePTR)), "", 0) // from port 5353
		time.Sleep(200 * time.Millisecond)
		first := only(b.sent(t, "a", b.T0), isPTRAnswer)
		if len(first) == 0 {
			t.Fatal("no multicast answer to the first query")
		}
		last := first[len(first)-1].Time
		t1 := time.Now()
		b.inject(query(0x77, false, nil, q(mdns.SpecService, dns.TypePTR)), "10.0.0.200:40000", 1) // rust-libp2p's query
		time.Sleep(2 * time.Second)
		got := only(b.sent(t, "a", t1), isPTRAnswer)
		if len(got) != 1 {
			t.Fatalf("%d multicast PTR answers after the legacy query, want 1 (held by the rate limit, then sent)", len(got))
		}
		if at := got[0].Time.Sub(last); at < rateLimit || at > rateLimit+10*time.Millisecond {
			t.Errorf("sent %v after the previous multicast, want at the rate limit (%v)", at, rateLimit)
		}
		if !hasRR(got[0].m.Extra, dns.TypeTXT) {
			t.Error("the TXT is not in the additional section (rust-libp2p reads it there)")
		}
		r.stop(t)
	})
}

// BCT: none (§6, §8.3; rust-libp2p interop). A legacy query between two
// announcements (rust-libp2p started with us asks at 0, 1 and 3 s) is
// answered when the rate limit first allows, before the next
// announcement that falls due at the same instant (which moves a second
// later): rust-libp2p cannot read announcements (TXT in the answer
// section), and would otherwise wait for its next query.
func TestLegacyAnswerDuringAnnouncing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		r := b.start(b.Host("a"), Config{PeerName: testName})
		isAnn := func(p pkt) bool { return p.m.Response && p.v4() && !hasRR(p.m.Extra, dns.TypeTXT) }
		isAnswer := func(p pkt) bool {
			return p.m.Response && p.Packet.Dst == transport.GroupV4 && hasRR(p.m.Answer, dns.TypePTR) && hasRR(p.m.Extra, dns.TypeTXT)
		}
		time.Sleep(time.Second) // probed, announced once
		anns := only(b.sent(t, "a", b.T0), isAnn)
		if len(anns) != 1 {
			t.Fatalf("%d announcements in the first second, want 1", len(anns))
		}
		b.inject(query(0x77, false, nil, q(mdns.SpecService, dns.TypePTR)), "10.0.0.200:40000", 1)
		time.Sleep(10 * time.Second)
		got := only(b.sent(t, "a", b.T0), isAnswer)
		if len(got) != 1 || got[0].Time.Sub(anns[0].Time) != rateLimit {
			t.Fatalf("%d multicast answers, want 1 at %v after the first announcement", len(got), rateLimit)
		}
		anns = only(b.sent(t, "a", b.T0), isAnn)
		if len(anns) != DefaultAnnouncements || anns[1].Time.Sub(got[0].Time) < rateLimit {
			t.Errorf("%d announcements, the second %v after the answer; want %d, at least %v after", len(anns), anns[min(1, len(anns)-1)].Time.Sub(got[0].Time), DefaultAnnouncements, rateLimit)
		}
		r.stop(t)
	})
}

// fortyAddrs returns 40 long multiaddrs on 10.0.0.1 (reachable on the
// first segment).
func fortyAddrs(t testing.TB) []ma.Multiaddr {
	var ss []string
	for i := 0; i < 40; i++ {
		ss = append(ss, fmt.Sprintf("/ip4/10.0.0.1/udp/%d/quic-v1/webtransport/certhash/uEiAkH5a4DPGKUuOBjYw0CgwjvcJCJMD2K_1aluKR_tpevQ", 4000+i))
	}
	return maddrs(t, ss...)
}

// BCT: packet size. With 40 long multiaddrs on a 576-byte MTU interface,
// every packet sent in a full life cycle (probes, announcements, answers,
// goodbyes) fits the interface's MaxPayload, parses, and every response is
// self-contained: the decoder finds our peer in it, and the union of the
// addresses of a round is the whole set.
func TestPacketSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		a := b.Host("a", memnet.IfaceConfig{MTU: 576})
		addrs := fortyAddrs(t)
		r := b.start(a, Config{PeerName: testName, Addrs: addrs})
		announced()
		time.Sleep(2 * time.Second)
		t0 := time.Now()
		b.inject(ptrQuery(), "", 0)
		time.Sleep(time.Second)
		r.stop(t)

		ifc := transport.Interface{MTU: 576}
		dec := mdns.NewDecoder(mdns.SpecService, 0)
		ps := b.sent(t, "a", b.T0)
		for _, p := range ps {
			if p.Oversize || len(p.Packet.Data) > ifc.MaxPayload(p.v4()) {
				t.Fatalf("%d-byte packet over %d", len(p.Packet.Data), ifc.MaxPayload(p.v4()))
			}
			if !p.m.Response {
				continue
			}
			res := dec.Decode(p.m, false)
			if len(res.Candidates) != 1 || res.Candidates[0].ID != r.cfg.PeerID || len(res.Candidates[0].Addrs) == 0 || res.Candidates[0].Port == 0 || len(res.Candidates[0].IPs) == 0 {
				t.Fatalf("packet not self-contained: %+v", res)
			}
		}
		round := map[string]bool{}
		ans := only(b.sent(t, "a", t0), func(p pkt) bool { return p.v4() && p.m.Response })
		if len(ans) < 2 {
			t.Fatalf("answer in %d packets, want a split", len(ans))
		}
		for _, p := range ans {
			for _, a := range dec.Decode(p.m, false).Candidates[0].Addrs {
				round[a.String()] = true
			}
		}
		if len(round) != 40 {
			t.Errorf("answer carried %d of 40 addresses", len(round))
		}
		if r.Stats().SendErrors != 0 {
			t.Errorf("send errors %d", r.Stats().SendErrors)
		}
	})
}
