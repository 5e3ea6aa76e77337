package responder

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/miekg/dns"
)

// BCT: goodbye. Close sends PTR, SRV, TXT and A/AAAA with TTL 0 on every
// interface and family, which the decoder reads as a withdrawal.
func TestGoodbyeOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := announcedBed(t, Config{PeerName: testName})
		t0 := time.Now()
		r.stop(t)
		if err := r.Close(); err != nil { // idempotent
			t.Fatal(err)
		}
		bye := b.sent(t, "a", t0)
		if len(bye) != 2 {
			t.Fatalf("%d goodbye packets, want 2 (v4, v6)", len(bye))
		}
		for _, p := range bye {
			if !p.ttl0() {
				t.Errorf("not a goodbye: %v", p.m)
			}
			for _, typ := range []uint16{dns.TypePTR, dns.TypeSRV, dns.TypeTXT, dns.TypeA, dns.TypeAAAA} {
				if !hasRR(p.m.Answer, typ) {
					t.Errorf("goodbye lacks %s", dns.TypeToString[typ])
				}
			}
			res := mdns.NewDecoder(mdns.SpecService, 0).Decode(p.m, false)
			if len(res.Candidates) != 1 || res.Candidates[0].TTL != 0 || res.Candidates[0].ID != r.cfg.PeerID {
				t.Errorf("decoded %+v", res)
			}
		}
	})
}

// TestTXTSplitStable: with more dnsaddr strings than one packet holds, the
// announcement, the answer to a PTR query (TXT in the additional section)
// and the goodbye split the strings into the same TXT records, so a
// goodbye withdraws exactly the rdata receivers cached (RFC 6762 §10.1).
func TestTXTSplitStable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		var addrs []string
		for i := 0; i < 44; i++ {
			addrs = append(addrs, fmt.Sprintf("/ip6/2001:db8:53:1:2:3:4:%x/udp/%d/quic-v1/webtransport/certhash/uEiAkH5a4DPGKUuOBjYw0CgwjvcJCJMD2K_1aluKR_tpevQ", i, 4000+i))
		}
		r := b.start(b.Host("a"), Config{PeerName: testName, Addrs: maddrs(t, addrs...)})
		announced()
		t1 := time.Now()
		b.inject(ptrQuery(), "", 0)
		time.Sleep(time.Second)
		t2 := time.Now()
		r.stop(t)
		txts := func(ps []pkt) (out []string) {
			for _, p := range ps {
				if !p.v4() {
					continue
				}
				for _, rr := range append(p.m.Answer, p.m.Extra...) {
					if v, ok := rr.(*dns.TXT); ok {
						out = append(out, strings.Join(v.Txt, " "))
					}
				}
			}
			slices.Sort(out)
			return out
		}
		all := b.sent(t, "a", b.T0)
		ann := txts(only(all, func(p pkt) bool { return p.Time.Before(t1) && p.m.Response }))
		ans := txts(only(all, func(p pkt) bool { return !p.Time.Before(t1) && p.Time.Before(t2) && p.m.Response }))
		bye := txts(only(all, func(p pkt) bool { return !p.Time.Before(t2) && p.ttl0() }))
		if len(ans) < 2 {
			t.Fatalf("the answer has %d TXT records; the test needs a split", len(ans))
		}
		if ann = slices.Compact(ann); !slices.Equal(ann, ans) || !slices.Equal(ann, bye) {
			t.Errorf("TXT split differs: strings per record announced %v, answered %v, goodbye %v", sizes(ann), sizes(ans), sizes(bye))
		}
	})
}

// sizes returns the number of strings of each space-joined TXT record.
func sizes(txts []string) []int {
	out := make([]int, len(txts))
	for i, s := range txts {
		out[i] = strings.Count(s, " ") + 1
	}
	return out
}

