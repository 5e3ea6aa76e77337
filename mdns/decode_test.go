package mdns_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/chorus-services/discovery/mdns"
	"github.com/miekg/dns"
)

const otherID = "12D3KooWHbcHt8rxiyd2YnNxXquxWitt23FNNhZ15F74c7QnqYWb"

func txt(owner string, ttl uint32, s ...string) *dns.TXT {
	return &dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: ttl}, Txt: s}
}

func ptr(owner, target string, ttl uint32) *dns.PTR {
	return &dns.PTR{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}, Ptr: target}
}

func response(ans, extra []dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.Response, m.Authoritative = true, true
	m.Answer, m.Extra = ans, extra
	// Round-trip through the wire so the test sees what a receiver sees.
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	out, err := mdns.Parse(b)
	if err != nil {
		panic(err)
	}
	return out
}

func TestDecodeRustForm(t *testing.T) {
	target := "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789."
	m := response([]dns.RR{ptr("_p2p._udp.local.", target, 360)}, []dns.RR{
		txt(target, 360, "dnsaddr=/ip4/198.51.100.11/tcp/4001/p2p/"+testID),
		txt(target, 360, "dnsaddr=/ip6/::1/tcp/4001/p2p/"+testID),
	})
	res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
	if len(res.Candidates) != 1 {
		t.Fatalf("%+v", res)
	}
	c := res.Candidates[0]
	if c.Flavour != mdns.FlavourRust || len(c.Addrs) != 2 || c.ID.String() != testID || c.TTL != 360 || !c.CacheFlush {
		t.Errorf("%+v", c)
	}
}

func TestDecodeJSForm(t *testing.T) {
	inst := strings.Repeat("q", 63) + "._p2p._udp.local."
	m := response([]dns.RR{
		ptr("_p2p._udp.local.", inst, 120),
		txt(inst, 120, "dnsaddr=/ip4/198.51.100.11/tcp/4002/p2p/"+testID),
		txt(inst, 120, "dnsaddr=/ip6/2001:db8::1/tcp/4002/p2p/"+testID),
	}, nil)
	res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
	if len(res.Candidates) != 1 || res.Candidates[0].Flavour != mdns.FlavourJS || len(res.Candidates[0].Addrs) != 2 {
		t.Fatalf("%+v", res)
	}
}

