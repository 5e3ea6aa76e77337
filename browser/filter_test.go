package browser

import (
	"slices"
	"sort"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/malformed"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// TestEphemeralPort: rust-libp2p responses from an ephemeral port are
// accepted by default and refused with DisableEphemeralPort (§6).
func TestEphemeralPort(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "disabled"}[disable], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, envOpt{cfg: func(c *Config) { c.DisableEphemeralPort = disable }})
				id := testkit.ID(t, 1)
				addrs := []string{"/ip4/10.0.0.9/tcp/4001", "/ip4/10.0.0.9/udp/4001/quic-v1"}
				// rust-libp2p leaves the multicast TTL at the OS default, 1.
				e.injectTTL(rustResponse(t, id, "abcdefghijklmnopqrstuvwxyz0123456789", 360, addrs...), "10.0.0.9:41234", 1)
				ps := e.b.Peers()
				st := e.b.Stats()
				if disable {
					e.inject(rustResponse(t, id, "abcdefghijklmnopqrstuvwxyz0123456789", 360, addrs...), "10.0.0.9:41234")
					if len(ps) != 0 || len(e.b.Peers()) != 0 || st.DroppedTTL != 1 || e.b.Stats().DroppedPort != 1 {
						t.Fatalf("peers %v, DroppedPort %d", ps, st.DroppedPort)
					}
					return
				}
				if len(ps) != 1 || ps[0].ID != id || !slices.Equal(addrStrings(ps[0].Addrs), addrs) || st.Ephemeral != 1 {
					t.Fatalf("peers %v, stats %+v", ps, st)
				}
				if ev := lastEvent(t, e); ev.Kind != Found || ev.Flavour != mdns.FlavourRust {
					t.Errorf("%v %v", ev.Kind, ev.Flavour)
				}
				// Its PTR (a random label) is not cached: only the TXTs.
				if st.Records != 2 {
					t.Errorf("%d records cached, want 2 TXT", st.Records)
				}
				// A new response with a new label refreshes, no new records.
				e.inject(rustResponse(t, id, "zyxwvutsrqponmlkjihgfedcba9876543210", 360, addrs...), "10.0.0.9:41234")
				if st := e.b.Stats(); st.Records != 2 || len(e.evs()) != 1 {
					t.Errorf("records %d, events %v", st.Records, kinds(e.evs()))
				}
			})
		})
	}
}

func TestOwnIDIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		self := testkit.ID(t, 7)
		e := newEnv(t, envOpt{cfg: func(c *Config) { c.Self = self }})
		e.inject(goResponse(t, self, peerName(7), 4500, "/ip4/10.0.0.1/tcp/1"), "10.0.0.1")
		if len(e.b.Peers()) != 0 || e.b.Stats().Own != 1 {
			t.Fatalf("peers %v stats %+v", e.b.Peers(), e.b.Stats())
		}
	})
}

// TestAddressFilters: loopback addresses only from loopback, foreign /p2p
// dropped (relay hops kept), link-local zoned, AddrFilter applied.
func TestAddressFilters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		other := testkit.ID(t, 99)
		e := newEnv(t, envOpt{cfg: func(c *Config) {
			c.AddrFilter = func(_ peer.ID, a ma.Multiaddr) bool { return a.String() != "/ip4/10.0.0.9/tcp/666" }
		}})
		id := testkit.ID(t, 1)
		e.inject(goResponse(t, id, peerName(1), 4500,
			"/ip4/127.0.0.1/tcp/1", "/ip6/::1/tcp/1", "/ip4/10.0.0.9/tcp/1",
			"/ip6/fe80::9/tcp/1", "/ip4/10.0.0.9/tcp/2/p2p/"+other.String()+"/p2p-circuit",
			"/ip4/10.0.0.9/tcp/666"), "10.0.0.9")
		want := []string{"/ip4/10.0.0.9/tcp/1", "/ip6zone/eth0/ip6/fe80::9/tcp/1", "/ip4/10.0.0.9/tcp/2/p2p/" + other.String() + "/p2p-circuit"}
		ps := e.b.Peers()
		if len(ps) != 1 || !slices.Equal(addrStrings(ps[0].Addrs), want) {
			t.Fatalf("addrs %v, want %v", ps, want)
		}
		if st := e.b.Stats(); st.FilteredAddrs != 3 {
			t.Errorf("FilteredAddrs %d, want 3", st.FilteredAddrs)
		}
		// A foreign /p2p in the middle of an address is dropped.
		a := ma.StringCast("/ip4/10.0.0.9/tcp/3/p2p/" + other.String() + "/tcp/4")
		if !foreignP2P(a) {
			t.Error("foreign /p2p kept")
		}
	})
}

