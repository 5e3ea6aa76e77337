package memnet_test

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"

	"go.uber.org/goleak"

	"github.com/chorus-services/discovery/internal/testkit/memkit"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ifIndex(h *memnet.Host) int { return h.Ifaces()[0].Index() }

func TestMulticastDeliveryAndLoopback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memkit.NewLAN(t, memnet.Config{Segments: []memnet.SegmentConfig{{Name: "a"}, {Name: "b"}}})
		h1 := memkit.AddHost(t, l, "h1", memnet.IfaceConfig{Segment: "a"})
		h2 := memkit.AddHost(t, l, "h2", memnet.IfaceConfig{Segment: "a", Index: 7})
		h3 := memkit.AddHost(t, l, "h3", memnet.IfaceConfig{Segment: "b"})
		c1 := memkit.Listen(t, h1)
		c2 := memkit.Listen(t, h2)
		c3 := memkit.Listen(t, h3)

		buf := []byte("hello")
		c1.Write(t, transport.Packet{Data: buf, Dst: transport.GroupV4, IfIndex: ifIndex(h1)})
		copy(buf, "XXXXX") // the LAN must have copied the payload

		src := netip.AddrPortFrom(h1.Ifaces()[0].Addr(true), 5353)
		if src.Addr() != netip.MustParseAddr("10.0.0.1") {
			t.Fatalf("auto address = %v", src.Addr())
		}
		for _, tc := range []struct {
			c     memkit.Conn
			index int
		}{{c1, 1}, {c2, 7}} {
			got := tc.c.Drain()
			if len(got) != 1 {
				t.Fatalf("%s: got %d packets, want 1", tc.c.Host().Name(), len(got))
			}
			p := got[0]
			if string(p.Data) != "hello" || p.Src != src || p.Dst != transport.GroupV4 ||
				p.IfIndex != tc.index || p.TTL != 255 || !p.Multicast {
				t.Errorf("%s: got %+v", tc.c.Host().Name(), p)
			}
		}
		if got := c3.Drain(); len(got) != 0 {
			t.Errorf("packet crossed segments: %+v", got)
		}

		// IPv6: Src is the link-local address.
		c2.Write(t, transport.Packet{Data: []byte("v6"), Dst: transport.GroupV6, IfIndex: 7})
		got := c1.Drain()
		want := netip.MustParseAddr("fe80::1:2")
		if len(got) != 1 || got[0].Src.Addr() != want || got[0].Dst != transport.GroupV6 {
			t.Fatalf("v6: got %+v, want Src %v", got, want)
		}
		if n := len(c2.Drain()); n != 1 {
			t.Errorf("v6 loopback: %d packets", n)
		}
	})
}

func TestNoLoopbackAndPortSharing(t *testing.T) {
	l := memkit.NewLAN(t)
	h1 := memkit.AddHost(t, l, "h1")
	h2 := memkit.AddHost(t, l, "h2")
	quiet := memkit.Listen(t, h1, memnet.ListenOptions{NoLoopback: true})
	other := memkit.Listen(t, h1) // shares port 5353
	c2a := memkit.Listen(t, h2)
	c2b := memkit.Listen(t, h2)

	quiet.Write(t, transport.Packet{Data: []byte("q"), Dst: transport.GroupV4, IfIndex: 1})
	if n := len(quiet.Drain()) + len(other.Drain()); n != 0 {
		t.Errorf("loopback disabled, yet %d copies on the sending host", n)
	}
	if len(c2a.Drain()) != 1 || len(c2b.Drain()) != 1 {
		t.Error("every Conn sharing the port must get a copy")
	}

	other.Write(t, transport.Packet{Data: []byte("o"), Dst: transport.GroupV4, IfIndex: 1})
	if len(quiet.Drain()) != 1 || len(other.Drain()) != 1 {
		t.Error("loopback on: both Conns of the sending host get a copy")
	}
	c2a.Drain()
	c2b.Drain()

	// Unicast to a shared port reaches only the most recently opened Conn.
	dst := netip.AddrPortFrom(h2.Ifaces()[0].Addr(true), 5353)
	quiet.Write(t, transport.Packet{Data: []byte("u"), Dst: dst})
	if a, b := len(c2a.Drain()), len(c2b.Drain()); a != 0 || b != 1 {
		t.Errorf("unicast copies = %d, %d; want 0, 1", a, b)
	}
}

