package memnet_test

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/testkit/memkit"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

func recvEvents(ch <-chan transport.Event) []transport.Event {
	var out []transport.Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

func TestInterfaceDownUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memkit.NewLAN(t)
		h1, h2 := memkit.AddHost(t, l, "h1"), memkit.AddHost(t, l, "h2")
		c1, c2 := memkit.Listen(t, h1), memkit.Listen(t, h2)
		hostEv, connEv := h1.Events(), c1.Events()
		eth0 := h1.Iface("eth0")

		eth0.SetUp(false)
		eth0.SetUp(false) // no change, no event
		if err := c1.WritePacket(&transport.Packet{Data: []byte("x"), Dst: transport.GroupV4, IfIndex: 1}); !errors.Is(err, memnet.ErrInterfaceDown) {
			t.Errorf("send on down interface: err = %v", err)
		}
		c2.Write(t, transport.Packet{Data: []byte("y"), Dst: transport.GroupV4, IfIndex: 1})
		if len(c1.Drain()) != 0 || len(c2.Drain()) != 1 {
			t.Error("a down interface must not receive")
		}
		if ifs := c1.Interfaces(); ifs[0].Up {
			t.Error("Interfaces() still reports Up")
		}
		eth0.SetUp(true)
		c2.Write(t, transport.Packet{Data: []byte("z"), Dst: transport.GroupV4, IfIndex: 1})
		if len(c1.Drain()) != 1 || !c1.Interfaces()[0].Up || !eth0.Up() {
			t.Error("interface back up does not receive")
		}
		want := []transport.Event{
			{Kind: transport.IfaceDown, IfIndex: 1, IfName: "eth0"},
			{Kind: transport.IfaceUp, IfIndex: 1, IfName: "eth0"},
		}
		if got := recvEvents(hostEv); !slices.Equal(got, want) {
			t.Errorf("host events %v, want %v", got, want)
		}
		if got := recvEvents(connEv); !slices.Equal(got, want) {
			t.Errorf("conn events %v, want %v", got, want)
		}
		if got := recvEvents(h2.Events()); len(got) != 0 {
			t.Errorf("other host got events %v", got)
		}
	})
}

func TestInFlightDroppedWhenDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memkit.NewLAN(t, memnet.Config{Segments: []memnet.SegmentConfig{{Name: "lan", Link: memnet.Link{Latency: time.Second}}}})
		h1, h2 := memkit.AddHost(t, l, "h1"), memkit.AddHost(t, l, "h2")
		c1 := memkit.Listen(t, h1, memnet.ListenOptions{NoLoopback: true})
		r := collect(memkit.Listen(t, h2), time.Now())
		c1.Write(t, seqPacket(0, 1))
		time.Sleep(500 * time.Millisecond)
		h2.Iface("eth0").SetUp(false)
		time.Sleep(time.Second)
		h2.Iface("eth0").SetUp(true)
		if got := r(); len(got) != 0 {
			t.Errorf("in-flight packet delivered to a down interface: %+v", got)
		}
		if s := l.Stats(); s.DroppedDown != 1 {
			t.Errorf("DroppedDown = %d", s.DroppedDown)
		}
	})
}

func TestAddressEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memkit.NewLAN(t)
		h1 := memkit.AddHost(t, l, "h1")
		h2 := memkit.AddHost(t, l, "h2", memnet.IfaceConfig{Family: memnet.FamilyNone})
		c1, c2 := memkit.Listen(t, h1), memkit.Listen(t, h2)
		ev := c2.Events()
		eth0 := h2.Iface("eth0")

		c1.Write(t, transport.Packet{Data: []byte("a"), Dst: transport.GroupV4, IfIndex: 1})
		if len(c2.Drain()) != 0 {
			t.Error("an interface without IPv4 address received an IPv4 group packet")
		}
		if ifs := c2.Interfaces(); ifs[0].V4 || ifs[0].V6 || len(ifs[0].Prefixes) != 0 {
			t.Errorf("Interfaces() = %+v", ifs)
		}
		p := netip.MustParsePrefix("10.0.0.99/16")
		if err := eth0.AddPrefix(p); err != nil {
			t.Fatal(err)
		}
		if err := eth0.AddPrefix(p); err == nil {
			t.Error("duplicate address accepted")
		}
		c1.Write(t, transport.Packet{Data: []byte("b"), Dst: transport.GroupV4, IfIndex: 1})
		c1.Write(t, transport.Packet{Data: []byte("c"), Dst: netip.AddrPortFrom(p.Addr(), 5353), IfIndex: 1})
		if got := c2.Drain(); len(got) != 2 || !got[0].Multicast || got[1].Multicast {
			t.Errorf("after AddPrefix: %+v", got)
		}
		if ifs := c2.Interfaces(); !ifs[0].V4 || !slices.Equal(ifs[0].Prefixes, []netip.Prefix{p}) {
			t.Errorf("Interfaces() = %+v", ifs)
		}
		if err := eth0.RemovePrefix(netip.PrefixFrom(p.Addr(), 32)); err != nil {
			t.Fatal(err)
		}
		c1.Write(t, transport.Packet{Data: []byte("d"), Dst: netip.AddrPortFrom(p.Addr(), 5353), IfIndex: 1})
		if len(c2.Drain()) != 0 || l.Stats().Unroutable != 1 {
			t.Error("unicast to a removed address")
		}
		if err := eth0.RemovePrefix(p); err == nil {
			t.Error("removing a missing address succeeded")
		}
		want := []transport.Event{
			{Kind: transport.AddrAdded, IfIndex: 1, IfName: "eth0", Prefix: p},
			{Kind: transport.AddrRemoved, IfIndex: 1, IfName: "eth0", Prefix: p},
		}
		if got := recvEvents(ev); !slices.Equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
	})
}

