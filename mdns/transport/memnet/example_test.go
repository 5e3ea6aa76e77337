package memnet_test

import (
	"fmt"

	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

// Two hosts on one zero-latency segment exchange one multicast packet.
// Under testing/synctest the same code runs with Link latencies in virtual
// time.
func Example() {
	lan, _ := memnet.New(memnet.Config{Seed: 1})
	defer lan.Close()
	a, _ := lan.AddHost("a") // one dual-stack interface "eth0" on segment "lan"
	b, _ := lan.AddHost("b")
	ca, _ := a.Listen(memnet.ListenOptions{})
	cb, _ := b.Listen(memnet.ListenOptions{})
	va, _ := ca.View(transport.ViewConfig{Name: "reader a"}) // a Conn's readers are Views
	vb, _ := cb.View(transport.ViewConfig{Name: "reader b"})

	_ = ca.WritePacket(&transport.Packet{Data: []byte("hello"), Dst: transport.GroupV4, IfIndex: 1})

	p := <-vb.Packets()
	fmt.Printf("%s from %v to %v on if %d, ttl %d, multicast %v\n", p.Data, p.Src, p.Dst, p.IfIndex, p.TTL, p.Multicast)
	p = <-va.Packets() // multicast loopback
	fmt.Printf("loopback: %s from %v\n", p.Data, p.Src)
	fmt.Printf("sent %d, delivered %d\n", lan.Stats().Sent, lan.Stats().Delivered)
	// Output:
	// hello from 10.0.0.1:5353 to 224.0.0.251:5353 on if 1, ttl 255, multicast true
	// loopback: hello from 10.0.0.1:5353
	// sent 1, delivered 2
}
