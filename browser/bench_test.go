package browser

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/internal/testkit/memkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
)

// benchBrowser returns a browser (not running) on a memnet interface on
// the captures' link, and the first go-libp2p response of
// d_golibp2p_two_nodes.pcap (8 dnsaddrs).
func benchBrowser(b *testing.B) (*Browser, transport.Packet, func()) {
	h := memkit.AddHost(b, memkit.NewLAN(b), "b", replayIface)
	br, err := New(Config{Conn: memkit.Open(b, h)})
	if err != nil {
		b.Fatal(err)
	}
	dgs, _, err := pcapread.ReadFile("../testdata/pcap/d_golibp2p_two_nodes.pcap")
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range dgs {
		m, err := mdns.Parse(d.Packet.Data)
		if err == nil && m.Response && len(m.Answer) > 0 && d.Packet.Src.Addr().Is4() {
			p := transport.Packet(d.Packet)
			p.IfIndex = h.Ifaces()[0].Index()
			return br, p, func() { br.Close() }
		}
	}
	b.Fatal("no response in capture")
	return nil, transport.Packet{}, nil
}

// BenchmarkGoResponseToEvent: a go-libp2p response from bytes to a Found
// event: TTL check, filter, on-link, parse, decode, cache, address filters,
// peer model, dispatch. Each iteration is 2 h after the previous one, so the
// previous records have expired (their Lost event is included).
func BenchmarkGoResponseToEvent(b *testing.B) {
	br, p, done := benchBrowser(b)
	defer done()
	at := time.Unix(1e9, 0)
	b.SetBytes(int64(len(p.Data)))
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(2 * time.Hour)
		br.Feed(p, at)
		br.disp.mu.Lock()
		br.disp.pending = br.disp.pending[:0]
		br.disp.mu.Unlock()
	}
	if st := br.Stats(); st.PeersFound == 0 {
		b.Fatalf("no peer found: %+v", st)
	}
}

// BenchmarkGoResponseRefresh: the same response for a known peer (the
// steady state: records refreshed, no event).
func BenchmarkGoResponseRefresh(b *testing.B) {
	br, p, done := benchBrowser(b)
	defer done()
	at := time.Unix(1e9, 0)
	br.Feed(p, at)
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(time.Second)
		br.Feed(p, at)
	}
	if st := br.Stats(); st.PeersFound != 1 {
		b.Fatalf("stats %+v", st)
	}
}

// BenchmarkIrrelevantPacket: an unrelated announcement (a Chromecast) is
// dropped by the label filter without parsing.
func BenchmarkIrrelevantPacket(b *testing.B) {
	br, p, done := benchBrowser(b)
	defer done()
	inst := "Living Room._googlecast._tcp.local."
	m := new(dns.Msg)
	m.Response = true
	m.Answer = []dns.RR{
		&dns.PTR{Hdr: dns.RR_Header{Name: "_googlecast._tcp.local.", Rrtype: dns.TypePTR, Class: 1, Ttl: 120}, Ptr: inst},
		&dns.TXT{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeTXT, Class: 0x8001, Ttl: 4500}, Txt: []string{"id=0123456789abcdef0123456789abcdef", "md=Chromecast", "fn=Living Room"}},
		&dns.SRV{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeSRV, Class: 0x8001, Ttl: 120}, Port: 8009, Target: "0123-4567.local."},
	}
	data, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	p.Data = data
	at := time.Unix(1e9, 0)
	b.ReportAllocs()
	for b.Loop() {
		br.Feed(p, at)
	}
	if st := br.Stats(); st.Ignored == 0 {
		b.Fatalf("stats %+v", st)
	}
}

// BenchmarkCache10k: the cache holding 10,000 peers (two addresses each);
// each iteration is one peer's refresh announcement arriving (the steady
// state of a large LAN: lookup, record refresh, no event). It also reports
// the heap held per cached peer.
func BenchmarkCache10k(b *testing.B) {
	const n = 10_000
	h := memkit.AddHost(b, memkit.NewLAN(b), "b", replayIface)
	c := memkit.Open(b, h)
	pkts := make([][]byte, n)
	for i := range pkts {
		pkts[i] = goResponse(b, testkit.ID(b, i), peerName(i), 4500,
			fmt.Sprintf("/ip4/198.51.%d.%d/tcp/4001", i/250, 1+i%250), fmt.Sprintf("/ip4/198.51.%d.%d/udp/4001/quic-v1", i/250, 1+i%250))
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	br, err := New(Config{Conn: c, MaxPeers: n, MaxRecords: 4 * n, EventQueue: n})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	p := transport.Packet{Src: netip.MustParseAddrPort("198.51.100.11:5353"), Dst: transport.GroupV4, IfIndex: h.Ifaces()[0].Index(), TTL: 255}
	at := time.Unix(1e9, 0)
	for _, d := range pkts {
		p.Data = d
		br.Feed(p, at)
	}
	br.disp.mu.Lock()
	br.disp.pending = br.disp.pending[:0]
	br.disp.mu.Unlock()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if st := br.Stats(); st.PeersFound != n {
		b.Fatalf("%d peers found, want %d: %+v", st.PeersFound, n, st)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		at = at.Add(time.Millisecond)
		p.Data = pkts[i%n]
		br.Feed(p, at)
		i++
	}
	if st := br.Stats(); st.PeersFound != n {
		b.Fatalf("stats %+v", st)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/peer") // after the loop: ResetTimer drops metrics
}
