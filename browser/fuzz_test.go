package browser

import (
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/malformed"
	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// Bounds of the fuzzed browser: small, so that one packet and its
// mutations can fill them.
const (
	fzMaxPeers   = 8
	fzMaxRecords = 8
	fzMaxAddrs   = 4
)

// Fuzz mode byte of FuzzBrowserPacket: how the datagrams are delivered.
const (
	fzEphemeral = 0x01 // source port 40000 (rust-libp2p) instead of 5353
	fzTTLOther  = 0x02 // IP TTL other than 255 …
	fzTTLOne    = 0x04 // … 1 (rust-libp2p's) instead of 64
	fzV6        = 0x08 // IPv6 link-local source, IPv6 group
	fzNoMutants = 0x10 // inject the packet alone (twice), no mutations
)

var (
	fzOnLinkV4  = netip.MustParseAddr("10.0.0.9")
	fzOnLinkV6  = netip.MustParseAddr("fe80::9")
	fzOffLinkV4 = netip.MustParseAddr("192.0.2.77")
	fzOffLinkV6 = netip.MustParseAddr("2001:db8:ffff::77")
)

// fzSeeds adds every mDNS datagram of the real captures (with the mode
// that reproduces its source port, TTL and family) and every malformed
// case.
func fzSeeds(f *testing.F) {
	caps, err := pcapread.ReadDir("../testdata/pcap")
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range caps {
		for _, d := range c.Datagrams {
			f.Add(d.Packet.Data, d.Packet.Delivery().Mode(fzEphemeral, fzTTLOther, fzTTLOne, fzV6, 0))
		}
	}
	for _, c := range malformed.Cases() {
		f.Add(c.Data, uint8(0))
	}
}

// fzMutants returns the datagrams injected for one fuzzed packet: the
// packet, variants in which every instance of the service is renamed
// (new records for the same peers: they fill the cache), a goodbye
// variant (every TTL 0), a variant with the cache-flush bits toggled, a
// one-byte corruption, and the packet again.
func fzMutants(data []byte, mode uint8) [][]byte {
	out := [][]byte{data}
	if mode&fzNoMutants != 0 {
		return append(out, data)
	}
	if m, err := mdns.Parse(data); err == nil {
		targets := map[string]bool{}
		for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range sec {
				if p, ok := rr.(*dns.PTR); ok && mdns.EqualNames(p.Hdr.Name, mdns.SpecService) {
					targets[strings.ToLower(p.Ptr)] = true
				}
			}
		}
		variant := func(edit func(rr dns.RR)) {
			c := m.Copy()
			for _, sec := range [][]dns.RR{c.Answer, c.Ns, c.Extra} {
				for _, rr := range sec {
					edit(rr)
				}
			}
			if b, err := c.Pack(); err == nil {
				out = append(out, b)
			}
		}
		for _, prefix := range []string{"m1-", "m2-", "m3-"} {
			ren := func(name string) string {
				if targets[strings.ToLower(name)] {
					return prefix + name
				}
				return name
			}
			variant(func(rr dns.RR) {
				rr.Header().Name = ren(rr.Header().Name)
				if p, ok := rr.(*dns.PTR); ok {
					p.Ptr = ren(p.Ptr)
				}
			})
		}
		variant(func(rr dns.RR) { rr.Header().Ttl = 0 })
		variant(func(rr dns.RR) { rr.Header().Class ^= mdns.CacheFlushBit })
	}
	if len(data) > 12 {
		c := append([]byte(nil), data...)
		i := 12 + (len(data)*7+int(mode))%(len(data)-12)
		c[i] ^= 0x5a
		out = append(out, c)
	}
	return append(out, data)
}

// fzWant is what the decoder found in every datagram injected so far:
// the candidate peer IDs and, per ID, the addresses named with it.
type fzWant map[peer.ID]map[string]bool

// add decodes data as the browser would and records its candidates.
func (w fzWant) add(dec *mdns.Decoder, data []byte) mdns.Result {
	m, err := mdns.Parse(data)
	if err != nil {
		return mdns.Result{}
	}
	res := dec.Decode(m, false)
	if !m.Response { // a probe's proposed records find peers too (IgnoreProbes off)
		res.Candidates = append(res.Candidates, dec.Decode(m, true).Candidates...)
	}
	for _, c := range res.Candidates {
		if w[c.ID] == nil {
			w[c.ID] = map[string]bool{}
		}
		for _, a := range c.Addrs {
			w[c.ID][a.String()] = true
		}
	}
	return res
}

// named reports whether the browser's address a (its /ip6zone prefix
// removed) was announced for id.
func (w fzWant) named(id peer.ID, a ma.Multiaddr) bool {
	if len(a) > 1 && a[0].Code() == ma.P_IP6ZONE {
		a = a[1:]
	}
	return w[id][a.String()]
}

// FuzzBrowserPacket: one datagram and a few mutations of it (renamed
// instances, goodbye, cache-flush toggled, a corrupted byte), from an
// on-link host (port 5353 or ephemeral, TTL 255 or other, IPv4 or IPv6 as
// the mode byte says), to a browser with small bounds on the in-memory
// LAN; the datagram is first sent from an off-link source. Each iteration
// is a fresh LAN and browser in its own synctest bubble. Invariants:
//   - no panic; Run returns nil after Close;
//   - the off-link copy is ignored: no record cached, no event (§11);
//   - after every datagram and after the records expire: Stats().Records
//     ≤ MaxRecords, Stats().Peers and len(Peers()) ≤ MaxPeers, and no peer
//     has more than MaxAddrs addresses;
//   - every event and every peer of Peers() is for a peer ID the decoder
//     found as a candidate in an injected datagram (never Self), and
//     every address of a Found / Updated event or of Peers() is one a
//     dnsaddr string named with that same ID;
//   - a datagram in which the decoder finds no candidate (e.g. only
//     rejected TXT sets naming several IDs) yields no Found event, and no
//     Updated event unless records were evicted or expired.
func FuzzBrowserPacket(f *testing.F) {
	fzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		synctest.Test(t, func(t *testing.T) { fuzzBrowserOnce(t, data, mode) })
	})
}

