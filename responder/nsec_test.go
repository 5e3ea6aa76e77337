package responder

import (
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/miekg/dns"
)

var (
	nsecHost = mdns.HostName(testName)
	nsecInst = mdns.InstanceName(testName, mdns.SpecService)
)

// nsecsIn returns the NSEC records of a section.
func nsecsIn(sec []dns.RR) []*dns.NSEC {
	var out []*dns.NSEC
	for _, rr := range sec {
		if n, ok := rr.(*dns.NSEC); ok {
			out = append(out, n)
		}
	}
	return out
}

// checkNSEC fails unless sec holds exactly one NSEC, in the restricted
// form of RFC 6762 §6.1 for owner, listing types, unique, with ttl.
func checkNSEC(t *testing.T, what string, sec []dns.RR, owner string, ttl uint32, types ...uint16) {
	t.Helper()
	ns := nsecsIn(sec)
	if len(ns) != 1 {
		t.Errorf("%s: %d NSEC records in %v", what, len(ns), sec)
		return
	}
	n := ns[0]
	if !mdns.EqualNames(n.Hdr.Name, owner) || !mdns.EqualNames(n.NextDomain, owner) || !mdns.IsCacheFlush(n) ||
		mdns.Class(n) != dns.ClassINET || n.Hdr.Ttl != ttl || !slices.Equal(n.TypeBitMap, types) {
		t.Errorf("%s: %v; want %s, next itself, cache-flush, TTL %d, types %v", what, n, owner, ttl, types)
	}
}

// ask waits out the 1 s rate limit, injects a query on the first segment
// (IPv4, from 10.0.0.200:5353 unless src is set) and returns a's IPv4
// responses within 200 ms.
func (b bed) ask(t *testing.T, src string, known []dns.RR, qs ...dns.Question) []pkt {
	t.Helper()
	time.Sleep(1500 * time.Millisecond)
	t0 := time.Now()
	b.inject(query(0, false, known, qs...), src, 0)
	time.Sleep(200 * time.Millisecond)
	return answersAfter(t, b, t0)
}

// one returns the only response of ps, failing unless there is one.
func one(t *testing.T, what string, ps []pkt) *dns.Msg {
	t.Helper()
	if len(ps) != 1 {
		t.Fatalf("%s: %d responses, want 1", what, len(ps))
	}
	return ps[0].m
}

// v4Responder starts a responder named testName on host "a", which has
// one IPv4-only interface on the default segment.
func v4Responder(t *testing.T) (bed, *memnet.Host, *running) {
	t.Helper()
	b := newBed(t)
	a := b.Host("a", memnet.IfaceConfig{Family: memnet.FamilyV4})
	return b, a, b.start(a, Config{PeerName: testName})
}

