package mdns_test

import (
	"fmt"

	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// Build a peer's record set, pack the answer to a PTR query and decode it
// again as a browser would.
func Example() {
	service, _ := mdns.ServiceName("") // "_p2p._udp.local."
	id, _ := peer.Decode("12D3KooWSfsqkSUU6DTgDKK6RuxGJs7poPksfrxQEFwNNvmy32vT")
	rs, err := mdns.NewRecordSet(mdns.Peer{
		Service:  service,
		PeerName: "k3v9q0b7x2m4n8p1r5t6w0y3z7a9c2e4",
		ID:       id,
		Addrs:    []ma.Multiaddr{ma.StringCast("/ip4/198.51.100.11/tcp/4001"), ma.StringCast("/ip4/198.51.100.11/udp/4001/quic-v1")},
	})
	if err != nil {
		panic(err)
	}
	packets, _, err := mdns.PackResponse(&mdns.Response{
		Answers:    []dns.RR{rs.PTR},
		Additional: []dns.RR{rs.SRV},
		TXT:        rs.TXT,
		MaxSize:    mdns.MaxPayload(1500, true),
	})
	if err != nil {
		panic(err)
	}

	filter := mdns.NewFilter(mdns.FilterLabels(service)...)
	dec := mdns.NewDecoder(service, 0)
	for _, p := range packets {
		if !filter.Match(p) {
			continue
		}
		m, err := mdns.Parse(p)
		if err != nil {
			continue
		}
		kind, _ := mdns.Classify(m)
		for _, c := range dec.Decode(m, false).Candidates {
			fmt.Println(kind, c.Flavour, c.ID, c.Addrs)
		}
	}
	// Output:
	// response discovery 12D3KooWSfsqkSUU6DTgDKK6RuxGJs7poPksfrxQEFwNNvmy32vT [/ip4/198.51.100.11/tcp/4001 /ip4/198.51.100.11/udp/4001/quic-v1]
}
