package mdns_test

import (
	"testing"

	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

func TestDNSAddrValue(t *testing.T) {
	for in, want := range map[string]string{
		"dnsaddr=/ip4/1.2.3.4/tcp/1":    "/ip4/1.2.3.4/tcp/1",
		"DNSADDR=/x":                    "/x",
		"dnsaddr2=/ip4/1.2.3.4/tcp/1":   "/ip4/1.2.3.4/tcp/1",
		"dnsaddr17=/y":                  "/y",
		"dnsaddr9999=/z":                "/z",
		"dnsaddr=":                      "",
		"dnsaddr10000=/too-many-digits": "-",
		"dnsaddr02=/leading-zero":       "-",
		"dnsaddrx=/other-key":           "-",
		"dnsaddr2":                      "-",
		"dnsaddr":                       "-",
		"dnsaddr 2=/space":              "-",
		"path=/":                        "-",
	} {
		got, ok := mdns.DNSAddrValue(in)
		if !ok {
			got = "-"
		}
		if got != want {
			t.Errorf("DNSAddrValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDecodePyForm: py-libp2p 0.8 announces one TXT record whose keys are
// dnsaddr, dnsaddr2, dnsaddr3 … (python-zeroconf keeps one value per key);
// every one is an address. Its SRV port is 4001 whatever it listens on and
// its A record the default-route source address (127.0.0.1 without one), so
// only the TXT strings are used. Layout as captured from py-libp2p 0.8.1
// (testdata/pcap/y1_pylibp2p_two_nodes.pcap, y2_pylibp2p_many_addrs.pcap).
func TestDecodePyForm(t *testing.T) {
	inst := "d37eycvqjsgc8yenl31r243usbdpibupugz0tn2fpu4cgpluxnm0uzukitexsuv._p2p._udp.local."
	host := "d37eycvqjsgc8yenl31r243usbdpibupugz0tn2fpu4cgpluxnm0uzukitexsuv.local."
	srv := &dns.SRV{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeSRV, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: 120}, Port: 4001, Target: host}
	a := &dns.A{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeA, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: 120}, A: []byte{127, 0, 0, 1}}
	m := response([]dns.RR{ptr("_p2p._udp.local.", inst, 4500), srv, txt(inst, 4500,
		"dnsaddr=/ip6/2001:db8:53::11/tcp/4001/p2p/"+testID,
		"dnsaddr2=/ip4/127.0.0.1/tcp/4005/p2p/"+testID,
		"dnsaddr3=/ip4/198.51.100.11/tcp/4001/p2p/"+testID), a}, nil)
	res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
	if len(res.Candidates) != 1 {
		t.Fatalf("candidates %+v", res)
	}
	c := res.Candidates[0]
	want := []string{"/ip6/2001:db8:53::11/tcp/4001", "/ip4/127.0.0.1/tcp/4005", "/ip4/198.51.100.11/tcp/4001"}
	if c.ID.String() != testID || len(c.Addrs) != len(want) {
		t.Fatalf("decoded %s %v, want %v", c.ID, c.Addrs, want)
	}
	for i, w := range want {
		if c.Addrs[i].String() != w {
			t.Errorf("addr %d = %s, want %s", i, c.Addrs[i], w)
		}
	}
	if c.Port != 4001 || len(c.IPs) != 1 || c.IPs[0].String() != "127.0.0.1" {
		t.Errorf("SRV/A %d %v", c.Port, c.IPs)
	}
}

// TestBestAddressFirst: a reader that takes one dnsaddr string (py-libp2p:
// python-zeroconf keeps the first of repeated keys) gets one it can dial
// from another host: routable before loopback/link-local, plain TCP before
// other transports, IPv4 before IPv6; the others keep the given order, and
// TXTFor picks the best of each interface's subset.
func TestBestAddressFirst(t *testing.T) {
	id, _ := peer.Decode(testID)
	for _, tc := range []struct{ in, first []string }{
		{[]string{"/ip4/127.0.0.1/tcp/1", "/ip4/198.51.100.11/udp/2/quic-v1", "/ip6/2001:db8::1/tcp/3", "/ip4/198.51.100.11/tcp/1"},
			[]string{"/ip4/198.51.100.11/tcp/1", "/ip4/127.0.0.1/tcp/1", "/ip4/198.51.100.11/udp/2/quic-v1", "/ip6/2001:db8::1/tcp/3"}},
		{[]string{"/ip6zone/eth0/ip6/fe80::1/tcp/1", "/ip6/::1/tcp/1", "/ip6/2001:db8::1/udp/2/quic-v1", "/ip6/2001:db8::1/tcp/1"},
			[]string{"/ip6/2001:db8::1/tcp/1", "/ip6zone/eth0/ip6/fe80::1/tcp/1", "/ip6/::1/tcp/1", "/ip6/2001:db8::1/udp/2/quic-v1"}},
		{[]string{"/ip4/198.51.100.11/tcp/1", "/ip4/198.51.100.11/tcp/2"}, []string{"/ip4/198.51.100.11/tcp/1", "/ip4/198.51.100.11/tcp/2"}},
		{[]string{"/dns4/peer.local/tcp/1", "/ip4/0.0.0.0/tcp/1", "/ip4/198.51.100.11/tcp/1/ws"},
			[]string{"/dns4/peer.local/tcp/1", "/ip4/0.0.0.0/tcp/1", "/ip4/198.51.100.11/tcp/1/ws"}},
	} {
		var addrs []ma.Multiaddr
		for _, s := range tc.in {
			addrs = append(addrs, ma.StringCast(s))
		}
		rs, err := mdns.NewRecordSet(mdns.Peer{PeerName: "p", ID: id, Addrs: addrs})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range tc.first {
			if got := rs.Strings[i]; got != "dnsaddr="+w+"/p2p/"+testID {
				t.Errorf("%v: string %d = %s, want %s", tc.in, i, got, w)
			}
			if got := rs.TXT.Txt[i]; got != rs.Strings[i] {
				t.Errorf("TXT string %d = %s, want %s", i, got, rs.Strings[i])
			}
		}
	}
	// One interface's subset: the best of it first.
	var addrs []ma.Multiaddr
	for _, s := range []string{"/ip4/10.0.0.5/tcp/1", "/ip4/192.168.1.5/udp/2/quic-v1", "/ip4/192.168.1.5/tcp/1"} {
		addrs = append(addrs, ma.StringCast(s))
	}
	rs, err := mdns.NewRecordSet(mdns.Peer{PeerName: "p", ID: id, Addrs: addrs})
	if err != nil {
		t.Fatal(err)
	}
	wlan := rs.TXTFor(func(a ma.Multiaddr) bool { return !a.Equal(rs.Addrs[0]) })
	if want := "dnsaddr=/ip4/192.168.1.5/tcp/1/p2p/" + testID; len(wlan.Txt) != 2 || wlan.Txt[0] != want {
		t.Errorf("TXTFor subset %v, want %s first", wlan.Txt, want)
	}
}