// BCT: NSEC / negative responses (RFC 6762 §6.1, §6.2), IPv4-only
// interface. A query for a type our host or instance name lacks is
// answered at once with the NSEC of that name (restricted form, next name
// itself, cache-flush, TTL 120 s, the types the name has); an answer
// carrying address records carries the host name's NSEC (A only) as
// additional; names we do not own exclusively (service, meta-query) get
// no NSEC; probes, announcements and goodbyes carry none.
func TestNSECIPv4Only(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _, r := v4Responder(t)
		announced()
		tAnn := time.Now()
		ps := b.ask(t, "", nil, q(nsecHost, dns.TypeAAAA))
		m := one(t, "AAAA", ps)
		if len(m.Answer) != 1 || len(m.Extra) != 0 {
			t.Errorf("AAAA: answers %v, additional %v", m.Answer, m.Extra)
		}
		checkNSEC(t, "AAAA", m.Answer, nsecHost, 120, dns.TypeA)
		m = one(t, "A", b.ask(t, "", nil, q(nsecHost, dns.TypeA)))
		if !hasRR(m.Answer, dns.TypeA) || hasRR(m.Answer, dns.TypeNSEC) || hasRR(m.Extra, dns.TypeAAAA) {
			t.Errorf("A: answers %v, additional %v", m.Answer, m.Extra)
		}
		checkNSEC(t, "A (additional)", m.Extra, nsecHost, 120, dns.TypeA)
		m = one(t, "ANY", b.ask(t, "", nil, q(nsecHost, dns.TypeANY)))
		checkNSEC(t, "ANY (additional)", m.Extra, nsecHost, 120, dns.TypeA)
		m = one(t, "PTR", b.ask(t, "", nil, q(mdns.SpecService, dns.TypePTR)))
		if !hasRR(m.Extra, dns.TypeSRV) || !hasRR(m.Extra, dns.TypeTXT) || !hasRR(m.Extra, dns.TypeA) {
			t.Errorf("PTR: additional %v", m.Extra)
		}
		checkNSEC(t, "PTR (additional)", m.Extra, nsecHost, 120, dns.TypeA)
		m = one(t, "HINFO", b.ask(t, "", nil, q(nsecHost, dns.TypeHINFO)))
		checkNSEC(t, "HINFO", m.Answer, nsecHost, 120, dns.TypeA)
		m = one(t, "instance AAAA", b.ask(t, "", nil, q(nsecInst, dns.TypeAAAA)))
		checkNSEC(t, "instance AAAA", m.Answer, nsecInst, 120, dns.TypeTXT, dns.TypeSRV)
		m = one(t, "instance NSEC", b.ask(t, "", nil, q(nsecInst, dns.TypeNSEC)))
		checkNSEC(t, "instance NSEC", m.Answer, nsecInst, 120, dns.TypeTXT, dns.TypeSRV)
		for _, qq := range []dns.Question{q(mdns.SpecService, dns.TypeTXT), q(mdns.MetaQuery, dns.TypeSRV), q("other.local.", dns.TypeAAAA)} {
			if ps := b.ask(t, "", nil, qq); len(ps) != 0 {
				t.Errorf("%v (not exclusively ours): %v", qq, ps[0].m)
			}
		}
		r.stop(t)
		for _, p := range b.sent(t, "a", b.T0) {
			if (p.Time.Before(tAnn) || p.ttl0()) && len(nsecsIn(append(append(p.m.Answer, p.m.Ns...), p.m.Extra...))) > 0 {
				t.Errorf("NSEC in a probe, announcement or goodbye: %v", p.m)
			}
		}
	})
}

// BCT: NSEC / negative responses, per interface (§6.1, §6.2, §15). The
// host name's NSEC lists the address types of the interface answered on: A
// only on an IPv4-only segment, A and AAAA on a dual-stack one, where
// address answers carry no NSEC (both families exist).
func TestNSECPerInterface(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBedOn(t, memnet.Config{Segments: []memnet.SegmentConfig{{Name: "lan"}, {Name: "wifi"}}})
		a := b.Host("a", memnet.IfaceConfig{Segment: "lan", Family: memnet.FamilyV4}, memnet.IfaceConfig{Segment: "wifi"})
		r := b.start(a, Config{PeerName: testName})
		announced()
		askOn := func(seg, src string, qq dns.Question) *dns.Msg {
			t.Helper()
			time.Sleep(1500 * time.Millisecond)
			t0 := time.Now()
			p := transport.Packet{Data: query(0, false, nil, qq), Src: netip.MustParseAddrPort(src), Dst: transport.GroupV4}
			if err := b.LAN.Inject(seg, nil, p); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			return one(t, seg+" "+dns.TypeToString[qq.Qtype], only(b.sent(t, "a", t0), func(p pkt) bool { return p.m.Response }))
		}
		m := askOn("lan", "10.0.0.200:5353", q(nsecHost, dns.TypeAAAA))
		checkNSEC(t, "lan AAAA", m.Answer, nsecHost, 120, dns.TypeA)
		m = askOn("wifi", "10.1.0.200:5353", q(nsecHost, dns.TypeAAAA))
		if !hasRR(m.Answer, dns.TypeAAAA) || !hasRR(m.Extra, dns.TypeA) || len(nsecsIn(append(m.Answer, m.Extra...))) != 0 {
			t.Errorf("wifi AAAA: answers %v, additional %v", m.Answer, m.Extra)
		}
		m = askOn("wifi", "10.1.0.200:5353", q(nsecHost, dns.TypeTXT))
		checkNSEC(t, "wifi TXT", m.Answer, nsecHost, 120, dns.TypeA, dns.TypeAAAA)
		r.stop(t)
	})
}