// TestUnspecifiedAddress: py-libp2p announces the socket it listens on as
// it is; an unspecified IP becomes the packet's source address of its
// family (as rust-libp2p does), and is dropped when of the other family.
func TestUnspecifiedAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		id := testkit.ID(t, 1)
		e.inject(goResponse(t, id, peerName(1), 4500, "/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001", "/ip4/10.0.0.9/udp/4001/quic-v1"), "10.0.0.9")
		want := []string{"/ip4/10.0.0.9/tcp/4001", "/ip4/10.0.0.9/udp/4001/quic-v1"}
		ps := e.b.Peers()
		if len(ps) != 1 || !slices.Equal(slices.Sorted(slices.Values(addrStrings(ps[0].Addrs))), want) {
			t.Fatalf("addrs %v, want %v", ps, want)
		}
		if st := e.b.Stats(); st.FilteredAddrs != 1 {
			t.Errorf("FilteredAddrs %d, want 1 (the IPv6 one)", st.FilteredAddrs)
		}
	})
}

// TestLoopbackFromLoopback: a packet from a loopback source keeps them.
func TestLoopbackFromLoopback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		// OnLink accepts loopback sources only on a loopback interface, so
		// feed the packet directly, as from a loopback interface.
		e.b.mu.Lock()
		for _, s := range e.b.ifaces {
			s.info.Loopback = true
		}
		e.b.mu.Unlock()
		e.inject(goResponse(t, testkit.ID(t, 1), peerName(1), 4500, "/ip4/127.0.0.1/tcp/1"), "127.0.0.1")
		if ps := e.b.Peers(); len(ps) != 1 || len(ps[0].Addrs) != 1 {
			t.Fatalf("peers %v", ps)
		}
	})
}

// TestSecurityDrops: IP TTL other than 255 and off-link sources (§11).
func TestSecurityDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		pkt := goResponse(t, testkit.ID(t, 1), peerName(1), 4500, "/ip4/10.0.0.9/tcp/1")
		src := transport.Packet{Data: pkt, Dst: transport.GroupV4, TTL: 64}
		src.Src = mustAP("10.0.0.9:5353")
		if err := e.LAN.Inject("", e.iface, src); err != nil {
			t.Fatal(err)
		}
		e.inject(pkt, "192.0.2.1")
		st := e.b.Stats()
		if st.DroppedTTL != 1 || st.DroppedOffLink != 1 || len(e.b.Peers()) != 0 {
			t.Fatalf("stats %+v", st)
		}
		// TTL -1 (unknown) is accepted.
		e.b.Feed(transport.Packet{Data: pkt, Src: mustAP("10.0.0.9:5353"), Dst: transport.GroupV4, IfIndex: e.iface.Index(), TTL: -1}, e.T0)
		if len(e.b.Peers()) != 1 {
			t.Error("TTL -1 refused")
		}
	})
}

// TestMalformedCorpus: every hostile packet is dropped and counted, none
// panics, none yields a peer.
func TestMalformedCorpus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		for _, c := range malformed.Cases() {
			before := e.b.Stats()
			e.inject(c.Data, "10.0.0.9")
			after := e.b.Stats()
			drops := func(s Stats) uint64 {
				return s.DroppedMalformed + s.Ignored + s.DroppedTTL + s.DroppedOffLink + s.DroppedPort
			}
			if after.Packets == before.Packets {
				t.Errorf("%s: not received", c.Name)
			} else if drops(after) == drops(before) {
				t.Errorf("%s: not counted", c.Name)
			}
			if len(e.b.Peers()) != 0 {
				t.Fatalf("%s: yielded %v", c.Name, e.b.Peers())
			}
		}
		t.Logf("%+v", e.b.Stats())
	})
}

