package memnet_test

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"

	"go.uber.org/goleak"

	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newLAN builds a LAN and closes it at the end of the test.
func newLAN(t *testing.T, cfg memnet.Config) *memnet.LAN {
	t.Helper()
	l, err := memnet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func addHost(t *testing.T, l *memnet.LAN, name string, ifs ...memnet.IfaceConfig) *memnet.Host {
	t.Helper()
	h, err := l.AddHost(name, ifs...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// conn is a Conn with one View open from the start: the reader the tests
// look through.
type conn struct {
	*memnet.Conn
	v *transport.View
}

func (c conn) ReadPacket(buf []byte, p *transport.Packet) error { return c.v.ReadPacket(buf, p) }
func (c conn) Events() <-chan transport.Event                   { return c.v.Events() }

func listen(t *testing.T, h *memnet.Host, o memnet.ListenOptions) conn {
	t.Helper()
	c, err := h.Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.View(transport.ViewConfig{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return conn{c, v}
}

// drain reads every packet queued on c without blocking.
func drain(t *testing.T, c conn) []transport.Packet {
	t.Helper()
	var out []transport.Packet
	for c.Stats().Queued > 0 {
		var p transport.Packet
		if err := c.ReadPacket(make([]byte, 9000), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func write(t *testing.T, c conn, p transport.Packet) {
	t.Helper()
	if err := c.WritePacket(&p); err != nil {
		t.Fatal(err)
	}
}

func ifIndex(h *memnet.Host) int { return h.Ifaces()[0].Index() }

func TestMulticastDeliveryAndLoopback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLAN(t, memnet.Config{Segments: []memnet.SegmentConfig{{Name: "a"}, {Name: "b"}}})
		h1 := addHost(t, l, "h1", memnet.IfaceConfig{Segment: "a"})
		h2 := addHost(t, l, "h2", memnet.IfaceConfig{Segment: "a", Index: 7})
		h3 := addHost(t, l, "h3", memnet.IfaceConfig{Segment: "b"})
		c1 := listen(t, h1, memnet.ListenOptions{})
		c2 := listen(t, h2, memnet.ListenOptions{})
		c3 := listen(t, h3, memnet.ListenOptions{})

		buf := []byte("hello")
		write(t, c1, transport.Packet{Data: buf, Dst: transport.GroupV4, IfIndex: ifIndex(h1)})
		copy(buf, "XXXXX") // the LAN must have copied the payload

		src := netip.AddrPortFrom(h1.Ifaces()[0].Addr(true), 5353)
		if src.Addr() != netip.MustParseAddr("10.0.0.1") {
			t.Fatalf("auto address = %v", src.Addr())
		}
		for _, tc := range []struct {
			c     conn
			index int
		}{{c1, 1}, {c2, 7}} {
			got := drain(t, tc.c)
			if len(got) != 1 {
				t.Fatalf("%s: got %d packets, want 1", tc.c.Host().Name(), len(got))
			}
			p := got[0]
			if string(p.Data) != "hello" || p.Src != src || p.Dst != transport.GroupV4 ||
				p.IfIndex != tc.index || p.TTL != 255 || !p.Multicast {
				t.Errorf("%s: got %+v", tc.c.Host().Name(), p)
			}
		}
		if got := drain(t, c3); len(got) != 0 {
			t.Errorf("packet crossed segments: %+v", got)
		}

		// IPv6: Src is the link-local address.
		write(t, c2, transport.Packet{Data: []byte("v6"), Dst: transport.GroupV6, IfIndex: 7})
		got := drain(t, c1)
		want := netip.MustParseAddr("fe80::1:2")
		if len(got) != 1 || got[0].Src.Addr() != want || got[0].Dst != transport.GroupV6 {
			t.Fatalf("v6: got %+v, want Src %v", got, want)
		}
		if n := len(drain(t, c2)); n != 1 {
			t.Errorf("v6 loopback: %d packets", n)
		}
	})
}

func TestNoLoopbackAndPortSharing(t *testing.T) {
	l := newLAN(t, memnet.Config{})
	h1 := addHost(t, l, "h1")
	h2 := addHost(t, l, "h2")
	quiet := listen(t, h1, memnet.ListenOptions{NoLoopback: true})
	other := listen(t, h1, memnet.ListenOptions{}) // shares port 5353
	c2a := listen(t, h2, memnet.ListenOptions{})
	c2b := listen(t, h2, memnet.ListenOptions{})

	write(t, quiet, transport.Packet{Data: []byte("q"), Dst: transport.GroupV4, IfIndex: 1})
	if n := len(drain(t, quiet)) + len(drain(t, other)); n != 0 {
		t.Errorf("loopback disabled, yet %d copies on the sending host", n)
	}
	if len(drain(t, c2a)) != 1 || len(drain(t, c2b)) != 1 {
		t.Error("every Conn sharing the port must get a copy")
	}

	write(t, other, transport.Packet{Data: []byte("o"), Dst: transport.GroupV4, IfIndex: 1})
	if len(drain(t, quiet)) != 1 || len(drain(t, other)) != 1 {
		t.Error("loopback on: both Conns of the sending host get a copy")
	}
	drain(t, c2a)
	drain(t, c2b)

	// Unicast to a shared port reaches only the most recently opened Conn.
	dst := netip.AddrPortFrom(h2.Ifaces()[0].Addr(true), 5353)
	write(t, quiet, transport.Packet{Data: []byte("u"), Dst: dst})
	if a, b := len(drain(t, c2a)), len(drain(t, c2b)); a != 0 || b != 1 {
		t.Errorf("unicast copies = %d, %d; want 0, 1", a, b)
	}
}

func TestUnicastToAll(t *testing.T) {
	l := newLAN(t, memnet.Config{UnicastToAll: true})
	h1, h2 := addHost(t, l, "h1"), addHost(t, l, "h2")
	c1 := listen(t, h1, memnet.ListenOptions{})
	a, b := listen(t, h2, memnet.ListenOptions{}), listen(t, h2, memnet.ListenOptions{})
	write(t, c1, transport.Packet{Data: []byte("u"), Dst: netip.AddrPortFrom(h2.Ifaces()[0].Addr(false), 5353), IfIndex: 1})
	if len(drain(t, a)) != 1 || len(drain(t, b)) != 1 {
		t.Error("UnicastToAll: both Conns must get the packet")
	}
}

func TestUnicast(t *testing.T) {
	l := newLAN(t, memnet.Config{Segments: []memnet.SegmentConfig{{Name: "a"}, {Name: "b"}}})
	h1 := addHost(t, l, "h1", memnet.IfaceConfig{Segment: "a", GlobalV6: true})
	h2 := addHost(t, l, "h2", memnet.IfaceConfig{Segment: "a", GlobalV6: true})
	h3 := addHost(t, l, "h3", memnet.IfaceConfig{Segment: "a"})
	hb := addHost(t, l, "hb", memnet.IfaceConfig{Segment: "b"})
	c1, c2, c3, cb := listen(t, h1, memnet.ListenOptions{}), listen(t, h2, memnet.ListenOptions{}),
		listen(t, h3, memnet.ListenOptions{}), listen(t, hb, memnet.ListenOptions{})

	// IfIndex 0 routes by subnet.
	dst := netip.AddrPortFrom(h2.Ifaces()[0].Addr(true), 5353)
	write(t, c1, transport.Packet{Data: []byte("u4"), Dst: dst})
	got := drain(t, c2)
	if len(got) != 1 || got[0].Multicast || got[0].Dst != dst || got[0].Src.Addr() != h1.Ifaces()[0].Addr(true) {
		t.Fatalf("unicast: %+v", got)
	}
	if len(drain(t, c1))+len(drain(t, c3))+len(drain(t, cb)) != 0 {
		t.Error("unicast reached a non-addressee")
	}

	// The global IPv6 address routes without index; link-local needs one.
	g := netip.MustParseAddr("2001:db8::2")
	write(t, c1, transport.Packet{Data: []byte("g"), Dst: netip.AddrPortFrom(g, 5353)})
	if len(drain(t, c2)) != 1 {
		t.Error("global v6 unicast not delivered")
	}
	ll := netip.AddrPortFrom(h2.Ifaces()[0].Addr(false), 5353)
	if err := c1.WritePacket(&transport.Packet{Data: []byte("x"), Dst: ll}); !errors.Is(err, transport.ErrNoInterface) {
		t.Errorf("link-local without index: err = %v", err)
	}
	zoned := netip.AddrPortFrom(ll.Addr().WithZone("eth0"), 5353)
	write(t, c1, transport.Packet{Data: []byte("z"), Dst: zoned})
	if got := drain(t, c2); len(got) != 1 || got[0].Dst != ll {
		t.Errorf("zoned link-local: %+v", got)
	}

	// Addresses of another segment are unreachable; that is no error.
	write(t, c1, transport.Packet{Data: []byte("x"), Dst: netip.AddrPortFrom(hb.Ifaces()[0].Addr(false), 5353), IfIndex: 1})
	if len(drain(t, cb)) != 0 || l.Stats().Unroutable != 1 {
		t.Errorf("cross-segment unicast: unroutable = %d", l.Stats().Unroutable)
	}
	if err := c1.WritePacket(&transport.Packet{Data: []byte("x"), Dst: netip.MustParseAddrPort("192.0.2.1:5353")}); !errors.Is(err, transport.ErrNoInterface) {
		t.Errorf("off-link without index: err = %v", err)
	}
	// Unicast to the own address is looped back.
	write(t, c1, transport.Packet{Data: []byte("self"), Dst: netip.AddrPortFrom(h1.Ifaces()[0].Addr(true), 5353)})
	if got := drain(t, c1); len(got) != 1 || got[0].Src.Addr() != got[0].Dst.Addr() {
		t.Errorf("self unicast: %+v", got)
	}
}

func TestFamilySeparation(t *testing.T) {
	l := newLAN(t, memnet.Config{})
	dual := addHost(t, l, "dual")
	v4 := addHost(t, l, "v4", memnet.IfaceConfig{Family: memnet.FamilyV4})
	v6 := addHost(t, l, "v6", memnet.IfaceConfig{Family: memnet.FamilyV6})
	cd, c4, c6 := listen(t, dual, memnet.ListenOptions{}), listen(t, v4, memnet.ListenOptions{}), listen(t, v6, memnet.ListenOptions{})
	v6only := listen(t, dual, memnet.ListenOptions{NoV4: true})

	write(t, cd, transport.Packet{Data: []byte("4"), Dst: transport.GroupV4, IfIndex: 1})
	if len(drain(t, c4)) != 1 || len(drain(t, c6)) != 0 || len(drain(t, v6only)) != 0 || len(drain(t, cd)) != 1 {
		t.Error("IPv4 group delivery")
	}
	write(t, cd, transport.Packet{Data: []byte("6"), Dst: transport.GroupV6, IfIndex: 1})
	if len(drain(t, c4)) != 0 || len(drain(t, c6)) != 1 || len(drain(t, v6only)) != 1 || len(drain(t, cd)) != 1 {
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
		l := newLAN(t, memnet.Config{})
		h1, h2 := addHost(t, l, "h1"), addHost(t, l, "h2")
		c1, c2 := listen(t, h1, memnet.ListenOptions{}), listen(t, h2, memnet.ListenOptions{})
		legacy := listen(t, h2, memnet.ListenOptions{Port: 40000})
		var taps []memnet.TapRecord
		defer l.Tap(func(r memnet.TapRecord) { taps = append(taps, r) })()

		spoof := netip.MustParseAddrPort("203.0.113.7:5353")
		if err := l.Inject(memnet.DefaultSegment, nil, transport.Packet{
			Data: []byte{0xde, 0xad}, Src: spoof, Dst: transport.GroupV4, TTL: 1,
		}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []conn{c1, c2} {
			got := drain(t, c)
			if len(got) != 1 || got[0].Src != spoof || got[0].TTL != 1 || !got[0].Multicast ||
				!bytes.Equal(got[0].Data, []byte{0xde, 0xad}) || got[0].IfIndex != 1 {
				t.Errorf("%s: %+v", c.Host().Name(), got)
			}
		}
		if len(drain(t, legacy)) != 0 {
			t.Error("group packet reached a Conn on another port")
		}
		// To one interface only, unicast to a port other than 5353.
		if err := l.Inject("", h2.Ifaces()[0], transport.Packet{
			Data: []byte("garbage"), Src: spoof, Dst: netip.MustParseAddrPort("10.0.0.2:40000"),
		}); err != nil {
			t.Fatal(err)
		}
		if len(drain(t, c1)) != 0 || len(drain(t, c2)) != 0 {
			t.Error("port 40000 packet reached a 5353 Conn")
		}
		if got := drain(t, legacy); len(got) != 1 || got[0].TTL != 255 || got[0].Multicast {
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
		if len(drain(t, c1))+len(drain(t, c2)) != 0 {
			t.Error("a packet to 224.0.0.1 reached an mDNS Conn")
		}
		if err := l.Inject("nope", nil, transport.Packet{Dst: transport.GroupV4}); err == nil {
			t.Error("unknown segment accepted")
		}
	})
}

func TestLegacyUnicastPort(t *testing.T) {
	l := newLAN(t, memnet.Config{})
	resp, q := addHost(t, l, "responder"), addHost(t, l, "querier")
	cr := listen(t, resp, memnet.ListenOptions{})
	q5353 := listen(t, q, memnet.ListenOptions{})
	legacy := listen(t, q, memnet.ListenOptions{Port: 40000})

	write(t, legacy, transport.Packet{Data: []byte("query"), Dst: transport.GroupV4, IfIndex: 1})
	got := drain(t, cr)
	if len(got) != 1 || got[0].Src.Port() != 40000 {
		t.Fatalf("responder got %+v", got)
	}
	if len(drain(t, legacy)) != 0 {
		t.Error("a legacy Conn joins no group, so it gets no loopback copy")
	}
	drain(t, q5353)
	if ifs := legacy.Interfaces(); ifs[0].V4 || ifs[0].V6 {
		t.Errorf("legacy Conn reports group membership: %+v", ifs)
	}

	write(t, cr, transport.Packet{Data: []byte("answer"), Dst: got[0].Src, IfIndex: got[0].IfIndex})
	if r := drain(t, legacy); len(r) != 1 || string(r[0].Data) != "answer" || r[0].Dst.Port() != 40000 {
		t.Errorf("legacy reply: %+v", r)
	}
	if len(drain(t, q5353)) != 0 {
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
	l := newLAN(t, memnet.Config{})
	addHost(t, l, "h")
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
