package responder

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/miekg/dns"
)

// TestReplayCaptures replays every real capture to a responder that has
// finished announcing on the in-memory LAN, on the capture's own clock:
// under testing/synctest each datagram is injected at its offset from the
// capture's first datagram (virtual time, so long gaps cost nothing).
//
// The capture's addresses are not on the memnet segment, so each distinct
// capture source address is mapped to a distinct on-link address of the
// bed's segment (IPv4: 10.0.0.(100+k); IPv6: fe80::1:(100+k), the bed host
// having the automatic link-local fe80::1:1/64), keeping the source port
// (5353 or ephemeral = legacy querier) and the IP TTL / hop limit of the
// capture. Every datagram goes to the mDNS group of its family (IPv4 →
// GroupV4, IPv6 → GroupV6), whatever its destination in the capture.
//
// Invariants per capture:
//   - no panic; Run returns nil after Close;
//   - every packet the responder sent parses, fits the interface's
//     MaxPayload, and every response decodes to exactly our peer ID with
//     exactly the addresses we announce;
//   - no rename (the captured peers use other names), no send error;
//   - unicast is only ever sent to one of the injected sources;
//   - Received ≥ number injected, and what is beyond that is at most the
//     responder's own multicast packets looped back.
func TestReplayCaptures(t *testing.T) {
	caps, err := pcapread.ReadDir("../testdata/pcap")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		t.Run(c.Name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { replayCapture(t, c.Datagrams) })
		})
	}
}