func TestUnicastToAll(t *testing.T) {
	l := memkit.NewLAN(t, memnet.Config{UnicastToAll: true})
	h1, h2 := memkit.AddHost(t, l, "h1"), memkit.AddHost(t, l, "h2")
	c1 := memkit.Listen(t, h1)
	a, b := memkit.Listen(t, h2), memkit.Listen(t, h2)
	c1.Write(t, transport.Packet{Data: []byte("u"), Dst: netip.AddrPortFrom(h2.Ifaces()[0].Addr(false), 5353), IfIndex: 1})
	if len(a.Drain()) != 1 || len(b.Drain()) != 1 {
		t.Error("UnicastToAll: both Conns must get the packet")
	}
}

func TestUnicast(t *testing.T) {
	l := memkit.NewLAN(t, memnet.Config{Segments: []memnet.SegmentConfig{{Name: "a"}, {Name: "b"}}})
	h1 := memkit.AddHost(t, l, "h1", memnet.IfaceConfig{Segment: "a", GlobalV6: true})
	h2 := memkit.AddHost(t, l, "h2", memnet.IfaceConfig{Segment: "a", GlobalV6: true})
	h3 := memkit.AddHost(t, l, "h3", memnet.IfaceConfig{Segment: "a"})
	hb := memkit.AddHost(t, l, "hb", memnet.IfaceConfig{Segment: "b"})
	c1, c2, c3, cb := memkit.Listen(t, h1), memkit.Listen(t, h2),
		memkit.Listen(t, h3), memkit.Listen(t, hb)

	// IfIndex 0 routes by subnet.
	dst := netip.AddrPortFrom(h2.Ifaces()[0].Addr(true), 5353)
	c1.Write(t, transport.Packet{Data: []byte("u4"), Dst: dst})
	got := c2.Drain()
	if len(got) != 1 || got[0].Multicast || got[0].Dst != dst || got[0].Src.Addr() != h1.Ifaces()[0].Addr(true) {
		t.Fatalf("unicast: %+v", got)
	}
	if len(c1.Drain())+len(c3.Drain())+len(cb.Drain()) != 0 {
		t.Error("unicast reached a non-addressee")
	}

	// The global IPv6 address routes without index; link-local needs one.
	g := netip.MustParseAddr("2001:db8::2")
	c1.Write(t, transport.Packet{Data: []byte("g"), Dst: netip.AddrPortFrom(g, 5353)})
	if len(c2.Drain()) != 1 {
		t.Error("global v6 unicast not delivered")
	}
	ll := netip.AddrPortFrom(h2.Ifaces()[0].Addr(false), 5353)
	if err := c1.WritePacket(&transport.Packet{Data: []byte("x"), Dst: ll}); !errors.Is(err, transport.ErrNoInterface) {
		t.Errorf("link-local without index: err = %v", err)
	}
	zoned := netip.AddrPortFrom(ll.Addr().WithZone("eth0"), 5353)
	c1.Write(t, transport.Packet{Data: []byte("z"), Dst: zoned})
	if got := c2.Drain(); len(got) != 1 || got[0].Dst != ll {
		t.Errorf("zoned link-local: %+v", got)
	}

	// Addresses of another segment are unreachable; that is no error.
	c1.Write(t, transport.Packet{Data: []byte("x"), Dst: netip.AddrPortFrom(hb.Ifaces()[0].Addr(false), 5353), IfIndex: 1})
	if len(cb.Drain()) != 0 || l.Stats().Unroutable != 1 {
		t.Errorf("cross-segment unicast: unroutable = %d", l.Stats().Unroutable)
	}
	if err := c1.WritePacket(&transport.Packet{Data: []byte("x"), Dst: netip.MustParseAddrPort("192.0.2.1:5353")}); !errors.Is(err, transport.ErrNoInterface) {
		t.Errorf("off-link without index: err = %v", err)
	}
	// Unicast to the own address is looped back.
	c1.Write(t, transport.Packet{Data: []byte("self"), Dst: netip.AddrPortFrom(h1.Ifaces()[0].Addr(true), 5353)})
	if got := c1.Drain(); len(got) != 1 || got[0].Src.Addr() != got[0].Dst.Addr() {
		t.Errorf("self unicast: %+v", got)
	}
}

