package memnet_test

import (
	"fmt"
	"testing"

	"github.com/chorus-services/discovery/internal/testkit/memkit"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

// benchLAN builds a segment of n single-interface hosts, one Conn each.
func benchLAN(b *testing.B, n int) (*memnet.LAN, []memkit.Conn) {
	b.Helper()
	l := memkit.NewLAN(b, memnet.Config{})
	conns := make([]memkit.Conn, n)
	for i := range conns {
		conns[i] = memkit.Listen(b, memkit.AddHost(b, l, fmt.Sprintf("h%d", i)), memnet.ListenOptions{})
	}
	return l, conns
}

// BenchmarkMulticast1000 sends one 300-byte multicast packet on a
// 1000-host segment and reads every copy (1000 deliveries per op).
func BenchmarkMulticast1000(b *testing.B) {
	_, conns := benchLAN(b, 1000)
	pkt := &transport.Packet{Data: make([]byte, 300), Dst: transport.GroupV4, IfIndex: 1}
	buf := make([]byte, 9000)
	var p transport.Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := conns[0].WritePacket(pkt); err != nil {
			b.Fatal(err)
		}
		for _, c := range conns {
			if err := c.ReadPacket(buf, &p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/delivery")
}

// BenchmarkMulticast1000SendOnly measures the send side alone: the copies
// overflow the receive queues once they are full (counted, not read).
func BenchmarkMulticast1000SendOnly(b *testing.B) {
	_, conns := benchLAN(b, 1000)
	pkt := &transport.Packet{Data: make([]byte, 300), Dst: transport.GroupV4, IfIndex: 1}
	b.ReportAllocs()
	for b.Loop() {
		if err := conns[0].WritePacket(pkt); err != nil {
			b.Fatal(err)
		}
	}
}
