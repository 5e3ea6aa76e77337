package mdns

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

func TestServiceFQDN(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "_p2p._udp.local.",
		"_p2p._udp":                    "_p2p._udp.local.",
		"CHORUS-peer-discovery":        "CHORUS-peer-discovery.local.",
		"_x._udp.local":                "_x._udp.local.",
		"_x._udp.local.":               "_x._udp.local.",
		"_x._udp.LOCAL.":               "_x._udp.local.",
		"CHORUS-peer-discovery.local.": "CHORUS-peer-discovery.local.",
	} {
		got, err := ServiceFQDN(in)
		if err != nil || got != want {
			t.Errorf("ServiceFQDN(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{".local.", "local.", "local", "..local", "a,b", "a..b.local."} {
		if got, err := ServiceFQDN(in); !errors.Is(err, ErrBadTag) {
			t.Errorf("ServiceFQDN(%q) = %q, %v; want ErrBadTag", in, got, err)
		}
	}
}

func TestSameRecord(t *testing.T) {
	hdr := func(name string, typ, class uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: typ, Class: class, Ttl: ttl}
	}
	ptr := &dns.PTR{Hdr: hdr("_p2p._udp.local.", dns.TypePTR, dns.ClassINET, 4500), Ptr: "abc._p2p._udp.local."}
	same := []struct{ a, b dns.RR }{
		{ptr, &dns.PTR{Hdr: hdr("_P2P._udp.local", dns.TypePTR, dns.ClassINET, 0), Ptr: "ABC._p2p._udp.local."}},
		{&dns.TXT{Hdr: hdr("a.local.", dns.TypeTXT, dns.ClassINET|CacheFlushBit, 1), Txt: []string{"x", "y"}},
			&dns.TXT{Hdr: hdr("a.local.", dns.TypeTXT, dns.ClassINET, 2), Txt: []string{"x", "y"}}},
		{&dns.SRV{Hdr: hdr("a.local.", dns.TypeSRV, 1, 1), Port: 9, Target: "h.local."},
			&dns.SRV{Hdr: hdr("a.local.", dns.TypeSRV, 1, 2), Port: 9, Target: "H.local."}},
		{&dns.A{Hdr: hdr("h.local.", dns.TypeA, 1, 1), A: net.IPv4(10, 0, 0, 1)},
			&dns.A{Hdr: hdr("h.local.", dns.TypeA, 1, 1), A: net.IP{10, 0, 0, 1}}},
		// NSEC: the bitmap is a set; the cache-flush bit and case do not count.
		{&dns.NSEC{Hdr: hdr("h.local.", dns.TypeNSEC, dns.ClassINET|CacheFlushBit, 120), NextDomain: "h.local.", TypeBitMap: []uint16{dns.TypeA, dns.TypeAAAA}},
			&dns.NSEC{Hdr: hdr("H.local.", dns.TypeNSEC, dns.ClassINET, 60), NextDomain: "h.LOCAL.", TypeBitMap: []uint16{dns.TypeAAAA, dns.TypeA}}},
	}
	for _, c := range same {
		if !SameRecord(c.a, c.b) || !SameRecord(c.b, c.a) {
			t.Errorf("not the same: %v / %v", c.a, c.b)
		}
	}
	differ := []dns.RR{
		&dns.PTR{Hdr: hdr("_p2p._udp.local.", dns.TypePTR, dns.ClassINET, 4500), Ptr: "abd._p2p._udp.local."},
		&dns.PTR{Hdr: hdr("_p2p._udp.local.", dns.TypePTR, dns.ClassCHAOS, 4500), Ptr: "abc._p2p._udp.local."},
		&dns.TXT{Hdr: hdr("_p2p._udp.local.", dns.TypeTXT, dns.ClassINET, 4500), Txt: []string{"abc._p2p._udp.local."}},
	}
	for _, b := range differ {
		if SameRecord(ptr, b) {
			t.Errorf("the same: %v / %v", ptr, b)
		}
	}
	nsec := &dns.NSEC{Hdr: hdr("h.local.", dns.TypeNSEC, dns.ClassINET, 120), NextDomain: "h.local.", TypeBitMap: []uint16{dns.TypeA}}
	for _, b := range []*dns.NSEC{
		{Hdr: nsec.Hdr, NextDomain: "h.local.", TypeBitMap: []uint16{dns.TypeA, dns.TypeAAAA}},
		{Hdr: nsec.Hdr, NextDomain: "h.local.", TypeBitMap: []uint16{dns.TypeAAAA}},
		{Hdr: nsec.Hdr, NextDomain: "i.local.", TypeBitMap: []uint16{dns.TypeA}},
	} {
		if SameRecord(nsec, b) || SameRecord(b, nsec) {
			t.Errorf("the same: %v / %v", nsec, b)
		}
	}
}

func TestAddrIP(t *testing.T) {
	for in, want := range map[string]string{
		"/ip4/10.0.0.1/tcp/1":                         "10.0.0.1",
		"/ip6/::1/udp/1/quic-v1":                      "::1",
		"/ip6zone/eth0/ip6/fe80::1/tcp/1":             "fe80::1",
		"/dns4/a.local/tcp/1":                         "",
		"/ip4/10.0.0.1/tcp/1/p2p-circuit/ip4/1.2.3.4": "10.0.0.1",
	} {
		ip, ok := AddrIP(ma.StringCast(in))
		if want == "" {
			if ok {
				t.Errorf("AddrIP(%s) = %v, want none", in, ip)
			}
			continue
		}
		if !ok || ip != netip.MustParseAddr(want) {
			t.Errorf("AddrIP(%s) = %v %v, want %s", in, ip, ok, want)
		}
	}
}

// TestSameAddrSet: a peer's addresses changed (the facade re-announces,
// the browser emits Updated) only when the set changed, whatever its order
// and repetitions (internal/hardening/faults.TestAddrAddRemove checks the
// whole path in namespaces).
func TestSameAddrSet(t *testing.T) {
	a := ma.StringCast("/ip4/198.51.100.11/tcp/4001")
	b := ma.StringCast("/ip6/2001:db8:53::11/tcp/4001")
	c := ma.StringCast("/ip4/198.51.100.200/tcp/4001")
	for _, tc := range []struct {
		x, y []ma.Multiaddr
		want bool
	}{
		{[]ma.Multiaddr{a, b}, []ma.Multiaddr{b, a}, true},
		{nil, nil, true},
		{[]ma.Multiaddr{a, b}, []ma.Multiaddr{a, b, c}, false},
		{[]ma.Multiaddr{a, c}, []ma.Multiaddr{a, b}, false},
		{[]ma.Multiaddr{a, b}, []ma.Multiaddr{a, a}, false},
		{[]ma.Multiaddr{a, a, b}, []ma.Multiaddr{b, a}, true},
	} {
		if got := SameAddrSet(tc.x, tc.y); got != tc.want {
			t.Errorf("SameAddrSet(%v, %v) = %v", tc.x, tc.y, got)
		}
	}
}