func TestFamilySeparation(t *testing.T) {
	l := memkit.NewLAN(t)
	dual := memkit.AddHost(t, l, "dual")
	v4 := memkit.AddHost(t, l, "v4", memnet.IfaceConfig{Family: memnet.FamilyV4})
	v6 := memkit.AddHost(t, l, "v6", memnet.IfaceConfig{Family: memnet.FamilyV6})
	cd, c4, c6 := memkit.Listen(t, dual), memkit.Listen(t, v4), memkit.Listen(t, v6)
	v6only := memkit.Listen(t, dual, memnet.ListenOptions{NoV4: true})

	cd.Write(t, transport.Packet{Data: []byte("4"), Dst: transport.GroupV4, IfIndex: 1})
	if len(c4.Drain()) != 1 || len(c6.Drain()) != 0 || len(v6only.Drain()) != 0 || len(cd.Drain()) != 1 {
		t.Error("IPv4 group delivery")
	}
	cd.Write(t, transport.Packet{Data: []byte("6"), Dst: transport.GroupV6, IfIndex: 1})
	if len(c4.Drain()) != 0 || len(c6.Drain()) != 1 || len(v6only.Drain()) != 1 || len(cd.Drain()) != 1 {
		t.Error("IPv6 group delivery")
	}
	if err := c4.WritePacket(&transport.Packet{Data: []byte("x"), Dst: transport.GroupV6, IfIndex: 1}); !errors.Is(err, transport.ErrNoInterface) {
		t.Errorf("v6 from v4-only interface: err = %v", err)
	}
	if err := v6only.WritePacket(&transport.Packet{Data: []byte("x"), Dst: transport.GroupV4, IfIndex: 1}); !errors.Is(err, transport.ErrNoInterface) {
		t.Errorf("v4 from NoV4 Conn: err = %v", err)
	}
	ifs := c4.Interfaces()
	if len(ifs) != 1 || !ifs[0].V4 || ifs[0].V6 || !ifs[0].Up || !ifs[0].Multicast || ifs[0].MTU != 1500 || ifs[0].Name != "eth0" {
		t.Errorf("Interfaces() = %+v", ifs)
	}
	if ifs := v6only.Interfaces(); ifs[0].V4 || !ifs[0].V6 || len(ifs[0].Prefixes) != 2 {
		t.Errorf("NoV4 Interfaces() = %+v", ifs)
	}
}

func TestInjectSpoofed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memkit.NewLAN(t)
		h1, h2 := memkit.AddHost(t, l, "h1"), memkit.AddHost(t, l, "h2")
		c1, c2 := memkit.Listen(t, h1), memkit.Listen(t, h2)
		legacy := memkit.Listen(t, h2, memnet.ListenOptions{Port: 40000})
		var taps []memnet.TapRecord
		defer l.Tap(func(r memnet.TapRecord) { taps = append(taps, r) })()

		spoof := netip.MustParseAddrPort("203.0.113.7:5353")
		if err := l.Inject(memnet.DefaultSegment, nil, transport.Packet{
			Data: []byte{0xde, 0xad}, Src: spoof, Dst: transport.GroupV4, TTL: 1,
		}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []memkit.Conn{c1, c2} {
			got := c.Drain()
			if len(got) != 1 || got[0].Src != spoof || got[0].TTL != 1 || !got[0].Multicast ||
				!bytes.Equal(got[0].Data, []byte{0xde, 0xad}) || got[0].IfIndex != 1 {
				t.Errorf("%s: %+v", c.Host().Name(), got)
			}
		}
		if len(legacy.Drain()) != 0 {
			t.Error("group packet reached a Conn on another port")
		}
		// To one interface only, unicast to a port other than 5353.
		if err := l.Inject("", h2.Ifaces()[0], transport.Packet{
			Data: []byte("garbage"), Src: spoof, Dst: netip.MustParseAddrPort("10.0.0.2:40000"),
		}); err != nil {
			t.Fatal(err)
		}
		if len(c1.Drain()) != 0 || len(c2.Drain()) != 0 {
			t.Error("port 40000 packet reached a 5353 Conn")
		}
		if got := legacy.Drain(); len(got) != 1 || got[0].TTL != 255 || got[0].Multicast {
			t.Errorf("legacy: %+v", got)
		}
		if len(taps) != 2 || !taps[0].Injected || taps[0].Host != "" || taps[0].Packet.Src != spoof {
			t.Errorf("taps: %+v", taps)
		}
		if s := l.Stats(); s.Injected != 2 || s.Sent != 0 {
			t.Errorf("stats: %+v", s)
		}
		// Other multicast groups have no members.
		if err := l.Inject(memnet.DefaultSegment, nil, transport.Packet{
			Data: []byte("x"), Src: spoof, Dst: netip.MustParseAddrPort("224.0.0.1:5353"),
		}); err != nil {
			t.Fatal(err)
		}
		if len(c1.Drain())+len(c2.Drain()) != 0 {
			t.Error("a packet to 224.0.0.1 reached an mDNS Conn")
		}
		if err := l.Inject("nope", nil, transport.Packet{Dst: transport.GroupV4}); err == nil {
			t.Error("unknown segment accepted")
		}
	})
}