func TestAddIfaceMultiHomed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memkit.NewLAN(t, memnet.Config{Segments: []memnet.SegmentConfig{{Name: "a"}, {Name: "b"}}})
		ha := memkit.AddHost(t, l, "ha", memnet.IfaceConfig{Segment: "a"})
		hb := memkit.AddHost(t, l, "hb", memnet.IfaceConfig{Segment: "b"})
		m := memkit.AddHost(t, l, "m", memnet.IfaceConfig{Segment: "a"})
		ca, cb := memkit.Listen(t, ha), memkit.Listen(t, hb)
		cm := memkit.Listen(t, m)
		onlyEth0 := memkit.Listen(t, m, memnet.ListenOptions{Ifaces: []string{"eth0"}})
		ev := m.Events()

		wlan, err := m.AddIface(memnet.IfaceConfig{Segment: "b", Name: "wlan0", MTU: 9000})
		if err != nil {
			t.Fatal(err)
		}
		if wlan.Index() != 2 || wlan.Segment() != "b" || wlan.MTU() != 9000 || wlan.Host() != m {
			t.Errorf("wlan0: index %d segment %s", wlan.Index(), wlan.Segment())
		}
		got := recvEvents(ev)
		if len(got) != 3 || got[0].Kind != transport.IfaceUp || got[1].Kind != transport.AddrAdded || got[0].IfName != "wlan0" {
			t.Errorf("AddIface events %v", got)
		}
		if n := len(cm.Interfaces()); n != 2 {
			t.Errorf("Conn on all interfaces sees %d", n)
		}
		if n := len(onlyEth0.Interfaces()); n != 1 {
			t.Errorf("Conn on eth0 sees %d", n)
		}
		if err := onlyEth0.WritePacket(&transport.Packet{Data: []byte("x"), Dst: transport.GroupV4, IfIndex: 2}); !errors.Is(err, transport.ErrNoInterface) {
			t.Errorf("send on an interface the Conn does not use: %v", err)
		}

		ca.Write(t, transport.Packet{Data: []byte("from a"), Dst: transport.GroupV4, IfIndex: 1})
		cb.Write(t, transport.Packet{Data: []byte("from b"), Dst: transport.GroupV4, IfIndex: 1})
		got2 := cm.Drain()
		if len(got2) != 2 || got2[0].IfIndex != 1 || got2[1].IfIndex != 2 {
			t.Errorf("multi-homed receive: %+v", got2)
		}
		if g := onlyEth0.Drain(); len(g) != 1 || string(g[0].Data) != "from a" {
			t.Errorf("eth0-only Conn: %+v", g)
		}
		ca.Drain()
		cb.Drain()
		cm.Write(t, transport.Packet{Data: []byte("from m"), Dst: transport.GroupV6, IfIndex: 2})
		if len(cb.Drain()) != 1 || len(ca.Drain()) != 0 {
			t.Error("multi-homed send went to the wrong segment")
		}
	})
}

