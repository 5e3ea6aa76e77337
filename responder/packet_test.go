package responder

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	ma "github.com/multiformats/go-multiaddr"
)

// fortyAddrs returns 40 long multiaddrs on 10.0.0.1 (reachable on the
// first segment).
func fortyAddrs(t testing.TB) []ma.Multiaddr {
	var ss []string
	for i := 0; i < 40; i++ {
		ss = append(ss, fmt.Sprintf("/ip4/10.0.0.1/udp/%d/quic-v1/webtransport/certhash/uEiAkH5a4DPGKUuOBjYw0CgwjvcJCJMD2K_1aluKR_tpevQ", 4000+i))
	}
	return maddrs(t, ss...)
}

// BCT: packet size. With 40 long multiaddrs on a 576-byte MTU interface,
// every packet sent in a full life cycle (probes, announcements, answers,
// goodbyes) fits the interface's MaxPayload, parses, and every response is
// self-contained: the decoder finds our peer in it, and the union of the
// addresses of a round is the whole set.
func TestPacketSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		a := b.Host("a", memnet.IfaceConfig{MTU: 576})
		addrs := fortyAddrs(t)
		r := b.start(a, Config{PeerName: testName, Addrs: addrs})
		announced()
		time.Sleep(2 * time.Second)
		t0 := time.Now()
		b.inject(ptrQuery(), "", 0)
		time.Sleep(time.Second)
		r.stop(t)

		ifc := transport.Interface{MTU: 576}
		dec := mdns.NewDecoder(mdns.SpecService, 0)
		ps := b.sent(t, "a", b.T0)
		for _, p := range ps {
			if p.Oversize || len(p.Packet.Data) > ifc.MaxPayload(p.v4()) {
				t.Fatalf("%d-byte packet over %d", len(p.Packet.Data), ifc.MaxPayload(p.v4()))
			}
			if !p.m.Response {
				continue
			}
			res := dec.Decode(p.m, false)
			if len(res.Candidates) != 1 || res.Candidates[0].ID != r.cfg.PeerID || len(res.Candidates[0].Addrs) == 0 || res.Candidates[0].Port == 0 || len(res.Candidates[0].IPs) == 0 {
				t.Fatalf("packet not self-contained: %+v", res)
			}
		}
		round := map[string]bool{}
		ans := only(b.sent(t, "a", t0), func(p pkt) bool { return p.v4() && p.m.Response })
		if len(ans) < 2 {
			t.Fatalf("answer in %d packets, want a split", len(ans))
		}
		for _, p := range ans {
			for _, a := range dec.Decode(p.m, false).Candidates[0].Addrs {
				round[a.String()] = true
			}
		}
		if len(round) != 40 {
			t.Errorf("answer carried %d of 40 addresses", len(round))
		}
		if r.Stats().SendErrors != 0 {
			t.Errorf("send errors %d", r.Stats().SendErrors)
		}
	})
}
