package transport_test

import (
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

// TestSplit: every child receives every packet, unicast included; writes
// go out; the parent closes with the last child; a full child queue drops
// for that child only.
func TestSplit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan, _ := memnet.New(memnet.Config{Seed: 1})
		defer lan.Close()
		a, _ := lan.AddHost("a")
		b, _ := lan.AddHost("b")
		ca, _ := a.Listen(memnet.ListenOptions{})
		cb, _ := b.Listen(memnet.ListenOptions{})
		defer cb.Close()
		kids := transport.Split(ca, 2, 4)
		ifb := cb.Interfaces()[0]
		dstA := netip.AddrPortFrom(a.Ifaces()[0].Addr(true), 5353)
		for i := 0; i < 3; i++ {
			if err := cb.WritePacket(&transport.Packet{Data: []byte{byte(i)}, Dst: dstA, IfIndex: ifb.Index}); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		buf := make([]byte, 64)
		for k, c := range kids {
			for i := 0; i < 3; i++ {
				var p transport.Packet
				if err := c.ReadPacket(buf, &p); err != nil || p.Data[0] != byte(i) || p.Multicast {
					t.Fatalf("child %d packet %d: %v %v", k, i, err, p)
				}
			}
		}
		// Child 1 does not read: after 4 queued, its copies drop; child 0 reads all.
		for i := 0; i < 6; i++ {
			_ = cb.WritePacket(&transport.Packet{Data: []byte{byte(i)}, Dst: transport.GroupV4, IfIndex: ifb.Index})
			synctest.Wait()
			var p transport.Packet
			if err := kids[0].ReadPacket(buf, &p); err != nil {
				t.Fatal(err)
			}
		}
		if kids[1].Dropped() != 2 || kids[0].Dropped() != 0 {
			t.Errorf("dropped %d / %d", kids[0].Dropped(), kids[1].Dropped())
		}
		if err := kids[0].WritePacket(&transport.Packet{Data: []byte{9}, Dst: transport.GroupV4, IfIndex: ca.Interfaces()[0].Index}); err != nil {
			t.Fatal(err)
		}
		kids[0].Close()
		kids[0].Close()
		var p transport.Packet
		if err := kids[0].ReadPacket(buf, &p); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("closed child read: %v", err)
		}
		if err := ca.WritePacket(&transport.Packet{Data: []byte{1}, Dst: transport.GroupV4, IfIndex: ca.Interfaces()[0].Index}); err != nil {
			t.Errorf("parent closed too early: %v", err)
		}
		kids[1].Close()
		if err := ca.WritePacket(&transport.Packet{Data: []byte{1}, Dst: transport.GroupV4, IfIndex: ca.Interfaces()[0].Index}); err == nil {
			t.Error("parent still open after the last child closed")
		}
	})
}
