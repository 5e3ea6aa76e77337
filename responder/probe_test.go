package responder

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/miekg/dns"
)

// BCT: SRV probing/announcements. Exact virtual times of the three probes
// (0–250 ms wait, 250 ms apart, QU on the first, records in the authority
// section) and of the announcements (750 ms after the first probe, then
// 1 s, 2 s), with every record in the answer section, cache-flush on the
// unique ones, ID 0 and no questions; nothing is answered while probing.
func TestProbeAnnounceSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		a := b.Host("a")
		r := b.start(a, Config{PeerName: testName})
		// A query during probing is not answered (§8.1).
		time.Sleep(10 * time.Millisecond)
		b.inject(query(0, false, nil, q(mdns.SpecService, dns.TypePTR), q(mdns.InstanceName(testName, mdns.SpecService), dns.TypeSRV)), "", 0)
		time.Sleep(10 * time.Second)
		r.stop(t)

		ps := only(b.sent(t, "a", b.T0), isV4)
		probes := only(ps, pkt.probe)
		if len(probes) != 3 {
			t.Fatalf("%d v4 probes, want 3", len(probes))
		}
		d := probes[0].Time.Sub(b.T0)
		if d < 0 || d > 250*time.Millisecond {
			t.Errorf("first probe after %v, want 0–250 ms", d)
		}
		for i, p := range probes {
			if got := p.Time.Sub(probes[0].Time); got != time.Duration(i)*250*time.Millisecond {
				t.Errorf("probe %d at +%v", i, got)
			}
			if qu := mdns.IsQU(p.m.Question[0]); qu != (i == 0) {
				t.Errorf("probe %d QU=%v", i, qu)
			}
			if !hasRR(p.m.Ns, dns.TypeSRV) || !hasRR(p.m.Ns, dns.TypeTXT) || !hasRR(p.m.Ns, dns.TypeA) {
				t.Errorf("probe %d authority %v", i, p.m.Ns)
			}
			if p.m.Question[0].Qtype != dns.TypeANY {
				t.Errorf("probe question %v", p.m.Question[0])
			}
		}
		resp := only(ps, func(p pkt) bool { return p.m.Response && !p.ttl0() })
		want := []time.Duration{750 * time.Millisecond, 1750 * time.Millisecond, 3750 * time.Millisecond}
		if len(resp) != len(want) {
			t.Fatalf("%d v4 responses, want %d announcements (a query during probing must not be answered)", len(resp), len(want))
		}
		for i, p := range resp {
			if got := p.Time.Sub(probes[0].Time); got != want[i] {
				t.Errorf("announcement %d at +%v, want +%v", i, got, want[i])
			}
			if p.m.Id != 0 || len(p.m.Question) != 0 || len(p.m.Extra) != 0 {
				t.Errorf("announcement %d: id %d, %d questions, %d additionals", i, p.m.Id, len(p.m.Question), len(p.m.Extra))
			}
			for _, rr := range p.m.Answer {
				unique := rr.Header().Rrtype != dns.TypePTR
				if mdns.IsCacheFlush(rr) != unique {
					t.Errorf("announcement %d: %v cache-flush=%v", i, rr, mdns.IsCacheFlush(rr))
				}
			}
			for _, typ := range []uint16{dns.TypePTR, dns.TypeSRV, dns.TypeTXT, dns.TypeA, dns.TypeAAAA} {
				if !hasRR(p.m.Answer, typ) {
					t.Errorf("announcement %d lacks %s", i, dns.TypeToString[typ])
				}
			}
		}
		s := r.Stats()
		if s.Probes != 6 || s.Announcements != 6 || s.Goodbyes != 2 {
			t.Errorf("stats %+v", s)
		}
	})
}

// theirProbe returns a probe for our names carrying our first probe's
// authority records with the A record replaced by ip.
func theirProbe(t *testing.T, our pkt, ip string) []byte {
	var auth []dns.RR
	for _, rr := range our.m.Ns {
		if a, ok := rr.(*dns.A); ok {
			c := dns.Copy(a).(*dns.A)
			c.A = netip.MustParseAddr(ip).AsSlice()
			rr = c
		}
		auth = append(auth, rr)
	}
	m := new(dns.Msg)
	m.Question = our.m.Question
	m.Ns = auth
	data, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// BCT: simultaneous probe conflict. A probe from another host for our
// names during our probing: with lexicographically later data it wins
// (we wait 1 s and probe again, same name); with earlier data we win and
// go on. Two responders with the same name: exactly one renames.
func TestSimultaneousProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		ip   string
		lose bool
	}{{"they-win", "10.0.255.254", true}, {"we-win", "10.0.0.0", false}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBed(t)
				r := b.start(b.Host("a"), Config{PeerName: testName})
				var first pkt
				for len(only(b.sent(t, "a", b.T0), pkt.probe)) == 0 {
					time.Sleep(time.Millisecond)
				}
				first = only(b.sent(t, "a", b.T0), pkt.probe)[0]
				tInj := time.Now()
				b.inject(theirProbe(t, first, tc.ip), "10.0.0.200:5353", 0)
				time.Sleep(10 * time.Second)
				r.stop(t)
				probes := only(only(b.sent(t, "a", b.T0), pkt.probe), isV4)
				if tc.lose {
					if len(probes) != 4 {
						t.Fatalf("%d probes, want 1 + 3 after losing", len(probes))
					}
					if got := probes[1].Time.Sub(tInj); got != time.Second {
						t.Errorf("re-probe %v after losing, want 1 s", got)
					}
					if r.Stats().Conflicts != 1 {
						t.Errorf("conflicts %d", r.Stats().Conflicts)
					}
				} else if len(probes) != 3 || r.Stats().Conflicts != 0 {
					t.Fatalf("%d probes, %d conflicts after winning", len(probes), r.Stats().Conflicts)
				}
				if r.PeerName() != testName || r.Stats().Renames != 0 {
					t.Errorf("renamed to %s", r.PeerName())
				}
			})
		})
	}
	t.Run("two-responders", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBed(t)
			ra := b.start(b.Host("a"), Config{PeerName: testName})
			rb := b.start(b.Host("b"), Config{PeerName: testName, PeerID: testkit.ID(t, 2), Addrs: maddrs(t, "/ip4/10.0.0.2/tcp/4001")})
			time.Sleep(20 * time.Second)
			if (ra.PeerName() == testName) == (rb.PeerName() == testName) {
				t.Errorf("names %s and %s: exactly one must have renamed", ra.PeerName(), rb.PeerName())
			}
			if ra.Stats().Renames+rb.Stats().Renames != 1 {
				t.Errorf("renames %d + %d", ra.Stats().Renames, rb.Stats().Renames)
			}
			ra.stop(t)
			rb.stop(t)
		})
	})
}