// BCT: NSEC / negative responses over IPv6 on an IPv6-only interface: an A
// query gets the NSEC listing AAAA only, over IPv6.
func TestNSECIPv6Only(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		r := b.start(b.Host("a", memnet.IfaceConfig{Family: memnet.FamilyV6}), Config{PeerName: testName})
		cb := b.Listen(b.Host("b", memnet.IfaceConfig{Family: memnet.FamilyV6}))
		announced()
		t0 := time.Now()
		if err := cb.WritePacket(&transport.Packet{Data: query(0, false, nil, q(nsecHost, dns.TypeA)), Dst: transport.GroupV6, IfIndex: 1}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		m := one(t, "A over IPv6", only(b.sent(t, "a", t0), func(p pkt) bool { return p.m.Response && !p.v4() }))
		checkNSEC(t, "A over IPv6", m.Answer, nsecHost, 120, dns.TypeAAAA)
		r.stop(t)
	})
}

// BCT: NSEC / negative responses under the rules of every unique answer:
// multicast at once, at most once a second (§6), left out when the
// querier lists it with at least half its TTL (§7.1, also as additional),
// by unicast to a QU question when multicast within a quarter TTL (§5.4),
// and to a legacy querier with its ID and question, TTL ≤ 10 s and no
// cache-flush bit (§6.7, §10.2).
func TestNSECAnswerRules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _, r := v4Responder(t)
		hb := b.Host("b", memnet.IfaceConfig{Family: memnet.FamilyV4})
		cb := b.Listen(hb)
		legacy := b.Listen(hb, memnet.ListenOptions{Port: 40000})
		announced()
		aaaa := q(nsecHost, dns.TypeAAAA)
		one(t, "AAAA", b.ask(t, "", nil, aaaa))
		time.Sleep(300 * time.Millisecond)
		t0 := time.Now()
		b.inject(query(0, false, nil, aaaa), "10.0.0.201:5353", 0)
		time.Sleep(200 * time.Millisecond)
		if ps := answersAfter(t, b, t0); len(ps) != 0 || r.Stats().SuppressedRate != 1 {
			t.Errorf("NSEC repeated within 1 s: %d responses, SuppressedRate %d", len(ps), r.Stats().SuppressedRate)
		}
		mine, _ := mdns.NSEC(nsecHost, 120, dns.TypeA)
		known := func(ttl uint32, types ...uint16) []dns.RR {
			n, _ := mdns.NSEC(nsecHost, ttl, append(types, dns.TypeA)...)
			return []dns.RR{n}
		}
		if ps := b.ask(t, "", known(60), aaaa); len(ps) != 0 || r.Stats().SuppressedKnown != 1 {
			t.Errorf("known NSEC: %d responses, SuppressedKnown %d", len(ps), r.Stats().SuppressedKnown)
		}
		checkNSEC(t, "known with < half TTL", one(t, "known 59 s", b.ask(t, "", known(59), aaaa)).Answer, nsecHost, 120, dns.TypeA)
		checkNSEC(t, "known other bitmap", one(t, "other", b.ask(t, "", known(120, dns.TypeAAAA), aaaa)).Answer, nsecHost, 120, dns.TypeA)
		if m := one(t, "A, NSEC known", b.ask(t, "", []dns.RR{mine}, q(nsecHost, dns.TypeA))); !hasRR(m.Answer, dns.TypeA) || len(nsecsIn(m.Extra)) != 0 {
			t.Errorf("A with the NSEC known: additional %v", m.Extra)
		}
		cb.Drain()
		send := func(c interface{ WritePacket(*transport.Packet) error }, data []byte) {
			if err := c.WritePacket(&transport.Packet{Data: data, Dst: transport.GroupV4, IfIndex: 1}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		send(cb, query(0, false, nil, qu(nsecHost, dns.TypeAAAA))) // multicast 1.6 s ago
		if m, p := readResponse(t, cb); m == nil || p.Dst.Port() != mdns.Port {
			t.Errorf("QU: no unicast NSEC")
		} else {
			checkNSEC(t, "QU", m.Answer, nsecHost, 120, dns.TypeA)
		}
		send(legacy, query(0x4321, false, nil, aaaa))
		m, _ := readResponse(t, legacy)
		if m == nil || m.Id != 0x4321 || len(m.Question) != 1 || m.Question[0] != aaaa {
			t.Fatalf("legacy: %v", m)
		}
		if ns := nsecsIn(m.Answer); len(ns) != 1 || ns[0].Hdr.Ttl != 10 || mdns.IsCacheFlush(ns[0]) || !slices.Equal(ns[0].TypeBitMap, []uint16{dns.TypeA}) {
			t.Errorf("legacy: answers %v", m.Answer)
		}
		r.stop(t)
	})
}