func fuzzBrowserOnce(t *testing.T, data []byte, mode uint8) {
	e := newEnv(t, envOpt{cfg: func(c *Config) {
		c.MaxPeers, c.MaxRecords, c.MaxAddrs = fzMaxPeers, fzMaxRecords, fzMaxAddrs
	}})
	self := e.b.cfg.Self

	port, ttl := uint16(mdns.Port), 255
	if mode&fzEphemeral != 0 {
		port = 40000
	}
	if mode&fzTTLOther != 0 {
		ttl = 64
		if mode&fzTTLOne != 0 {
			ttl = 1
		}
	}
	onLink, offLink, dst := fzOnLinkV4, fzOffLinkV4, transport.GroupV4
	if mode&fzV6 != 0 {
		onLink, offLink, dst = fzOnLinkV6, fzOffLinkV6, transport.GroupV6
	}
	inject := func(b []byte, src netip.Addr) {
		p := transport.Packet{Data: b, Src: netip.AddrPortFrom(src, port), Dst: dst, TTL: ttl}
		if err := e.LAN.Inject("", e.iface, p); err != nil {
			t.Fatal(err)
		}
		syncWait()
	}

	// §11: nothing from off the link is used.
	inject(data, offLink)
	if st := e.b.Stats(); st.Records != 0 || st.Peers != 0 || len(e.evs()) != 0 {
		t.Fatalf("off-link datagram used: %+v, events %v", st, kinds(e.evs()))
	}

	want := fzWant{}
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	seen := 0
	check := func(what string, res *mdns.Result, before Stats) {
		t.Helper()
		evs := e.evs()
		st := e.b.Stats()
		for _, ev := range evs[seen:] {
			id := ev.Peer.ID
			if id == self || want[id] == nil {
				t.Fatalf("%s: %v event for %s, not a candidate of any datagram (%d candidates IDs)", what, ev.Kind, id, len(want))
			}
			switch ev.Kind {
			case Found, Updated:
				for _, a := range ev.Peer.Addrs {
					if !want.named(id, a) {
						t.Fatalf("%s: %v event for %s with address %s never named with that ID", what, ev.Kind, id, a)
					}
				}
			case Lost:
			default:
				t.Fatalf("%s: unexpected %v event", what, ev.Kind)
			}
			if res != nil && len(res.Candidates) == 0 {
				churn := st.Evicted != before.Evicted || st.Expired != before.Expired || st.Poofed != before.Poofed
				if ev.Kind == Found || (ev.Kind == Updated && !churn) {
					t.Fatalf("%s: %v event for %s from a datagram without candidates (rejected %v)", what, ev.Kind, id, res.Rejected)
				}
			}
		}
		seen = len(evs)
		peers := e.b.Peers()
		if st.Records > fzMaxRecords || st.Peers > fzMaxPeers || len(peers) > fzMaxPeers {
			t.Fatalf("%s: over bounds: records %d, peers %d / %d", what, st.Records, st.Peers, len(peers))
		}
		for _, p := range peers {
			if p.ID == self || want[p.ID] == nil {
				t.Fatalf("%s: peer %s is not a candidate of any datagram", what, p.ID)
			}
			if len(p.Addrs) > fzMaxAddrs {
				t.Fatalf("%s: peer %s has %d addresses > MaxAddrs %d", what, p.ID, len(p.Addrs), fzMaxAddrs)
			}
			for _, a := range p.Addrs {
				if !want.named(p.ID, a) {
					t.Fatalf("%s: peer %s has address %s never named with that ID", what, p.ID, a)
				}
			}
		}
	}

	for i, b := range fzMutants(data, mode) {
		before := e.b.Stats()
		res := want.add(dec, b)
		inject(b, onLink)
		check("datagram "+string(rune('0'+i)), &res, before)
	}
	// Goodbyes (1 s), cache-flush (1 s) and expiry of short TTLs.
	time.Sleep(2 * time.Second)
	check("after 2 s", nil, Stats{})
	e.stop()
	check("after Close", nil, Stats{})
	if err := <-e.runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestFuzzMutants: the renamed variants of FuzzBrowserPacket keep the
// peer ID under new instance names, so they add records.
func TestFuzzMutants(t *testing.T) {
	id := testkit.ID(t, 1)
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	insts := map[string]bool{}
	for _, b := range fzMutants(goResponse(t, id, peerName(1), 4500, "/ip4/10.0.0.9/tcp/4001"), 0) {
		m, err := mdns.Parse(b)
		if err != nil {
			continue
		}
		for _, c := range dec.Decode(m, false).Candidates {
			if c.ID != id {
				t.Fatalf("mutant names %s", c.ID)
			}
			insts[strings.ToLower(c.Instance)] = true
		}
	}
	if len(insts) != 4 {
		t.Errorf("instances %v, want the original and 3 renamed", insts)
	}
}
