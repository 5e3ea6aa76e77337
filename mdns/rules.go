package mdns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// The record rules the responder and the browser share: each lives here
// once.

// ServiceFQDN returns the fully qualified service name of s, which is
// either a service tag (mapped by ServiceName: "" is the libp2p spec's
// "_p2p._udp") or already a service name in the .local domain
// ("_p2p._udp.local" or "_p2p._udp.local."). The name must have a
// service label: ".local." alone is an error, as is anything ServiceName
// rejects.
func ServiceFQDN(s string) (string, error) {
	t := strings.TrimSuffix(s, ".")
	if l := strings.ToLower(t); l == "local" || strings.HasSuffix(l, ".local") {
		base := strings.Trim(t[:len(t)-len("local")], ".")
		if base == "" {
			return "", fmt.Errorf("%w %q: no service label before \".local\"", ErrBadTag, s)
		}
		return ServiceName(base)
	}
	return ServiceName(s)
}

// SameRecord reports whether a and b are the same resource record for
// mDNS purposes: same owner name, type, class (the cache-flush bit
// ignored, RFC 6762 §10.2) and rdata, whatever their TTLs. Names compare
// case-insensitively (RFC 6762 §16). It serves known-answer suppression
// (§7.1), duplicate suppression (§7.3, §7.4) and conflict detection (§9).
func SameRecord(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	if ha.Rrtype != hb.Rrtype || ha.Class&^CacheFlushBit != hb.Class&^CacheFlushBit || !EqualNames(ha.Name, hb.Name) {
		return false
	}
	switch x := a.(type) {
	case *dns.PTR:
		y, ok := b.(*dns.PTR)
		return ok && EqualNames(x.Ptr, y.Ptr)
	case *dns.SRV:
		y, ok := b.(*dns.SRV)
		return ok && x.Port == y.Port && x.Priority == y.Priority && x.Weight == y.Weight && EqualNames(x.Target, y.Target)
	case *dns.TXT:
		y, ok := b.(*dns.TXT)
		return ok && slices.Equal(x.Txt, y.Txt)
	case *dns.A:
		y, ok := b.(*dns.A)
		return ok && sameIP(x.A.To4(), y.A.To4())
	case *dns.AAAA:
		y, ok := b.(*dns.AAAA)
		return ok && sameIP(x.AAAA.To16(), y.AAAA.To16())
	case *dns.NSEC:
		// The bitmap is a set: the order miekg/dns unpacked it in is
		// ascending, a record built here may list it in any order.
		y, ok := b.(*dns.NSEC)
		return ok && EqualNames(x.NextDomain, y.NextDomain) && sameTypes(x.TypeBitMap, y.TypeBitMap)
	}
	return dns.IsDuplicate(a, b)
}

// sameIP compares two address forms of a record's rdata (To4, To16) byte
// for byte: nil, the form of malformed rdata, equals only nil.
func sameIP(a, b []byte) bool {
	x, _ := netip.AddrFromSlice(a)
	y, _ := netip.AddrFromSlice(b)
	return x == y
}

// AddrIP returns the IP address a multiaddr dials: its leading /ip4 or
// /ip6 component, after an optional /ip6zone. Other multiaddrs (DNS names,
// relays) have none.
func AddrIP(a ma.Multiaddr) (netip.Addr, bool) {
	if len(a) > 1 && a[0].Code() == ma.P_IP6ZONE {
		a = a[1:]
	}
	if len(a) == 0 {
		return netip.Addr{}, false
	}
	switch c := a[0]; c.Code() {
	case ma.P_IP4, ma.P_IP6:
		ip, ok := netip.AddrFromSlice(c.RawValue())
		return ip.Unmap(), ok
	}
	return netip.Addr{}, false
}

// sameTypes reports whether a and b hold the same types.
func sameTypes(a, b []uint16) bool {
	for _, t := range a {
		if !slices.Contains(b, t) {
			return false
		}
	}
	for _, t := range b {
		if !slices.Contains(a, t) {
			return false
		}
	}
	return true
}

// SameAddrSet reports whether a and b hold the same multiaddrs, in any
// order and counting each once: whether a peer's announced addresses
// changed.
func SameAddrSet(a, b []ma.Multiaddr) bool {
	in := func(set, of []ma.Multiaddr) bool {
		for _, x := range of {
			if !slices.ContainsFunc(set, x.Equal) {
				return false
			}
		}
		return true
	}
	return in(a, b) && in(b, a)
}
