package responder

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/malformed"
	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// Fuzz mode byte of FuzzResponderPacket: how the fuzzed datagram is
// delivered and what the responder looks like.
const (
	fzPortMask  = 0x03 // source port: 5353, 5353, 40000 (legacy), 1024 (legacy)
	fzTTLOther  = 0x04 // IP TTL other than 255 …
	fzTTLOne    = 0x08 // … 1 (as dig and rust-libp2p send) instead of 64
	fzQU        = 0x10 // set the unicast-response bit of every question
	fzV6        = 0x20 // IPv6 source and group (link-local on-link source)
	fzUnicast   = 0x40 // sent to the responder's unicast address, not the group
	fzBigRecord = 0x80 // 576-byte MTU and 40 long multiaddrs
)

// fzSeed is one seed of the responder and browser fuzz targets.
type fzSeed struct {
	data []byte
	mode uint8
}

// fzSeeds returns every mDNS datagram of the real captures (with a mode
// that reproduces its port, TTL and family) and every malformed case.
func fzSeeds(tb testing.TB) []fzSeed {
	tb.Helper()
	caps, err := pcapread.ReadDir("../testdata/pcap")
	if err != nil {
		tb.Fatal(err)
	}
	var out []fzSeed
	for _, c := range caps {
		for _, d := range c.Datagrams {
			out = append(out, fzSeed{d.Packet.Data, d.Packet.Delivery().Mode(2, fzTTLOther, fzTTLOne, fzV6, fzUnicast)})
		}
	}
	for _, c := range malformed.Cases() {
		out = append(out, fzSeed{c.Data, 0})
	}
	return out
}

// fzHandmade returns queries, probes and responses about the fuzzed
// responder's own names (testName), which the captures cannot contain.
func fzHandmade(id peer.ID) []fzSeed {
	inst := mdns.InstanceName(testName, mdns.SpecService)
	ptr := &dns.PTR{Hdr: dns.RR_Header{Name: mdns.SpecService, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4500}, Ptr: inst}
	srv := &dns.SRV{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeSRV, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: 120}, Target: "other.local.", Port: 9}
	txt := &dns.TXT{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeTXT, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: 4500},
		Txt: []string{"dnsaddr=/ip4/10.0.0.200/tcp/1/p2p/" + id.String()}}
	probe := new(dns.Msg)
	probe.Question = []dns.Question{{Name: inst, Qtype: dns.TypeANY, Qclass: dns.ClassINET | mdns.CacheFlushBit}}
	probe.Ns = []dns.RR{srv, txt}
	pb, err := probe.Pack()
	if err != nil {
		panic(err)
	}
	return []fzSeed{
		{ptrQuery(), 0},
		{query(0, false, nil, qu(mdns.SpecService, dns.TypePTR)), 0},
		{query(7, false, nil, q(mdns.SpecService, dns.TypePTR)), 2},
		{ptrQuery(), fzV6 | fzQU},
		{ptrQuery(), fzBigRecord},
		{ptrQuery(), fzBigRecord | fzV6 | 2},
		{ptrQuery(), fzUnicast},
		{query(0, true, []dns.RR{ptr}, q(mdns.SpecService, dns.TypePTR)), 0},
		{query(0, false, []dns.RR{ptr}, q(mdns.SpecService, dns.TypePTR)), 0},
		{query(0, false, nil, q(mdns.MetaQuery, dns.TypePTR), q(inst, dns.TypeANY)), 0},
		{query(0, false, nil, q(inst, dns.TypeSRV), q(inst, dns.TypeTXT)), fzBigRecord},
		{pb, 0},
		{response(ptr, srv, txt), 0},
		{response(srv), 0},
	}
}

// fzSetQU returns a copy of data with the unicast-response bit set in the
// class of every question it can walk to (the rest is left untouched).
func fzSetQU(data []byte) []byte {
	out := append([]byte(nil), data...)
	if len(out) < 12 {
		return out
	}
	off := 12
	for range binary.BigEndian.Uint16(out[4:6]) {
	name:
		for {
			if off >= len(out) {
				return out
			}
			l := int(out[off])
			switch {
			case l == 0:
				off++
				break name
			case l&0xC0 == 0xC0:
				off += 2
				break name
			case l&0xC0 != 0:
				return out
			}
			off += 1 + l
		}
		if off+4 > len(out) {
			return out
		}
		out[off+2] |= 0x80
		off += 4
	}
	return out
}

// fzDelivery is how a fuzzed datagram is put on the LAN.
type fzDelivery struct {
	port    uint16
	ttl     int
	v6      bool
	unicast bool
}

func fzDeliveryOf(mode uint8) fzDelivery {
	d := fzDelivery{port: [...]uint16{mdns.Port, mdns.Port, 40000, 1024}[mode&fzPortMask], ttl: 255}
	if mode&fzTTLOther != 0 {
		d.ttl = 64
		if mode&fzTTLOne != 0 {
			d.ttl = 1
		}
	}
	d.v6, d.unicast = mode&fzV6 != 0, mode&fzUnicast != 0
	return d
}

// packet returns the datagram from src to the group (or to self).
func (d fzDelivery) packet(data []byte, src netip.Addr, self transport.Interface) transport.Packet {
	dst := transport.GroupV4
	if d.v6 {
		dst = transport.GroupV6
	}
	if d.unicast {
		if as := self.Addrs(!d.v6); len(as) > 0 {
			dst = netip.AddrPortFrom(as[0], mdns.Port)
		}
	}
	return transport.Packet{Data: data, Src: netip.AddrPortFrom(src, d.port), Dst: dst, TTL: d.ttl}
}

