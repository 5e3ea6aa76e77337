package mdns

import (
	"net/netip"

	ma "github.com/multiformats/go-multiaddr"
)

// Single-address readers. Several decoders take ONE address per peer from
// our TXT record: python-zeroconf (py-libp2p's mDNS) turns the TXT strings
// into a dict and keeps the first value of a repeated key, so py-libp2p
// learns only our first "dnsaddr=" string; other DNS-SD clients show one
// too. So the best string is announced first: an address every flavour
// can dial from another host of the link.
//
// dialRank orders multiaddrs (lower first), as a sum of three ranks:
//   - scope: an address another host can dial (0), or one only this host or
//     link can (loopback, IPv6 link-local, which needs a zone the reader
//     does not have, unspecified: 100);
//   - transport: plain TCP (0), which every libp2p flavour has (py-libp2p
//     and js-libp2p's Node build have no QUIC by default), or anything
//     else (10);
//   - family: IPv4 (0) before IPv6 (1) and names (2): py-libp2p's and
//     js-libp2p's mDNS are IPv4-only, and a peer reached over IPv4 multicast
//     may have no IPv6 route.
func dialRank(a ma.Multiaddr) int {
	if len(a) == 0 {
		return 1000
	}
	r := 0
	switch a[0].Code() {
	case ma.P_IP4, ma.P_IP6:
		ip, ok := netip.AddrFromSlice(a[0].RawValue())
		ip = ip.Unmap()
		if !ok || ip.IsLoopback() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
			r += 100
		}
		if ip.Is6() {
			r++
		}
	case ma.P_IP6ZONE:
		r += 101
	default:
		r += 2
	}
	if !plainTCP(a) {
		r += 10
	}
	return r
}

// plainTCP reports whether a is <ip or name>/tcp/<port> (with at most a
// /p2p suffix).
func plainTCP(a ma.Multiaddr) bool {
	rest := a[1:]
	if len(a) > 0 && a[0].Code() == ma.P_IP6ZONE {
		if len(a) < 2 {
			return false
		}
		rest = a[2:]
	}
	if len(rest) == 0 || rest[0].Code() != ma.P_TCP {
		return false
	}
	return len(rest) == 1 || (len(rest) == 2 && rest[1].Code() == ma.P_P2P)
}

// bestFirst moves the address of lowest dialRank (the first of equals) to
// the front of rs.Strings and rs.Addrs; the others keep the given order, so
// that readers of every address see the host's own order.
func (rs *RecordSet) bestFirst() {
	best, bestRank := 0, 0
	for i, a := range rs.Addrs {
		if r := dialRank(a); i == 0 || r < bestRank {
			best, bestRank = i, r
		}
	}
	moveToFront(rs.Strings, best)
	moveToFront(rs.Addrs, best)
}

// moveToFront moves s[i] to s[0], shifting s[:i] up by one.
func moveToFront[T any](s []T, i int) {
	if i <= 0 || i >= len(s) {
		return
	}
	v := s[i]
	copy(s[1:i+1], s[:i])
	s[0] = v
}
