//go:build linux

package responder

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// Real sockets in two network namespaces: a responder on host 1 is found by
// a PTR query from host 2 over IPv4 and IPv6 and decoded by our decoder,
// with its addresses on lan0 (BCT: SRV probing/announcements, on the wire).
func TestNetnsFound(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace test")
	}
	nt := netns.New(t, 2)
	h1 := nt.Host(1)
	var c1, c2 *transport.UDP
	for i, c := range []**transport.UDP{&c1, &c2} {
		var err error
		if *c, err = netns.Open(nt, i+1, func() (*transport.UDP, error) {
			return transport.Listen(transport.Config{Interfaces: []string{netns.LinkName}})
		}); err != nil {
			t.Fatal(err)
		}
	}
	defer c1.Close() // after Run returned: whoever opens a Conn closes it
	defer c2.Close()
	v2, err := c2.View(transport.ViewConfig{Name: "querier"})
	if err != nil {
		t.Fatal(err)
	}
	id := testkit.ID(t, 1)
	addr := "/ip4/" + h1.V4.Addr().String() + "/tcp/4001"
	r, err := New(Config{Conn: c1, PeerID: id, Addrs: maddrs(t, addr)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	time.Sleep(5 * time.Second) // probing and announcements (≤ 4 s): past the 1 s rate limit

	ifIndex := nt.Host(2).IfIndex
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	for _, group := range []netip.AddrPort{transport.GroupV4, transport.GroupV6} {
		qry := ptrQuery()
		if err := c2.WritePacket(&transport.Packet{Data: qry, Dst: group, IfIndex: ifIndex}); err != nil {
			t.Fatal(err)
		}
		found := make(chan mdns.Candidate, 1)
		go func() {
			buf := make([]byte, mdns.MaxPacketSize)
			for {
				var p transport.Packet
				if v2.ReadPacket(buf, &p) != nil {
					return
				}
				m, err := mdns.Parse(p.Data)
				if err != nil || !m.Response || p.IsV4() != group.Addr().Is4() || p.Src.Port() != mdns.Port {
					continue
				}
				for _, c := range dec.Decode(m, false).Candidates {
					if c.ID == id && len(m.Answer) == 1 { // an answer, not an announcement
						found <- c
						return
					}
				}
			}
		}()
		select {
		case c := <-found:
			if len(c.Addrs) != 1 || c.Addrs[0].String() != addr || len(c.IPs) == 0 {
				t.Errorf("%v: decoded %+v", group, c)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: no answer; stats %+v, interfaces %+v", group, r.Stats(), c1.Interfaces())
		}
	}
}