// TestProbeHints: by default a peer proposed in a probe is found at once
// (RFC 6762 §8.1); its announcement with the same addresses changes
// nothing; a tie-break loss (§8.2, the same addresses re-proposed under a
// new name) changes nothing either; a probe never followed by an
// announcement is lost once its provisional records expire. IgnoreProbes
// finds peers only from announcements.
func TestProbeHints(t *testing.T) {
	probe := func(t *testing.T, name string, id peer.ID, addr string) []byte {
		inst := name + "." + mdns.SpecService
		m := new(dns.Msg)
		m.Question = []dns.Question{{Name: inst, Qtype: dns.TypeANY, Qclass: dns.ClassINET}}
		m.Ns = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 4500},
			Txt: []string{"dnsaddr=" + addr + "/p2p/" + id.String()}}}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const addr = "/ip4/10.0.0.9/tcp/1"
	t.Run("found at the first probe, the announcement changes nothing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, envOpt{})
			id := testkit.ID(t, 1)
			e.inject(probe(t, peerName(1), id, addr), "10.0.0.9")
			if evs := e.evs(); len(evs) != 1 || evs[0].Kind != Found || evs[0].Peer.ID != id || len(e.b.Peers()) != 1 {
				t.Fatalf("after the probe: events %v, peers %v", kinds(evs), e.b.Peers())
			}
			time.Sleep(250 * time.Millisecond)
			e.inject(probe(t, peerName(1), id, addr), "10.0.0.9") // the second probe
			// A tie-break lost: the same addresses proposed under a new name.
			time.Sleep(time.Second)
			e.inject(probe(t, peerName(2), id, addr), "10.0.0.9")
			time.Sleep(750 * time.Millisecond)
			e.inject(goResponse(t, id, peerName(2), 4500, addr), "10.0.0.9")
			time.Sleep(10 * time.Second) // the provisional records expired
			if evs := e.evs(); len(evs) != 1 {
				t.Errorf("events %v, want the one found", kinds(evs))
			}
			if ps := e.b.Peers(); len(ps) != 1 || ps[0].ID != id {
				t.Errorf("peers %v", ps)
			}
		})
	})
	t.Run("a probe never announced is lost", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, envOpt{})
			id := testkit.ID(t, 1)
			e.inject(probe(t, peerName(1), id, addr), "10.0.0.9")
			time.Sleep(probeHold + time.Second)
			if evs := e.evs(); len(evs) != 2 || evs[0].Kind != Found || evs[1].Kind != Lost {
				t.Fatalf("events %v, want found then lost", kinds(evs))
			}
			if len(e.b.Peers()) != 0 {
				t.Errorf("peers %v", e.b.Peers())
			}
		})
	})
	t.Run("IgnoreProbes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, envOpt{cfg: func(c *Config) { c.IgnoreProbes = true }})
			id := testkit.ID(t, 1)
			e.inject(probe(t, peerName(1), id, addr), "10.0.0.9")
			if evs := e.evs(); len(evs) != 0 || len(e.b.Peers()) != 0 {
				t.Fatalf("IgnoreProbes: events %v, peers %v", kinds(evs), e.b.Peers())
			}
		})
	})
}

// TestMergeAcrossIfacesAndFlavours: one peer announced go-libp2p style on
// one interface and rust-libp2p style on another is one peer whose
// addresses are the union (link-local ones zoned per interface); losing
// one interface only updates it.
func TestMergeAcrossIfacesAndFlavours(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{segments: []memnet.SegmentConfig{{Name: "a"}, {Name: "b"}},
			ifaces: []memnet.IfaceConfig{{Segment: "a", Name: "eth0"}, {Segment: "b", Name: "wlan0"}}})
		id := testkit.ID(t, 1)
		eth0, wlan0 := e.host.Iface("eth0"), e.host.Iface("wlan0")
		e.Inject("", eth0, "10.0.0.9:5353", 0, goResponse(t, id, peerName(1), 4500, "/ip4/10.0.0.9/tcp/1", "/ip6/fe80::9/tcp/1"))
		syncWait()
		e.Inject("", wlan0, "10.1.0.9:40000", 0, rustResponse(t, id, "abcdefghijklmnopqrstuvwxyz0123456789", 360, "/ip4/10.1.0.9/tcp/1", "/ip6/fe80::9/tcp/1"))
		syncWait()
		ps := e.b.Peers()
		if len(ps) != 1 {
			t.Fatalf("peers %v", ps)
		}
		got := addrStrings(ps[0].Addrs)
		sort.Strings(got)
		want := []string{"/ip4/10.0.0.9/tcp/1", "/ip4/10.1.0.9/tcp/1", "/ip6zone/eth0/ip6/fe80::9/tcp/1", "/ip6zone/wlan0/ip6/fe80::9/tcp/1"}
		if !slices.Equal(got, want) {
			t.Fatalf("addrs %v, want %v", got, want)
		}
		evs := e.evs()
		if k := kinds(evs); !slices.Equal(k, []string{"found", "updated"}) || evs[1].Flavour != mdns.FlavourRust {
			t.Fatalf("events %v", k)
		}
		wlan0.SetUp(false)
		time.Sleep(time.Millisecond)
		syncWait()
		if k := kinds(e.evs()); len(k) != 2 {
			t.Fatalf("events %v within the down grace (§10.3)", k)
		}
		time.Sleep(ifaceDownGrace)
		syncWait()
		evs = e.evs()
		if k := kinds(evs); !slices.Equal(k, []string{"found", "updated", "updated"}) || len(evs[2].Peer.Addrs) != 2 {
			t.Fatalf("events %v", k)
		}
	})
}
