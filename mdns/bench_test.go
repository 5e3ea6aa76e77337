package mdns_test

import (
	"testing"

	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
)

// BenchmarkFilterIrrelevant: the cost of rejecting an unrelated mDNS
// response (a Chromecast announcement) before unpacking it.
func BenchmarkFilterIrrelevant(b *testing.B) {
	f := mdns.NewFilter(mdns.FilterLabels(mdns.SpecService, mdns.MetaQuery, mdns.NewPeerName(nil))...)
	p := irrelevantPacket(b)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if f.Match(p) {
			b.Fatal("matched")
		}
	}
}

// BenchmarkParseIrrelevant: what the filter saves (a full unpack).
func BenchmarkParseIrrelevant(b *testing.B) {
	p := irrelevantPacket(b)
	var m dns.Msg
	b.ReportAllocs()
	for b.Loop() {
		if err := mdns.ParseInto(&m, p); err != nil {
			b.Fatal(err)
		}
	}
}

func goResponse(b *testing.B) []byte {
	dgs, _, err := pcapread.ReadFile("../testdata/pcap/d_golibp2p_two_nodes.pcap")
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range dgs {
		m, err := mdns.Parse(d.Packet.Data)
		if err == nil && m.Response && len(m.Answer) > 0 {
			return d.Packet.Data
		}
	}
	b.Fatal("no response in capture")
	return nil
}

// BenchmarkDecodeGoResponse: a real go-libp2p response (8 dnsaddrs) from
// bytes to the peer's peer.AddrInfo: filter, unpack, classify, decode
// (issue #13's "go-libp2p response → AddrInfo for a known peer"). The
// peer's strings are in the decoder's memo after the first iteration, as
// they are for every announcement of a known peer.
func BenchmarkDecodeGoResponse(b *testing.B) { benchDecode(b, false) }

// BenchmarkDecodeGoResponseCold: the same with an empty memo each time (the
// first sighting of a peer: every multiaddr and the ID parsed).
func BenchmarkDecodeGoResponseCold(b *testing.B) { benchDecode(b, true) }

// BenchmarkParseGoResponse: the unpack alone (miekg/dns) of the response
// BenchmarkDecodeGoResponse decodes: what of its cost is the codec's.
func BenchmarkParseGoResponse(b *testing.B) {
	p := goResponse(b)
	var m dns.Msg
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if err := mdns.ParseInto(&m, p); err != nil {
			b.Fatal(err)
		}
	}
}

// addrInfoSink keeps the benchmarks' results alive.
var addrInfoSink peer.AddrInfo

func benchDecode(b *testing.B, cold bool) {
	p := goResponse(b)
	f := mdns.NewFilter(mdns.FilterLabels(mdns.SpecService)...)
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	var m dns.Msg
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if cold {
			dec = mdns.NewDecoder(mdns.SpecService, 0)
		}
		if !f.Match(p) {
			b.Fatal("filtered")
		}
		if err := mdns.ParseInto(&m, p); err != nil {
			b.Fatal(err)
		}
		if _, err := mdns.Classify(&m); err != nil {
			b.Fatal(err)
		}
		res := dec.Decode(&m, false)
		if len(res.Candidates) != 1 || len(res.Candidates[0].Addrs) != 8 {
			b.Fatalf("%+v", res)
		}
		addrInfoSink = peer.AddrInfo{ID: res.Candidates[0].ID, Addrs: res.Candidates[0].Addrs}
	}
}

func benchPack(b *testing.B, n int) {
	rs, err := mdns.NewRecordSet(testPeer(b, n))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ptrAnswer(rs, 1472); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPackResponse8 / 40: building the answer to a PTR query.
func BenchmarkPackResponse8(b *testing.B)  { benchPack(b, 8) }
func BenchmarkPackResponse40(b *testing.B) { benchPack(b, 40) }

// BenchmarkRecordSet40: building a 40-address record set.
func BenchmarkRecordSet40(b *testing.B) {
	p := testPeer(b, 40)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mdns.NewRecordSet(p); err != nil {
			b.Fatal(err)
		}
	}
}
