package pcapread_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/internal/pcapread/pcaptest"
	"github.com/gopacket/gopacket/layers"
)

// toLinuxSLL rewrites an Ethernet capture as a Linux cooked (SLL) capture,
// as `tcpdump -i any` writes them: the 14-byte Ethernet header becomes the
// 16-byte SLL header with the same source address and EtherType.
func toLinuxSLL(t *testing.T, path string) []byte {
	t.Helper()
	_, frames := pcaptest.ReadFile(t, path)
	var out bytes.Buffer
	w := pcaptest.NewWriter(t, &out, layers.LinkTypeLinuxSLL)
	for _, fr := range frames {
		data := fr.Data
		if len(data) < 14 {
			continue
		}
		sll := make([]byte, 16, 16+len(data)-14)
		binary.BigEndian.PutUint16(sll[0:], 0) // sent to us
		binary.BigEndian.PutUint16(sll[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(sll[4:], 6)
		copy(sll[6:12], data[6:12])
		copy(sll[14:16], data[12:14])
		w.Write(fr.CI, append(sll, data[14:]...))
	}
	return out.Bytes()
}

// TestLinuxCookedCaptures: the same datagrams come out of an Ethernet
// capture and of its Linux cooked version, IP fragments (g2: IPv4 and IPv6
// fragmentation) reassembled in both.
func TestLinuxCookedCaptures(t *testing.T) {
	for _, name := range []string{"d_golibp2p_two_nodes", "g2_golibp2p_many_addrs", "c_python_zeroconf"} {
		path := "../../testdata/pcap/" + name + ".pcap"
		eth, est, err := pcapread.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sll, sst, err := pcapread.Read(bytes.NewReader(toLinuxSLL(t, path)))
		if err != nil {
			t.Fatal(err)
		}
		if len(eth) == 0 || len(eth) != len(sll) || est.Reassembled != sst.Reassembled {
			t.Fatalf("%s: %d datagrams (%d reassembled) from Ethernet, %d (%d) from SLL", name, len(eth), est.Reassembled, len(sll), sst.Reassembled)
		}
		for i := range eth {
			a, b := eth[i].Packet, sll[i].Packet
			if !bytes.Equal(a.Data, b.Data) || a.Src != b.Src || a.Dst != b.Dst || a.TTL != b.TTL {
				t.Fatalf("%s datagram %d differs", name, i)
			}
		}
		t.Logf("%s: %d datagrams, %d reassembled from fragments", name, len(eth), est.Reassembled)
	}
}

func TestNotACapture(t *testing.T) {
	if _, _, err := pcapread.Read(bytes.NewReader([]byte("definitely not a pcap file"))); err == nil {
		t.Fatal("accepted garbage")
	}
}

// TestSidecarMismatches: the comparison reports missing and extra
// addresses, unexpected peers and goodbye disagreements, and nothing when
// all match.
func TestSidecarMismatches(t *testing.T) {
	sc, err := pcapread.ReadSidecar("../../testdata/pcap/d_golibp2p_two_nodes.pcap")
	if err != nil || len(sc.Expected.Peers) != 2 {
		t.Fatalf("%v %+v", err, sc)
	}
	p := sc.Expected.Peers[0]
	want, err := p.BrowserAddrs("eth0")
	if err != nil || len(want) != 4 { // 8 on the wire, 4 of them loopback
		t.Fatalf("%v %v", err, want)
	}
	found, lost := map[string]map[string]bool{}, map[string]bool{}
	asIs := func(p pcapread.ExpectedPeer) ([]string, error) { return p.Multiaddrs, nil }
	for _, p := range sc.Expected.Peers {
		found[p.PeerID] = map[string]bool{}
		for _, a := range p.Multiaddrs {
			found[p.PeerID][a] = true
		}
		lost[p.PeerID] = p.Goodbye
	}
	if m := sc.Mismatches(found, lost, asIs, true); m != nil {
		t.Fatalf("identical data: %v", m)
	}
	delete(found[p.PeerID], p.Multiaddrs[0])
	found["12D3KooWHbcHt8rxiyd2YnNxXquxWitt23FNNhZ15F74c7QnqYWb"] = map[string]bool{"/ip4/1.2.3.4/tcp/1": true}
	lost[p.PeerID] = false
	if m := sc.Mismatches(found, lost, asIs, true); len(m) != 3 {
		t.Fatalf("want 3 mismatches (address, goodbye, extra peer), got %q", m)
	}
}

// TestDeliveryMode: how a datagram was sent, packed as a fuzz mode byte.
func TestDeliveryMode(t *testing.T) {
	for _, c := range []struct {
		p    pcapread.Packet
		want uint8
	}{
		{pcapread.Packet{Src: netip.MustParseAddrPort("10.0.0.1:5353"), Dst: netip.MustParseAddrPort("224.0.0.251:5353"), TTL: 255}, 0},
		{pcapread.Packet{Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort("224.0.0.251:5353"), TTL: 1}, 1 | 2 | 4},
		{pcapread.Packet{Src: netip.MustParseAddrPort("[fe80::1]:5353"), Dst: netip.MustParseAddrPort("[fe80::2]:5353"), TTL: 64}, 2 | 8 | 16},
		{pcapread.Packet{Src: netip.MustParseAddrPort("[::ffff:10.0.0.1]:5353"), Dst: netip.MustParseAddrPort("224.0.0.251:5353"), TTL: -1}, 0},
	} {
		if got := c.p.Delivery().Mode(1, 2, 4, 8, 16); got != c.want {
			t.Errorf("%v → %v: mode %#x, want %#x", c.p.Src, c.p.Dst, got, c.want)
		}
	}
}