func replayCapture(t *testing.T, dgs []pcapread.Datagram) {
	b := newBed(t)
	h := b.Host("a")
	conn := b.Listen(h)
	ifaces := conn.Interfaces()
	if len(ifaces) != 1 {
		t.Fatalf("%d interfaces", len(ifaces))
	}
	self := ifaces[0]
	if len(self.Addrs(false)) == 0 {
		t.Fatalf("test set-up: bed host has no IPv6 address: %v", self.Prefixes)
	}
	id := testkit.ID(t, 1)
	addrs := maddrs(t, "/ip4/10.0.0.1/tcp/4001", "/ip6/fe80::1:1/udp/4001/quic-v1")
	r := b.start(h, Config{Conn: conn, PeerID: id, PeerName: testName, Addrs: addrs})
	announced()

	// Map each distinct capture source address to an on-link address.
	mapped := map[netip.Addr]netip.Addr{}
	onLink := func(src netip.Addr) netip.Addr {
		src = src.Unmap()
		if a, ok := mapped[src]; ok {
			return a
		}
		k := len(mapped)
		if k > 150 {
			t.Fatalf("too many distinct sources (%d)", k)
		}
		var a netip.Addr
		if src.Is4() {
			a = netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + k)})
		} else {
			a = netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 13: 1, 15: byte(100 + k)})
		}
		if !self.OnLink(a) {
			t.Fatalf("test set-up: %v is not on-link of %v", a, self.Prefixes)
		}
		mapped[src] = a
		return a
	}

	sources := map[netip.AddrPort]bool{}
	var injected, v4n, v6n int
	tStart := time.Now()
	var first time.Time
	for i, d := range dgs {
		if i == 0 {
			first = d.Time
		}
		if off := d.Time.Sub(first); off > 0 {
			if wait := time.Until(tStart.Add(off)); wait > 0 {
				time.Sleep(wait)
			}
		}
		v4 := d.Packet.Src.Addr().Unmap().Is4()
		dst := transport.GroupV4
		if v4 {
			v4n++
		} else {
			v6n++
			dst = transport.GroupV6
		}
		src := netip.AddrPortFrom(onLink(d.Packet.Src.Addr()), d.Packet.Src.Port())
		ttl := d.Packet.TTL
		if ttl < 0 {
			ttl = 0 // unknown: memnet's default (255)
		}
		p := transport.Packet{Data: d.Packet.Data, Src: src, Dst: dst, TTL: ttl}
		if err := b.LAN.Inject(memnet.DefaultSegment, nil, p); err != nil {
			t.Fatalf("inject frame %d: %v", d.Frame, err)
		}
		sources[src] = true
		injected++
		// Let the responder take the datagram before the next one of the
		// same instant, so bursts are not lost to queue limits.
		synctest.Wait()
	}
	time.Sleep(2 * time.Second) // let delayed answers go out
	synctest.Wait()
	s := r.Stats()
	// Multicast loopback is immediate on memnet, so every multicast packet
	// we sent so far has been read back: Received is exactly accountable.
	loopedBack := 0
	for _, rec := range b.Cap.Sent("a", time.Time{}) {
		if rec.Packet.Dst.Addr().IsMulticast() {
			loopedBack++
		}
	}
	r.stop(t)

	dec := mdns.NewDecoder(mdns.SpecService, 0)
	want := make([]string, len(addrs))
	for i, a := range addrs {
		want[i] = a.String()
	}
	slices.Sort(want)
	var sentMcast, sentUcast, metaAnswers int
	for _, p := range b.sent(t, "a", b.T0) {
		pk := p.Packet
		if pk.Dst.Addr().IsMulticast() {
			sentMcast++
		} else {
			sentUcast++
			if !sources[pk.Dst] {
				t.Errorf("packet sent unicast to %v, not an injected source %v", pk.Dst, sources)
			}
		}
		if max := self.MaxPayload(pk.IsV4()); p.Oversize || len(pk.Data) > max {
			t.Errorf("%d-byte packet to %v over MaxPayload %d", len(pk.Data), pk.Dst, max)
		}
		if !p.m.Response {
			continue
		}
		res := dec.Decode(p.m, false)
		if len(res.Candidates) == 0 && replayMetaOnly(p.m) {
			metaAnswers++ // DNS-SD service enumeration (RFC 6763 §9): no peer in it
			continue
		}
		if len(res.Candidates) != 1 || res.Candidates[0].ID != id {
			t.Errorf("response to %v at %v does not decode to exactly our peer: %+v\n%v", pk.Dst, p.Time.Sub(b.T0), res, p.m)
			continue
		}
		got := make([]string, 0, len(res.Candidates[0].Addrs))
		for _, a := range res.Candidates[0].Addrs {
			got = append(got, a.String())
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("response to %v carries addresses %v, want %v", pk.Dst, got, want)
		}
	}

	if s.Renames != 0 {
		t.Errorf("renamed %d times (conflicts %d)", s.Renames, s.Conflicts)
	}
	if s.SendErrors != 0 {
		t.Errorf("send errors: %d", s.SendErrors)
	}
	if s.Received < uint64(injected) {
		t.Errorf("Received %d < %d injected", s.Received, injected)
	}
	if s.Received != uint64(injected+loopedBack) {
		t.Errorf("Received %d, want %d injected + %d own multicast looped back", s.Received, injected, loopedBack)
	}
	t.Logf("injected %d (v4 %d, v6 %d) from %d sources over %v; received %d (= injected + %d own looped back); sent %d multicast + %d unicast packets (%d service-enumeration-only responses)",
		injected, v4n, v6n, len(sources), time.Since(tStart).Round(time.Millisecond), s.Received, loopedBack, sentMcast, sentUcast, metaAnswers)
	t.Logf("answers multicast/unicast/legacy %d/%d/%d; suppressed known/duplicate/rate %d/%d/%d; dropped ttl/offlink/malformed/irrelevant/queuefull %d/%d/%d/%d/%d; conflicts %d renames %d",
		s.AnswersMulticast, s.AnswersUnicast, s.AnswersLegacy,
		s.SuppressedKnown, s.SuppressedDuplicate, s.SuppressedRate,
		s.DroppedTTL, s.DroppedOffLink, s.DroppedMalformed, s.Ignored, s.DroppedQueueFull,
		s.Conflicts, s.Renames)
}

// replayMetaOnly reports whether every record of a response is the DNS-SD
// service enumeration PTR (_services._dns-sd._udp.local. → our service).
func replayMetaOnly(m *dns.Msg) bool {
	n := 0
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			ptr, ok := rr.(*dns.PTR)
			if !ok || !strings.EqualFold(ptr.Hdr.Name, mdns.MetaQuery) || !strings.EqualFold(ptr.Ptr, mdns.SpecService) {
				return false
			}
			n++
		}
	}
	return n > 0
}
