package responder

import (
	"net/netip"
	"testing"

	"github.com/chorus-services/discovery/mdns/transport"
)

// BCT: multiple interfaces (address records). Which multiaddrs an
// interface announces (RFC 6762 §6.2, §15).
func TestReachable(t *testing.T) {
	eth := transport.Interface{Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.5/24"), netip.MustParsePrefix("fe80::5/64"), netip.MustParsePrefix("fd00::5/64")}}
	lo := transport.Interface{Loopback: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}}
	for _, tc := range []struct {
		addr    string
		eth, lo bool
	}{
		{"/ip4/192.168.1.9/tcp/1", true, false},  // same subnet
		{"/ip4/192.168.2.9/tcp/1", false, false}, // other private subnet
		{"/ip4/10.1.1.1/tcp/1", false, false},    // other private subnet
		{"/ip4/8.8.8.8/tcp/1", true, true},       // public
		{"/ip6/2606:4700::1/tcp/1", true, true},  // public
		{"/ip6/fd00::9/tcp/1", true, false},      // ULA on this subnet
		{"/ip6/fd01::9/tcp/1", false, false},     // other ULA
		{"/ip6/fe80::5/tcp/1", true, false},      // own link-local
		{"/ip6/fe80::99/tcp/1", false, false},    // another link's link-local
		{"/ip4/169.254.3.3/tcp/1", false, false}, // v4 link-local off subnet
		{"/ip4/127.0.0.1/tcp/1", false, true},    // loopback
		{"/ip6/::1/tcp/1", false, true},          // loopback
		{"/ip4/0.0.0.0/tcp/1", false, false},     // unspecified
		{"/ip6/::/tcp/1", false, false},          // unspecified
		{"/dns4/example.com/tcp/1", true, true},  // no IP: kept
		{"/ip4/224.0.0.251/udp/1", false, false}, // multicast
	} {
		a := maddrs(t, tc.addr)[0]
		if got := reachable(&eth, a); got != tc.eth {
			t.Errorf("%s on eth: %v", tc.addr, got)
		}
		if got := reachable(&lo, a); got != tc.lo {
			t.Errorf("%s on lo: %v", tc.addr, got)
		}
	}
}
