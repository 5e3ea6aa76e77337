package responder

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/miekg/dns"
)

// BCT: none (soak). Five responders on a lossy, jittery LAN, queried every
// second while their addresses change: no false conflict (our own packets
// and our former data are never taken for another host's), every peer is
// answered, every packet fits its MTU and parses.
func TestSoakNoFalseConflict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBedOn(t, memnet.Config{Segments: []memnet.SegmentConfig{{Name: memnet.DefaultSegment, Link: memnet.Link{
			Latency: 2 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.05, Duplicate: 0.05, Reorder: 0.1, ReorderDelay: 20 * time.Millisecond,
		}}}})
		var rs []*running
		for i := 1; i <= 5; i++ {
			h := b.Host(fmt.Sprintf("h%d", i))
			c := b.Listen(h, memnet.ListenOptions{})
			rs = append(rs, b.start(h, Config{Conn: c, PeerID: testkit.ID(t, i), Rand: rand.New(rand.NewPCG(uint64(i), 7)),
				Addrs: maddrs(t, fmt.Sprintf("/ip4/10.0.0.%d/tcp/4001", i))}))
		}
		qc := b.Listen(b.Host("q"), memnet.ListenOptions{})
		found := map[string]bool{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			dec := mdns.NewDecoder(mdns.SpecService, 0)
			buf := make([]byte, 9000)
			var p transport.Packet
			for qc.ReadPacket(buf, &p) == nil {
				if m, err := mdns.Parse(p.Data); err == nil {
					for _, c := range dec.Decode(m, false).Candidates {
						found[c.ID.String()] = true
					}
				}
			}
		}()
		for s := 0; s < 60; s++ {
			time.Sleep(time.Second)
			_ = qc.WritePacket(&transport.Packet{Data: query(0, false, nil, q(mdns.SpecService, dns.TypePTR)), Dst: transport.GroupV4, IfIndex: 1})
			if s%10 == 5 {
				for i, r := range rs {
					r.SetAddrs(maddrs(t, fmt.Sprintf("/ip4/10.0.0.%d/tcp/%d", i+1, 4001+s)))
				}
			}
			if s == 30 {
				b.LAN.Host("h1").Iface("eth0").SetUp(false)
			}
			if s == 32 {
				b.LAN.Host("h1").Iface("eth0").SetUp(true)
			}
		}
		for _, r := range rs {
			r.stop(t)
			if s := r.Stats(); s.Conflicts != 0 || s.Renames != 0 || s.SendErrors != 0 {
				t.Errorf("%s: stats %+v", r.PeerName(), s)
			}
		}
		qc.Close()
		<-done
		if len(found) != 5 {
			t.Errorf("found %d of 5 peers", len(found))
		}
		for _, p := range b.sent(t, "*", b.T0) {
			if p.Oversize {
				t.Fatalf("oversize packet from %s", p.Host)
			}
		}
	})
}
