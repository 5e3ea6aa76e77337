package mdns_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/chorus-services/discovery/internal/malformed"
	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// capturePackets returns every mDNS datagram of the real captures.
func capturePackets(tb testing.TB) [][]byte {
	tb.Helper()
	caps, err := pcapread.ReadDir("../testdata/pcap")
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, c := range caps {
		for _, d := range c.Datagrams {
			out = append(out, d.Packet.Data)
		}
	}
	return out
}

// FuzzDecode: packet → Parse → Classify → Decode. Invariants: no panic;
// every candidate has an ID and at most MaxAddrs addresses without /p2p;
// the prefilter never rejects a packet that yields a candidate.
func FuzzDecode(f *testing.F) {
	for _, p := range capturePackets(f) {
		f.Add(p)
	}
	for _, c := range malformed.Cases() {
		f.Add(c.Data)
	}
	dec := mdns.NewDecoder(mdns.SpecService, 16)
	// The responder's filter shape (one scan for '_') and the browser's
	// (the service alone: a scan for its digit).
	filters := []*mdns.Filter{
		mdns.NewFilter(mdns.FilterLabels(mdns.SpecService, mdns.MetaQuery)...),
		mdns.NewFilter(mdns.FilterLabels(mdns.SpecService)...),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := mdns.Parse(data)
		if err != nil {
			return
		}
		if _, err := mdns.Classify(m); err != nil {
			return
		}
		res := dec.Decode(m, true)
		for i, filter := range filters {
			if len(res.Candidates) > 0 && !filter.Match(data) {
				t.Fatalf("prefilter %d: false negative", i)
			}
		}
		for _, c := range res.Candidates {
			if c.ID == "" || len(c.Addrs) == 0 || len(c.Addrs) > 16 {
				t.Fatalf("bad candidate %+v", c)
			}
			for _, a := range c.Addrs {
				if _, id := peer.SplitAddr(a); id != "" {
					t.Fatalf("addr %s keeps its /p2p", a)
				}
			}
		}
	})
}

// FuzzTXT: arbitrary TXT strings in a well-formed response. Invariants: a
// candidate's addresses all came from strings naming its ID, and strings
// naming two IDs never yield a candidate.
func FuzzTXT(f *testing.F) {
	f.Add("dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/"+testID, "dnsaddr=/ip6/::1/udp/1/quic-v1/p2p/"+testID)
	f.Add("dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/"+testID, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/"+otherID)
	f.Add("dnsaddr=/dns4/x.local/tcp/1/p2p/"+testID, "DNSADDR=\\")
	f.Add("dnsaddr=/ip4/1.2.3.4", "dnsaddr=\xff")
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	f.Fuzz(func(t *testing.T, s1, s2 string) {
		inst := "x._p2p._udp.local."
		m := new(dns.Msg)
		m.Response = true
		m.Answer = []dns.RR{ptr(mdns.SpecService, inst, 120), txt(inst, 120, mdns.EscapeTXT([]string{s1, s2})...)}
		b, err := m.Pack()
		if err != nil {
			return // a string over 255 bytes
		}
		pm, err := mdns.Parse(b)
		if err != nil {
			t.Fatalf("our own packet does not parse: %v", err)
		}
		res := dec.Decode(pm, false)
		ids := map[peer.ID]bool{}
		for _, s := range []string{s1, s2} {
			if len(s) > 8 && bytes.EqualFold([]byte(s[:8]), []byte("dnsaddr=")) {
				if a, err := ma.NewMultiaddr(s[8:]); err == nil {
					if _, id := peer.SplitAddr(a); id != "" {
						ids[id] = true
					}
				}
			}
		}
		if len(ids) > 1 && len(res.Candidates) > 0 {
			t.Fatalf("two IDs yielded %+v", res.Candidates)
		}
		for _, c := range res.Candidates {
			if !ids[c.ID] {
				t.Fatalf("candidate %s not named by the strings", c.ID)
			}
		}
	})
}

// FuzzRoundTrip: record sets built from arbitrary peer keys and multiaddrs
// pack into packets under the size limit that decode back into exactly
// the announced addresses.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("seed"), "/ip4/198.51.100.11/tcp/4001", "/ip6/fe80::1/udp/4001/quic-v1", 1500, uint8(3))
	f.Add([]byte("x"), "/dns4/a.local/tcp/1", "/ip4/127.0.0.1/tcp/1", 576, uint8(40))
	f.Fuzz(func(t *testing.T, seed []byte, a1, a2 string, mtu int, copies uint8) {
		sum := sha256.Sum256(seed)
		sk, _, err := crypto.GenerateEd25519Key(bytes.NewReader(append(sum[:], sum[:]...)))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(sk)
		var addrs []ma.Multiaddr
		for i := 0; i < int(copies%64); i++ {
			for _, s := range []string{a1, a2} {
				a, err := ma.NewMultiaddr(s)
				if err != nil {
					continue
				}
				// Vary a port so copies are distinct.
				if c, err := ma.NewComponent("tcp", itoaPort(i+1)); err == nil {
					a = append(append(ma.Multiaddr{}, a...), *c)
				}
				addrs = append(addrs, a)
			}
		}
		rs, err := mdns.NewRecordSet(mdns.Peer{Service: mdns.SpecService, PeerName: "abcdefghijklmnopqrstuvwxyz012345", ID: id, Addrs: addrs})
		if err != nil {
			return // e.g. an address that names another peer
		}
		max := mdns.MaxPayload(400+abs(mtu)%8600, true)
		pkts, skipped, err := ptrAnswer(rs, max)
		if err != nil {
			t.Fatalf("pack: %v", err)
		}
		got := map[string]bool{}
		dec := mdns.NewDecoder(mdns.SpecService, 10000)
		for _, p := range pkts {
			if len(p) > max {
				t.Fatalf("%d > %d", len(p), max)
			}
			m, err := mdns.Parse(p)
			if err != nil {
				t.Fatalf("parse own packet: %v", err)
			}
			for _, c := range dec.Decode(m, false).Candidates {
				if c.ID != id {
					t.Fatal("wrong ID")
				}
				for _, a := range c.Addrs {
					got[string(a.Bytes())] = true
				}
			}
		}
		want := 0
		for _, a := range rs.Addrs {
			tr, _ := peer.SplitAddr(a)
			if tr == nil {
				continue
			}
			want++
			if !got[string(tr.Bytes())] && skipped == 0 {
				t.Fatalf("address %s lost", tr)
			}
		}
		if len(got)+skipped < want {
			t.Fatalf("got %d + skipped %d < %d", len(got), skipped, want)
		}
	})
}

func abs(i int) int {
	if i < 0 {
		if i == -i {
			return 0
		}
		return -i
	}
	return i
}

func itoaPort(i int) string {
	b := []byte{}
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}
