package responder_test

import (
	"context"
	"fmt"
	mrand "math/rand"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/chorus-services/discovery/responder"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// A responder on host a announces its peer; host b reads the first
// announcement and decodes it.
func Example() {
	lan, _ := memnet.New(memnet.Config{Seed: 1})
	defer lan.Close()
	a, _ := lan.AddHost("a")
	b, _ := lan.AddHost("b")
	ca, _ := a.Listen(memnet.ListenOptions{})
	cb, _ := b.Listen(memnet.ListenOptions{})
	reader, _ := cb.View(transport.ViewConfig{Name: "b"}) // b reads through a View

	_, pub, _ := crypto.GenerateEd25519Key(mrand.New(mrand.NewSource(1)))
	id, _ := peer.IDFromPublicKey(pub)
	r, err := responder.New(responder.Config{
		Conn:   ca,
		PeerID: id,
		Addrs:  []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.1/tcp/4001")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()

	dec := mdns.NewDecoder(mdns.SpecService, 0)
	for p := range reader.Packets() {
		m, err := mdns.Parse(p.Data)
		if err != nil || !m.Response {
			continue // a probe
		}
		for _, c := range dec.Decode(m, false).Candidates {
			fmt.Println(c.ID == id, c.Addrs[0], c.IPs)
		}
		break
	}
	r.Close()
	fmt.Println(<-done)
	// Output:
	// true /ip4/10.0.0.1/tcp/4001 [10.0.0.1 fe80::1:1]
	// <nil>
}
