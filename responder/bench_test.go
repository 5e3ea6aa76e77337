package responder

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
)

// nullConn is a Conn with one interface that discards what is written;
// tests deliver packets through its Hub.
type nullConn struct {
	hub  transport.Hub
	sent int
}

func (c *nullConn) View(cfg transport.ViewConfig) (*transport.View, error) {
	return c.hub.Attach(c, cfg)
}
func (c *nullConn) WritePacket(*transport.Packet) error { c.sent++; return nil }
func (c *nullConn) Close() error                        { c.hub.Close(); return nil }
func (c *nullConn) Interfaces() []transport.Interface {
	return []transport.Interface{{
		Index: 1, Name: "eth0", MTU: 1500, Up: true, Multicast: true, V4: true, V6: true,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/16"), netip.MustParsePrefix("fe80::1:1/64")},
	}}
}

// benchResponder returns an announced responder on a nullConn, driven by
// hand (no Run goroutine).
func benchResponder(b *testing.B, n int) (*Responder, *nullConn) {
	c := &nullConn{}
	addrs := maddrs(b, "/ip4/10.0.0.1/tcp/4001", "/ip4/10.0.0.1/udp/4001/quic-v1")
	if n > 0 {
		addrs = fortyAddrs(b)[:n]
	}
	r, err := New(Config{Conn: c, PeerID: testkit.ID(b, 1), PeerName: testName, Addrs: addrs, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		b.Fatal(err)
	}
	r.refreshIfaces(time.Now())
	for _, st := range r.ifs {
		st.phase, st.next, st.announced = phAnnounced, time.Time{}, true
	}
	return r, c
}

// BenchmarkAnswerPTR: one PTR query from the wire (prefilter, parse,
// classify, answer, delay, rate limit, pack, write) per op.
func BenchmarkAnswerPTR(b *testing.B) {
	r, c := benchResponder(b, 0)
	data := ptrQuery()
	p := rxPacket{src: netip.MustParseAddrPort("10.0.0.2:5353"), ifIndex: 1, multicast: true, v4: true, data: data}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if !r.filter.Load().Match(p.data) {
			b.Fatal("filtered")
		}
		now = now.Add(2 * time.Second)
		r.handle(&p, now)
		r.runDue(now.Add(200 * time.Millisecond))
	}
	if c.sent < b.N {
		b.Fatalf("%d packets for %d queries", c.sent, b.N)
	}
}

// BenchmarkResponse40: lay out and pack the response to a PTR query for a
// peer with 40 long multiaddrs (split into MTU-sized packets).
func BenchmarkResponse40(b *testing.B) {
	r, _ := benchResponder(b, 40)
	st := r.ifs[1]
	b.ReportAllocs()
	for b.Loop() {
		pkts, _, err := mdns.PackResponse(r.response(st, true, kPTR, kSRV|kTXT|kA|kAAAA))
		if err != nil || len(pkts) < 2 {
			b.Fatal(err, len(pkts))
		}
	}
}

// BenchmarkFilterIrrelevant: the cost of dropping a query for another
// service in the reader.
func BenchmarkFilterIrrelevant(b *testing.B) {
	r, _ := benchResponder(b, 0)
	data := query(0, false, nil, q("_googlecast._tcp.local.", dns.TypePTR))
	b.ReportAllocs()
	for b.Loop() {
		if r.filter.Load().Match(data) {
			b.Fatal("matched")
		}
	}
}