// BCT: subsequent conflict. A response with different data for our unique
// records, during probing or after announcing, makes us pick a new random
// name and probe it.
func TestRenameOnConflict(t *testing.T) {
	for _, after := range []time.Duration{300 * time.Millisecond, 5 * time.Second} {
		synctest.Test(t, func(t *testing.T) {
			b := newBed(t)
			r := b.start(b.Host("a"), Config{PeerName: testName})
			time.Sleep(after)
			srv := &dns.SRV{Hdr: dns.RR_Header{Name: mdns.InstanceName(testName, mdns.SpecService), Rrtype: dns.TypeSRV, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: 120}, Port: 9, Target: "other.local."}
			tc := time.Now()
			b.inject(response(srv), "", 0)
			time.Sleep(5 * time.Second)
			r.stop(t)
			if r.PeerName() == testName || !mdns.IsPeerName(r.PeerName()) {
				t.Fatalf("name %q after conflict", r.PeerName())
			}
			if s := r.Stats(); s.Conflicts != 1 || s.Renames != 1 {
				t.Errorf("stats %+v", s)
			}
			probes := only(only(b.sent(t, "a", tc), pkt.probe), isV4)
			if len(probes) != 3 || !mdns.EqualNames(probes[0].m.Question[0].Name, mdns.InstanceName(r.PeerName(), mdns.SpecService)) {
				t.Fatalf("%d probes for the new name", len(probes))
			}
			// Our own loop-back and identical data are no conflict.
			b.inject(response(r.rs.SRV), "", 0)
		})
	}
}

// BCT: subsequent conflict (rate of conflicts). After 15 conflicts within
// 10 s the next probe waits 5 s (§8.1).
func TestConflictBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		// A defender on host d claims every name it sees probed.
		d := b.Host("d")
		cd := b.Listen(d, memnet.ListenOptions{NoV6: true})
		go func() {
			buf := make([]byte, 9000)
			var p transport.Packet
			for cd.ReadPacket(buf, &p) == nil {
				m, err := mdns.Parse(p.Data)
				if err != nil || m.Response || len(m.Ns) == 0 {
					continue
				}
				srv := &dns.SRV{Hdr: dns.RR_Header{Name: m.Question[0].Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: 120}, Port: 9, Target: "defender.local."}
				_ = cd.WritePacket(&transport.Packet{Data: response(srv), Dst: transport.GroupV4, IfIndex: 1})
			}
		}()
		r := b.start(b.Host("a"), Config{Conn: b.Listen(b.LAN.Host("a"), memnet.ListenOptions{NoV6: true})})
		time.Sleep(30 * time.Second)
		r.stop(t)
		probes := only(b.sent(t, "a", b.T0), pkt.probe)
		if len(probes) < 17 {
			t.Fatalf("%d probes", len(probes))
		}
		for i := 1; i < len(probes); i++ {
			gap := probes[i].Time.Sub(probes[i-1].Time)
			if i < conflictLimit && gap > 250*time.Millisecond {
				t.Errorf("probe %d after %v, before the backoff", i, gap)
			}
			if i >= conflictLimit && gap < conflictBackoff {
				t.Errorf("probe %d after %v, want ≥ 5 s after 15 conflicts", i, gap)
			}
		}
		if s := r.Stats(); s.Renames != s.Conflicts || s.Renames < 17 {
			t.Errorf("stats %+v", s)
		}
	})
}

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
			c := b.Listen(h)
			rs = append(rs, b.start(h, Config{Conn: c, PeerID: testkit.ID(t, i), Rand: rand.New(rand.NewPCG(uint64(i), 7)),
				Addrs: maddrs(t, fmt.Sprintf("/ip4/10.0.0.%d/tcp/4001", i))}))
		}
		qc := b.Listen(b.Host("q"))
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
			_ = qc.WritePacket(&transport.Packet{Data: ptrQuery(), Dst: transport.GroupV4, IfIndex: 1})
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