var (
	fzOnce sync.Once
	fzID   peer.ID
	fzBig  []ma.Multiaddr
)

// FuzzResponderPacket: one datagram from an on-link host, delivered as
// the mode byte says (port 5353 or legacy, QU or not, TTL 255 or other,
// IPv4 or IPv6, group or unicast), to a responder that has finished
// announcing on the in-memory LAN; the same datagram is first sent from an
// off-link source. Each iteration is a fresh LAN and responder in its own
// synctest bubble (virtual time). Invariants:
//   - no panic; Run returns nil after Close;
//   - the off-link copy makes the responder send nothing at all (§11);
//   - no packet is ever sent unicast to an address other than the on-link
//     sender's (never to the off-link one);
//   - every packet sent in the whole life cycle (probes, announcements,
//     answers, goodbyes) fits Interface.MaxPayload and parses with
//     mdns.Parse; no send or packing error is counted.
func FuzzResponderPacket(f *testing.F) {
	fzOnce.Do(func() {
		fzID = testkit.ID(f, 1)
		fzBig = fortyAddrs(f)
	})
	for _, s := range fzSeeds(f) {
		f.Add(s.data, s.mode)
	}
	for _, s := range fzHandmade(fzID) {
		f.Add(s.data, s.mode)
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		synctest.Test(t, func(t *testing.T) { fuzzResponderOnce(t, data, mode) })
	})
}

var (
	fzOffLinkV4 = netip.MustParseAddr("192.0.2.77")
	fzOffLinkV6 = netip.MustParseAddr("2001:db8:ffff::77")
	fzOnLinkV4  = netip.MustParseAddr("10.0.0.200")
	fzOnLinkV6  = netip.MustParseAddr("fe80::1:c8")
)

func fuzzResponderOnce(t *testing.T, data []byte, mode uint8) {
	d := fzDeliveryOf(mode)
	if mode&fzQU != 0 {
		data = fzSetQU(data)
	}
	b := newBed(t)
	ifc := memnet.IfaceConfig{}
	addrs := maddrs(t, "/ip4/10.0.0.1/tcp/4001", "/ip6/fe80::1:1/udp/4001/quic-v1")
	if mode&fzBigRecord != 0 {
		ifc.MTU, addrs = 576, fzBig[:12]
	}
	h := b.Host("a", ifc)
	conn := b.Listen(h)
	ifaces := conn.Interfaces()
	if len(ifaces) != 1 {
		t.Fatalf("%d interfaces", len(ifaces))
	}
	self := ifaces[0]
	r := b.start(h, Config{Conn: conn, PeerID: fzID, PeerName: testName, Addrs: addrs})
	announced()

	onLink, offLink := fzOnLinkV4, fzOffLinkV4
	if d.v6 {
		onLink, offLink = fzOnLinkV6, fzOffLinkV6
	}
	if !self.OnLink(onLink) || self.OnLink(offLink) {
		t.Fatalf("test set-up: %v must be on-link and %v off-link of %v", onLink, offLink, self.Prefixes)
	}
	inject := func(src netip.Addr) {
		if err := b.LAN.Inject(memnet.DefaultSegment, nil, d.packet(data, src, self)); err != nil {
			t.Fatal(err)
		}
	}

	// §11: a datagram from off the link is never acted upon.
	tOff := time.Now()
	inject(offLink)
	time.Sleep(time.Second)
	if n := len(b.Cap.Sent("a", tOff)); n != 0 {
		t.Errorf("%d packets sent after an off-link datagram", n)
	}

	inject(onLink)
	time.Sleep(time.Second)
	r.stop(t)

	onLinkAP := netip.AddrPortFrom(onLink, d.port)
	for _, rec := range b.Cap.Sent("a", time.Time{}) {
		p := rec.Packet
		if !p.Dst.Addr().IsMulticast() && p.Dst != onLinkAP {
			t.Errorf("packet sent unicast to %v (on-link sender %v, off-link %v)", p.Dst, onLinkAP, offLink)
		}
		if max := self.MaxPayload(p.IsV4()); rec.Oversize || len(p.Data) > max {
			t.Errorf("%d-byte packet to %v over MaxPayload %d", len(p.Data), p.Dst, max)
		}
		if _, err := mdns.Parse(p.Data); err != nil {
			t.Errorf("unparseable %d-byte packet to %v: %v", len(p.Data), p.Dst, err)
		}
	}
	if s := r.Stats(); s.SendErrors != 0 {
		t.Errorf("send errors: %+v", s)
	}
}

// TestFuzzSetQU: the QU rewrite of FuzzResponderPacket sets the bit of
// every question of a well-formed query and survives truncated input.
func TestFuzzSetQU(t *testing.T) {
	data := query(0, false, nil, q(mdns.SpecService, dns.TypePTR), q(mdns.MetaQuery, dns.TypePTR))
	m, err := mdns.Parse(fzSetQU(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, qq := range m.Question {
		if !mdns.IsQU(qq) {
			t.Errorf("%v is not QU", qq)
		}
	}
	for i := range data {
		fzSetQU(data[:i])
	}
}