// BCT: SRV probing/announcements (changes). SetAddrs re-announces the new
// TXT with the cache-flush bit, without probing and without a goodbye for
// the old TXT (§8.4, §10.2: receivers flush the old rdata; a goodbye would
// make them report the peer lost before the rate-limited re-announcement
// arrives); removing an
// interface address sends a goodbye for its A record and re-announces;
// adding one, or an interface coming back up, probes again (§8, §8.4).
func TestReannounceOnChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		a := b.Host("a")
		ca := b.Listen(a, memnet.ListenOptions{NoV6: true})
		r := b.start(a, Config{PeerName: testName, Conn: ca})
		announced()

		t0 := time.Now()
		r.SetAddrs(maddrs(t, "/ip4/10.0.0.1/tcp/4002"))
		time.Sleep(5 * time.Second)
		ps := b.sent(t, "a", t0)
		if len(only(ps, pkt.probe)) != 0 {
			t.Errorf("SetAddrs probed")
		}
		byes := only(ps, pkt.ttl0)
		if len(byes) != 0 {
			t.Fatalf("SetAddrs sent goodbyes %v", byes)
		}
		ann := only(ps, func(p pkt) bool { return p.m.Response && !p.ttl0() })
		if len(ann) != 3 || !strings.Contains(ann[0].m.String(), "tcp/4002") || strings.Contains(ann[0].m.String(), "tcp/4001") {
			t.Fatalf("%d re-announcements", len(ann))
		}
		for _, rr := range ann[0].m.Answer {
			if rr.Header().Rrtype == dns.TypeTXT && !mdns.IsCacheFlush(rr) {
				t.Errorf("re-announced TXT without the cache-flush bit: %v", rr)
			}
		}

		// An address removed: goodbye for its A record, re-announce.
		eth := a.Iface("eth0")
		extra := netip.MustParsePrefix("10.0.7.7/16")
		if err := eth.AddPrefix(extra); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		t1 := time.Now()
		if err := eth.RemovePrefix(extra); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		ps = b.sent(t, "a", t1)
		byes = only(ps, pkt.ttl0)
		if len(byes) != 1 || !strings.Contains(byes[0].m.String(), "10.0.7.7") {
			t.Fatalf("address goodbyes %v", byes)
		}
		if len(only(ps, pkt.probe)) != 0 || len(only(ps, func(p pkt) bool { return p.m.Response && !p.ttl0() })) != 3 {
			t.Errorf("after address removal: want 3 announcements, no probes")
		}

		// Down and up: probe again.
		eth.SetUp(false)
		time.Sleep(time.Second)
		t2 := time.Now()
		eth.SetUp(true)
		time.Sleep(5 * time.Second)
		if n := len(only(b.sent(t, "a", t2), pkt.probe)); n != 3 {
			t.Errorf("%d probes after the interface came up", n)
		}
		// An address added: probe again.
		t3 := time.Now()
		if err := eth.AddPrefix(netip.MustParsePrefix("10.0.8.8/16")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		if n := len(only(b.sent(t, "a", t3), pkt.probe)); n != 3 {
			t.Errorf("%d probes after an address was added", n)
		}
		r.stop(t)
	})
}

