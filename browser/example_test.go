package browser_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// Browse for libp2p peers on an in-memory LAN: a go-libp2p style
// announcement injected on the link is reported as Found.
func Example() {
	lan, _ := memnet.New(memnet.Config{Seed: 1})
	defer lan.Close()
	host, _ := lan.AddHost("me")
	conn, _ := host.Listen(memnet.ListenOptions{})

	b, err := browser.New(browser.Config{Conn: conn, Service: "_p2p._udp"})
	if err != nil {
		panic(err)
	}
	go b.Run(context.Background())
	defer b.Close()

	// Another peer announces itself (RFC 6762 §8.3).
	id, _ := peer.Decode("12D3KooWSfsqkSUU6DTgDKK6RuxGJs7poPksfrxQEFwNNvmy32vT")
	rs, _ := mdns.NewRecordSet(mdns.Peer{
		Service:  mdns.SpecService,
		PeerName: "k3v9q0b7x2m4n8p1r5t6w0y3z7a9c2e4",
		ID:       id,
		Addrs:    []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.9/tcp/4001"), ma.StringCast("/ip6/fe80::9/udp/4001/quic-v1")},
	})
	pkts, _, _ := mdns.PackResponse(&mdns.Response{Answers: []dns.RR{rs.PTR}, Additional: []dns.RR{rs.SRV}, TXT: rs.TXT})
	lan.Inject("", host.Ifaces()[0], transport.Packet{
		Data: pkts[0],
		Src:  netip.MustParseAddrPort("10.0.0.9:5353"),
		Dst:  transport.GroupV4,
	})

	ev := <-b.Events()
	fmt.Println(ev.Kind, ev.Flavour, ev.Peer.ID)
	for _, a := range ev.Peer.Addrs {
		fmt.Println(a)
	}
	// Output:
	// found discovery 12D3KooWSfsqkSUU6DTgDKK6RuxGJs7poPksfrxQEFwNNvmy32vT
	// /ip4/10.0.0.9/tcp/4001
	// /ip6zone/eth0/ip6/fe80::9/udp/4001/quic-v1
}