func TestLegacyUnicastPort(t *testing.T) {
	l := memkit.NewLAN(t)
	resp, q := memkit.AddHost(t, l, "responder"), memkit.AddHost(t, l, "querier")
	cr := memkit.Listen(t, resp)
	q5353 := memkit.Listen(t, q)
	legacy := memkit.Listen(t, q, memnet.ListenOptions{Port: 40000})

	legacy.Write(t, transport.Packet{Data: []byte("query"), Dst: transport.GroupV4, IfIndex: 1})
	got := cr.Drain()
	if len(got) != 1 || got[0].Src.Port() != 40000 {
		t.Fatalf("responder got %+v", got)
	}
	if len(legacy.Drain()) != 0 {
		t.Error("a legacy Conn joins no group, so it gets no loopback copy")
	}
	q5353.Drain()
	if ifs := legacy.Interfaces(); ifs[0].V4 || ifs[0].V6 {
		t.Errorf("legacy Conn reports group membership: %+v", ifs)
	}

	cr.Write(t, transport.Packet{Data: []byte("answer"), Dst: got[0].Src, IfIndex: got[0].IfIndex})
	if r := legacy.Drain(); len(r) != 1 || string(r[0].Data) != "answer" || r[0].Dst.Port() != 40000 {
		t.Errorf("legacy reply: %+v", r)
	}
	if len(q5353.Drain()) != 0 {
		t.Error("reply to port 40000 reached the 5353 Conn")
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []memnet.Config{
		{QueueLen: -1},
		{Segments: []memnet.SegmentConfig{{Name: ""}}},
		{Segments: []memnet.SegmentConfig{{Name: "a"}, {Name: "a"}}},
		{Segments: []memnet.SegmentConfig{{Name: "a", Link: memnet.Link{Loss: 1.5}}}},
		{Segments: []memnet.SegmentConfig{{Name: "a", Link: memnet.Link{Reorder: 0.5}}}},
		{Segments: []memnet.SegmentConfig{{Name: "a", Link: memnet.Link{Latency: -1}}}},
	}
	for i, cfg := range bad {
		if _, err := memnet.New(cfg); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
	l := memkit.NewLAN(t)
	memkit.AddHost(t, l, "h")
	for i, ifs := range [][]memnet.IfaceConfig{
		{{Segment: "nope"}},
		{{MTU: 100}},
		{{Name: "x"}, {Name: "x"}},
		{{Index: 3}, {Index: 3}},
		{{Prefixes: []netip.Prefix{netip.MustParsePrefix("224.0.0.251/32")}}},
	} {
		if _, err := l.AddHost("bad", ifs...); err == nil {
			t.Errorf("interfaces %d accepted", i)
		}
	}
	if _, err := l.AddHost("h"); err == nil {
		t.Error("duplicate host accepted")
	}
	if err := l.SetLink("nope", memnet.Link{}); err == nil {
		t.Error("SetLink on unknown segment accepted")
	}
	if _, err := l.Host("h").Listen(memnet.ListenOptions{NoV4: true, NoV6: true}); err == nil {
		t.Error("Conn without family accepted")
	}
}