// BCT: multiple interfaces / address records. Per-interface answers (§6.2,
// §15): a host on two segments announces on each only its addresses there,
// the multiaddrs reachable there (public, same subnet, own link-local
// without zone; never loopback, unspecified or the other subnet) and answers
// a v4 query over v4 only.
func TestPerInterfaceAddrs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBedOn(t, memnet.Config{Segments: []memnet.SegmentConfig{{Name: "lan"}, {Name: "wifi"}}})
		a := b.Host("a", memnet.IfaceConfig{Segment: "lan", Name: "eth0"}, memnet.IfaceConfig{Segment: "wifi", Name: "wlan0"})
		eth, wlan := a.Iface("eth0"), a.Iface("wlan0")
		ll := eth.Addr(false)
		addrs := maddrs(t,
			"/ip4/"+eth.Addr(true).String()+"/tcp/4001",
			"/ip4/"+wlan.Addr(true).String()+"/tcp/4001",
			"/ip4/127.0.0.1/tcp/4001",
			"/ip4/0.0.0.0/tcp/4001",
			"/ip4/1.2.3.4/tcp/4001",
			"/ip6zone/eth0/ip6/"+ll.String()+"/udp/4001/quic-v1",
		)
		r := b.start(a, Config{PeerName: testName, Addrs: addrs})
		announced()
		t0 := time.Now()
		b.inject(ptrQuery(), "", 0)
		time.Sleep(time.Second)
		r.stop(t)

		dec := mdns.NewDecoder(mdns.SpecService, 0)
		for _, tc := range []struct {
			seg       string
			own       netip.Addr
			want, not []string
		}{
			{"lan", eth.Addr(true), []string{eth.Addr(true).String(), "1.2.3.4", "/ip6/" + ll.String() + "/"}, []string{wlan.Addr(true).String(), "127.0.0.1", "0.0.0.0", "ip6zone"}},
			{"wifi", wlan.Addr(true), []string{wlan.Addr(true).String(), "1.2.3.4"}, []string{eth.Addr(true).String(), "127.0.0.1", "fe80"}},
		} {
			ps := only(b.sent(t, "a", b.T0), func(p pkt) bool { return p.Segment == tc.seg && p.m.Response && !p.ttl0() })
			if len(ps) == 0 {
				t.Fatalf("%s: nothing announced", tc.seg)
			}
			for _, p := range ps {
				res := dec.Decode(p.m, false)
				if len(res.Candidates) != 1 {
					t.Fatalf("%s: %+v", tc.seg, res)
				}
				c := res.Candidates[0]
				var got []string
				for _, a := range c.Addrs {
					got = append(got, a.String()+"/")
				}
				s := strings.Join(got, " ")
				for _, w := range tc.want {
					if !strings.Contains(s, w) {
						t.Errorf("%s: %q missing from %s", tc.seg, w, s)
					}
				}
				for _, n := range tc.not {
					if strings.Contains(s, n) {
						t.Errorf("%s: %q present in %s", tc.seg, n, s)
					}
				}
				var v4 []netip.Addr
				for _, ip := range c.IPs {
					if ip.Is4() {
						v4 = append(v4, ip)
					}
				}
				if !slices.Equal(v4, []netip.Addr{tc.own}) {
					t.Errorf("%s: A records %v", tc.seg, c.IPs)
				}
			}
		}
		// The v4 query was answered over v4 only, on its segment only.
		ans := only(b.sent(t, "a", t0), func(p pkt) bool { return p.m.Response && !p.ttl0() })
		if len(ans) != 1 || !ans[0].v4() || ans[0].Segment != "lan" {
			t.Errorf("%d answers to one v4 query", len(ans))
		}
	})
}

// BCT: none (API). New validates and copies its configuration.
func TestNewValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		c := b.Listen(b.Host("a"))
		id := testkit.ID(t, 1)
		if _, err := New(Config{PeerID: id}); !errors.Is(err, ErrNoConn) {
			t.Errorf("no conn: %v", err)
		}
		if _, err := New(Config{Conn: c}); !errors.Is(err, mdns.ErrNoID) {
			t.Errorf("no ID: %v", err)
		}
		if _, err := New(Config{Conn: c, PeerID: id, Service: "a,b"}); err == nil {
			t.Error("bad service accepted")
		}
		if _, err := New(Config{Conn: c, PeerID: id, Announcements: 1}); err == nil {
			t.Error("one announcement accepted")
		}
		other := maddrs(t, "/ip4/10.0.0.1/tcp/1/p2p/"+testkit.ID(t, 2).String())
		if _, err := New(Config{Conn: c, PeerID: id, Addrs: other}); err == nil {
			t.Error("address of another peer accepted")
		}
		for in, want := range map[string]string{"": mdns.SpecService, "CHORUS-peer-discovery": "CHORUS-peer-discovery.local.", "_x._udp.local.": "_x._udp.local.", "_x._udp.local": "_x._udp.local."} {
			r, err := New(Config{Conn: c, PeerID: id, Service: in})
			if err != nil || r.rs.Service != want {
				t.Errorf("service %q: %v %v", in, err, r)
			}
			if !mdns.IsPeerName(r.PeerName()) {
				t.Errorf("peer name %q", r.PeerName())
			}
		}
	})
}

// BCT: goodbye (context end); otherwise API. Run's life cycle: Run twice is
// refused, Close is idempotent, Run after Close is refused, the end of the
// context also stops Run (with goodbyes, returning nil as after Close).
func TestLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		r := b.start(b.Host("a"), Config{})
		time.Sleep(300 * time.Millisecond)
		if err := r.Run(context.Background()); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run: %v", err)
		}
		r.stop(t)
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if err := r.Run(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close: %v", err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		r2, err := New(Config{Conn: b.Listen(b.Host("b")), PeerID: testkit.ID(t, 2)})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- r2.Run(ctx) }()
		time.Sleep(5 * time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after the context ended: %v, want nil", err)
		}
		if r2.Stats().Goodbyes == 0 {
			t.Error("no goodbyes at the end of the context")
		}
		r2.Close()
		if s := r.Stats(); s.Probes == 0 || s.Received == 0 {
			t.Errorf("stats %+v", s)
		}
	})
}
