//go:build linux

package main

import (
	"net"
	"strconv"
	"testing"

	"github.com/chorus-services/discovery/internal/netns"
)

// TestWireCountersCountOncePerPacket: a datagram multicast on a LAN of 3
// hosts is forwarded to 2 ports but counted once, with its IP length.
func TestWireCountersCountOncePerPacket(t *testing.T) {
	requireNetns(t)
	nt, err := netns.Build(3, netns.WithoutDAD())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := nt.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := setupBridgeCounters(t.Context(), nt); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 100)
	zone := strconv.Itoa(nt.Host(1).IfIndex)
	err = nt.Do(1, func() error {
		for _, dst := range []*net.UDPAddr{
			{IP: net.IPv4(224, 0, 0, 251), Port: 5353},
			{IP: net.IPv4(224, 0, 0, 251), Port: 5353},
			{IP: net.ParseIP("ff02::fb"), Port: 5353, Zone: zone},
			{IP: net.IPv4(198, 51, 100, 12), Port: 40000}, // not mDNS
		} {
			network := "udp4"
			if dst.IP.To4() == nil {
				network = "udp6"
			}
			c, err := net.ListenUDP(network, nil)
			if err != nil {
				return err
			}
			_, err = c.WriteToUDP(payload, dst)
			c.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := readWire(t.Context(), nt)
	if err != nil {
		t.Fatal(err)
	}
	want := wireCounters{Packets: 3, V4Packets: 2, V6Packets: 1, Bytes: 2*(20+8+100) + (40 + 8 + 100)}
	if c != want {
		t.Fatalf("counters %+v, want %+v", c, want)
	}
	drops, err := readDrops(nt)
	if err != nil || len(drops) != 3 {
		t.Fatalf("drops %v, %v", drops, err)
	}
}