func TestOversizeAndTap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memkit.NewLAN(t)
		h1, h2 := memkit.AddHost(t, l, "h1"), memkit.AddHost(t, l, "h2")
		c1, c2 := memkit.Listen(t, h1), memkit.Listen(t, h2)
		var recs []memnet.TapRecord
		remove := l.Tap(func(r memnet.TapRecord) { recs = append(recs, r) })

		for _, tc := range []struct {
			size     int
			dst      transport.Packet
			oversize bool
		}{
			{1472, transport.Packet{Dst: transport.GroupV4}, false},
			{1473, transport.Packet{Dst: transport.GroupV4}, true},
			{1452, transport.Packet{Dst: transport.GroupV6}, false},
			{1453, transport.Packet{Dst: transport.GroupV6}, true},
		} {
			p := tc.dst
			p.Data, p.IfIndex = make([]byte, tc.size), 1
			c1.Write(t, p)
		}
		if n := len(c2.Drain()); n != 4 {
			t.Errorf("oversize packets must still be delivered: got %d", n)
		}
		if s := l.Stats(); s.Oversize != 2 || h1.Stats().Oversize != 2 {
			t.Errorf("Oversize = %d", s.Oversize)
		}
		if len(recs) != 4 || recs[0].Oversize || !recs[1].Oversize || recs[0].Host != "h1" ||
			recs[0].Segment != memnet.DefaultSegment || recs[0].Packet.IfIndex != 1 ||
			len(recs[0].Packet.Data) != 1472 || recs[0].Packet.TTL != 255 || !recs[0].Time.Equal(time.Now()) {
			t.Errorf("tap records: %+v", recs[:1])
		}
		remove()
		c1.Write(t, transport.Packet{Data: []byte("x"), Dst: transport.GroupV4, IfIndex: 1, TTL: 1})
		if len(recs) != 4 {
			t.Error("removed tap still called")
		}
		if g := c2.Drain(); len(g) != 1 || g[0].TTL != 1 {
			t.Errorf("TTL set by the writer must be delivered: %+v", g)
		}
	})
}

func TestCloseSemantics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memkit.NewLAN(t, memnet.Config{Segments: []memnet.SegmentConfig{{Name: "lan", Link: memnet.Link{Latency: time.Hour}}}})
		h1, h2 := memkit.AddHost(t, l, "h1"), memkit.AddHost(t, l, "h2")
		c1, c2 := memkit.Listen(t, h1), memkit.Listen(t, h2)
		hostEv, connEv := h2.Events(), c2.Events()

		errc := make(chan error, 1)
		go func() {
			var p transport.Packet
			errc <- c1.ReadPacket(make([]byte, 100), &p)
		}()
		synctest.Wait() // the reader is durably blocked
		if err := c1.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, transport.ErrClosed) {
			t.Errorf("ReadPacket after Close: %v", err)
		}
		if err := c1.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := c1.WritePacket(&transport.Packet{Data: []byte("x"), Dst: transport.GroupV4, IfIndex: 1}); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("WritePacket after Close: %v", err)
		}
		if _, ok := <-c1.Events(); ok {
			t.Error("events of a closed Conn must be closed")
		}

		// A packet in flight for an hour, then the LAN closes: the timer is
		// stopped, the blocked reader released, the watchers closed.
		c3 := memkit.Listen(t, h1)
		c3.Write(t, transport.Packet{Data: []byte("late"), Dst: transport.GroupV4, IfIndex: 1})
		go func() {
			var p transport.Packet
			errc <- c2.ReadPacket(make([]byte, 100), &p)
		}()
		synctest.Wait()
		if l.InFlight() != 1 {
			t.Errorf("InFlight = %d", l.InFlight())
		}
		start := time.Now()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, transport.ErrClosed) || time.Since(start) != 0 {
			t.Errorf("ReadPacket after LAN.Close: %v after %v", err, time.Since(start))
		}
		if l.InFlight() != 0 {
			t.Error("LAN.Close left packets in flight")
		}
		if _, ok := <-hostEv; ok {
			t.Error("host events not closed")
		}
		if _, ok := <-connEv; ok {
			t.Error("conn events not closed")
		}
		if err := l.Close(); err != nil {
			t.Errorf("second LAN.Close: %v", err)
		}
		if _, err := l.AddHost("late"); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("AddHost after Close: %v", err)
		}
		if _, err := h1.Listen(memnet.ListenOptions{}); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("Listen after Close: %v", err)
		}
		if err := l.Inject(memnet.DefaultSegment, nil, transport.Packet{Dst: transport.GroupV4}); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("Inject after Close: %v", err)
		}
		if _, ok := <-h1.Events(); ok {
			t.Error("Events created after Close must be closed")
		}
	})
}

func TestEventOverflowCounted(t *testing.T) {
	l := memkit.NewLAN(t, memnet.Config{EventQueueLen: 2})
	h := memkit.AddHost(t, l, "h")
	ev := h.Events()
	for i := range 5 {
		h.Iface("eth0").SetUp(i%2 == 1)
	}
	if n := len(recvEvents(ev)); n != 2 {
		t.Errorf("%d events queued, want 2", n)
	}
	if s := l.Stats(); s.EventsDropped != 3 {
		t.Errorf("EventsDropped = %d", s.EventsDropped)
	}
}
