package responder

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/malformed"
	"github.com/chorus-services/discovery/mdns"
	"github.com/miekg/dns"
)

// BCT: none (§11 source checks; Bonjour checks TTL 255 on responses).
// Packets with an IP TTL other than 255 and packets from off-link sources
// are dropped and counted, never answered.
func TestSecurityDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		time.Sleep(2 * time.Second)
		t0 := time.Now()
		qry := query(0, false, nil, q(mdns.SpecService, dns.TypePTR))
		b.inject(qry, "", 1)                                                                      // TTL 1
		b.inject(qry, "", 64)                                                                     // TTL 64
		b.inject(qry, "192.168.9.9:5353", 0)                                                      // off-link, multicast
		b.inject(query(0, false, nil, qu(mdns.SpecService, dns.TypePTR)), "192.168.9.9:40000", 0) // off-link legacy QU
		time.Sleep(time.Second)
		if ans := b.sent(t, "a", t0); len(ans) != 0 {
			t.Fatalf("%d packets sent", len(ans))
		}
		s := r.Stats()
		if s.DroppedTTL != 2 || s.DroppedOffLink != 2 {
			t.Errorf("stats %+v", s)
		}
		r.stop(t)
	})
}

// BCT: none (robustness). The malformed corpus, injected after announcing,
// never panics; every packet is counted as received and either dropped (by
// reason) or handled.
func TestMalformedCorpus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		for _, c := range malformed.Cases() {
			if len(c.Data) > mdns.MaxPacketSize+100 {
				c.Data = c.Data[:mdns.MaxPacketSize+100]
			}
			before := r.Stats()
			b.inject(c.Data, "", 0)
			time.Sleep(2 * time.Second)
			after := r.Stats()
			if after.Received != before.Received+1 {
				t.Errorf("%s: received %d → %d", c.Name, before.Received, after.Received)
			}
			handled := after.AnswersMulticast + after.AnswersUnicast + after.SuppressedKnown + after.Conflicts -
				before.AnswersMulticast - before.AnswersUnicast - before.SuppressedKnown - before.Conflicts
			if after.Dropped() == before.Dropped() && handled == 0 {
				t.Errorf("%s (parse %v): not counted", c.Name, c.Parse)
			}
			if !c.Parse && after.Dropped() == before.Dropped() {
				t.Errorf("%s: unparseable packet not dropped", c.Name)
			}
			t.Logf("%s: dropped %+d, handled %d", c.Name, after.Dropped()-before.Dropped(), handled)
		}
		r.stop(t)
	})
}

// BCT: none (§6.7, §11). A legacy unicast query (source port ≠ 5353) is
// exempt from the TTL-255 check, because tools such as
// `dig -p 5353 @224.0.0.251` multicast with TTL 1, but never from the
// on-link check: on-link it gets one unicast answer, off-link none.
func TestLegacyQueryTTLExemption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		t0 := time.Now()
		qry := query(0x4242, false, nil, q(mdns.SpecService, dns.TypePTR))
		b.inject(qry, "10.0.0.200:40000", 1)   // on-link, TTL 1
		b.inject(qry, "192.168.9.9:40000", 64) // off-link
		time.Sleep(time.Second)
		sent := b.sent(t, "a", t0)
		var unicast, multicast int
		for _, p := range sent {
			switch {
			case p.Packet.Dst.Port() == 40000 && p.Packet.Dst.Addr().String() == "10.0.0.200":
				unicast++
			case p.Packet.Dst.Addr().IsMulticast():
				multicast++ // the PTR is also multicast for rust-libp2p (see answer)
			default:
				t.Errorf("packet to %v", p.Packet.Dst)
			}
		}
		if unicast != 1 || multicast != 1 {
			t.Fatalf("%d unicast and %d multicast answers, want 1 and 1", unicast, multicast)
		}
		s := r.Stats()
		if s.AnswersLegacy != 1 || s.DroppedOffLink != 1 || s.DroppedTTL != 0 {
			t.Errorf("stats %+v", s)
		}
		r.stop(t)
	})
}