func TestDecodeRejects(t *testing.T) {
	inst := "x._p2p._udp.local."
	cases := map[string]struct {
		strs []string
		err  error
		bad  int
	}{
		"mixed IDs":   {[]string{"dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID, "dnsaddr=/ip4/198.51.100.2/tcp/1/p2p/" + otherID}, mdns.ErrMixedIDs, 0},
		"missing ID":  {[]string{"dnsaddr=/ip4/198.51.100.1/tcp/1"}, mdns.ErrMissingID, 0},
		"bad ID":      {[]string{"dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/QmInvalid"}, nil, 1},
		"not maddr":   {[]string{"dnsaddr=hello", "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID}, nil, 1},
		"bad utf8":    {[]string{"dnsaddr=/ip4/\\255\\254/tcp/1/p2p/" + testID, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID}, nil, 1},
		"other key":   {[]string{"path=/", "DNSADDR=/ip4/198.51.100.1/tcp/1/p2p/" + testID}, nil, 0},
		"only p2p":    {[]string{"dnsaddr=/p2p/" + testID, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID}, nil, 0},
		"duplicates":  {[]string{"dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID}, nil, 0},
		"no dnsaddrs": {[]string{"txtvers=1"}, nil, 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := response([]dns.RR{ptr(mdns.SpecService, inst, 120)}, []dns.RR{txt(inst, 120, c.strs...)})
			res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
			if c.err != nil {
				if len(res.Candidates) != 0 || len(res.Rejected) != 1 || !errors.Is(res.Rejected[0].Err, c.err) {
					t.Fatalf("%+v", res)
				}
				return
			}
			if res.BadStrings != c.bad {
				t.Errorf("bad strings %d, want %d", res.BadStrings, c.bad)
			}
			if name == "no dnsaddrs" || name == "bad ID" {
				if len(res.Candidates) != 0 {
					t.Errorf("%+v", res)
				}
				return
			}
			if len(res.Candidates) != 1 || len(res.Candidates[0].Addrs) != 1 || res.Candidates[0].ID.String() != testID {
				t.Fatalf("%+v", res)
			}
		})
	}
}

func TestDecodeMaxAddrs(t *testing.T) {
	inst := "x._p2p._udp.local."
	var strs []string
	for i := 0; i < 1000; i++ {
		strs = append(strs, "dnsaddr=/ip4/10.0."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250)+"/tcp/1/p2p/"+testID)
	}
	// Build the message directly: 1000 strings is > 64 KiB only when packed
	// with long strings; these fit.
	m := new(dns.Msg)
	m.Response = true
	m.Answer = []dns.RR{ptr(mdns.SpecService, inst, 120), txt(inst, 120, strs...)}
	res := mdns.NewDecoder(mdns.SpecService, 64).Decode(m, false)
	if len(res.Candidates) != 1 || len(res.Candidates[0].Addrs) != 64 || res.BadStrings != 1000-64 {
		t.Fatalf("addrs %d, bad %d", len(res.Candidates[0].Addrs), res.BadStrings)
	}
}

func TestDecodeGoodbyeAndWithdrawn(t *testing.T) {
	inst := "Abc._p2p._udp.local."
	m := response([]dns.RR{ptr(mdns.SpecService, inst, 0), txt(inst, 0, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/"+testID)}, nil)
	res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
	if len(res.Candidates) != 1 || res.Candidates[0].TTL != 0 {
		t.Fatalf("%+v", res)
	}
	m = response([]dns.RR{ptr(mdns.SpecService, inst, 0)}, nil)
	res = mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
	if len(res.Withdrawn) != 1 || res.Withdrawn[0] != strings.ToLower(inst) {
		t.Fatalf("%+v", res)
	}
}

func TestDecodeIgnoresOtherServicesAndQueries(t *testing.T) {
	inst := "x._other._tcp.local."
	m := response([]dns.RR{ptr("_other._tcp.local.", inst, 120), txt(inst, 120, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/"+testID)}, nil)
	if res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false); len(res.Candidates) != 0 {
		t.Fatalf("%+v", res)
	}
	q := new(dns.Msg)
	q.Question = []dns.Question{{Name: mdns.SpecService, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
	q.Answer = []dns.RR{ptr(mdns.SpecService, "y._p2p._udp.local.", 120)}
	q.Ns = []dns.RR{txt("y._p2p._udp.local.", 120, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/"+testID)}
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	if res := dec.Decode(q, false); len(res.Candidates) != 0 {
		t.Fatalf("queries carry no discovery data: %+v", res)
	}
	if res := dec.Decode(q, true); len(res.Candidates) != 1 {
		t.Fatalf("probe hint: %+v", res)
	}
}

func TestCustomServiceTag(t *testing.T) {
	svc, err := mdns.ServiceName("CHORUS-peer-discovery")
	if err != nil {
		t.Fatal(err)
	}
	p := testPeer(t, 3)
	p.Service = svc
	rs, err := mdns.NewRecordSet(p)
	if err != nil {
		t.Fatal(err)
	}
	pkts, _, err := ptrAnswer(rs, 1472)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := mdns.Parse(pkts[0])
	if got := zeroconfView(m, "CHORUS-peer-discovery.local."); len(got[rs.ID]) != 3 {
		t.Errorf("go-libp2p with the same tag sees %v", got)
	}
	if res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false); len(res.Candidates) != 0 {
		t.Error("a browser of another tag must not see this peer")
	}
	if res := mdns.NewDecoder("chorus-PEER-discovery.local.", 0).Decode(m, false); len(res.Candidates) != 1 {
		t.Error("service names compare case-insensitively")
	}
}

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