// BCT: NSEC / negative responses and probing (§6.1, §8.1, §9). Before
// probing has verified our names nothing is denied; our own NSEC heard
// back while probing again (an address was added) is no conflict, while
// another host's NSEC for our host name is one.
func TestNSECProbing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, a, r := v4Responder(t)
		time.Sleep(300 * time.Millisecond) // probing
		b.inject(query(0, false, nil, q(nsecHost, dns.TypeAAAA)), "", 0)
		time.Sleep(200 * time.Millisecond)
		if ps := answersAfter(t, b, b.T0); len(ps) != 0 {
			t.Fatalf("answered while probing: %v", ps[0].m)
		}
		announced()
		mine := nsecsIn(one(t, "AAAA", b.ask(t, "", nil, q(nsecHost, dns.TypeAAAA))).Answer)
		if err := a.Iface("eth0").AddPrefix(netip.MustParsePrefix("10.0.0.77/16")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // probing again
		b.inject(response(mine[0]), "", 0)
		time.Sleep(time.Second)
		if s := r.Stats(); s.Conflicts != 0 || r.PeerName() != testName {
			t.Fatalf("own NSEC taken for a conflict: %+v", s)
		}
		announced()
		if err := a.Iface("eth0").AddPrefix(netip.MustParsePrefix("10.0.0.78/16")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		theirs, _ := mdns.NSEC(nsecHost, 120, dns.TypeHINFO)
		b.inject(response(theirs), "", 0)
		time.Sleep(time.Second)
		if r.Stats().Conflicts != 1 || r.PeerName() == testName {
			t.Errorf("another host's NSEC for our name while probing: %+v", r.Stats())
		}
		r.stop(t)
	})
}

// BCT: NSEC / negative responses after an address change (§6.1, §8.4,
// §10.2). Once our host NSEC was multicast on an interface, announcements
// there carry the current one, so that an IPv6 address gained replaces the
// cached NSEC that denied AAAA; where none was ever sent, announcements
// carry no NSEC.
func TestNSECFamilyGained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, a, r := v4Responder(t)
		announced()
		checkNSEC(t, "AAAA", one(t, "AAAA", b.ask(t, "", nil, q(nsecHost, dns.TypeAAAA))).Answer, nsecHost, 120, dns.TypeA)
		t0 := time.Now()
		if err := a.Iface("eth0").AddPrefix(netip.MustParsePrefix("2001:db8::1/64")); err != nil {
			t.Fatal(err)
		}
		announced()
		anns := only(b.sent(t, "a", t0), func(p pkt) bool { return p.m.Response && p.v4() })
		if len(anns) < 2 {
			t.Fatalf("%d announcements after the IPv6 address was added", len(anns))
		}
		for _, p := range anns {
			if !hasRR(p.m.Answer, dns.TypeAAAA) {
				t.Errorf("announcement without AAAA: %v", p.m)
			}
			checkNSEC(t, "announcement", p.m.Extra, nsecHost, 120, dns.TypeA, dns.TypeAAAA)
		}
		r.stop(t)
	})
}
