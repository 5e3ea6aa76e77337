package mdns

import "net/netip"

// Wire constants (RFC 6762 §3, §5; RFC 6763 §9; libp2p mDNS spec).
var (
	// GroupV4 is the IPv4 mDNS multicast group 224.0.0.251.
	GroupV4 = netip.AddrFrom4([4]byte{224, 0, 0, 251})
	// GroupV6 is the IPv6 link-local mDNS multicast group ff02::fb.
	GroupV6 = netip.MustParseAddr("ff02::fb")
)

const (
	// Port is the mDNS UDP port.
	Port = 5353
	// SpecService is the libp2p mDNS spec's DNS-SD service name, what the
	// empty tag maps to (ServiceName). Callers with other defaults (the
	// root package's NewMDNSDiscovery) pass their tag explicitly.
	SpecService = "_p2p._udp.local."
	// SpecTag is the libp2p mDNS spec's service tag; it maps to SpecService.
	SpecTag = "_p2p._udp"
	// MetaQuery is the DNS-SD service type enumeration name (RFC 6763 §9).
	MetaQuery = "_services._dns-sd._udp.local."
	// Domain is the mDNS domain.
	Domain = "local."
	// DNSAddrPrefix starts every TXT string that carries a multiaddr.
	DNSAddrPrefix = "dnsaddr="

	// MaxPacketSize is the largest mDNS message we accept (RFC 6762 §17:
	// 9000 bytes including IP and UDP headers; we accept a 9000-byte payload).
	MaxPacketSize = 9000
	// DefaultMTU is assumed when an interface reports none.
	DefaultMTU = 1500

	// TTLHost is the TTL of records that carry a host name (SRV, A, AAAA),
	// RFC 6762 §10: 120 s.
	TTLHost = 120
	// TTLOther is the TTL of other records (PTR, TXT), RFC 6762 §10: 75 min.
	TTLOther = 4500

	// CacheFlushBit is the top bit of the rrclass of a unique record
	// (RFC 6762 §10.2); in a question it is the unicast-response bit (§5.4).
	CacheFlushBit = 1 << 15
)

// MaxPayload is the largest UDP payload that fits mtu without IP
// fragmentation: mtu − 20 − 8 for IPv4, mtu − 40 − 8 for IPv6.
// An mtu ≤ 0 means DefaultMTU.
func MaxPayload(mtu int, v4 bool) int {
	if mtu <= 0 {
		mtu = DefaultMTU
	}
	if v4 {
		return mtu - 28
	}
	return mtu - 48
}
