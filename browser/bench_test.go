package browser

import (
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/miekg/dns"
)

// benchBrowser returns a browser (not running) on a memnet interface on
// the captures' link, and the first go-libp2p response of
// d_golibp2p_two_nodes.pcap (8 dnsaddrs).
func benchBrowser(b *testing.B) (*Browser, transport.Packet, func()) {
	lan, err := memnet.New(memnet.Config{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	h, _ := lan.AddHost("b", replayIface)
	c, _ := h.Listen(memnet.ListenOptions{})
	br, err := New(Config{Conn: c})
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
			p := d.Packet
			p.IfIndex = h.Ifaces()[0].Index()
			return br, p, func() { br.Close(); lan.Close() }
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
	if st := br.Stats(); st.DroppedIrrelevant == 0 {
		b.Fatalf("stats %+v", st)
	}
}
