package mdns

import (
	"errors"
	"slices"

	"github.com/miekg/dns"
)

// Errors of NSEC.
var (
	ErrNSECNoTypes  = errors.New("mdns: NSEC with no types (RFC 6762 §6.1 wants a bitmap block of 1–32 bytes)")
	ErrNSECHighType = errors.New("mdns: NSEC type ≥ 256 (not expressible in the restricted form of RFC 6762 §6.1)")
	ErrNSECSelf     = errors.New("mdns: NSEC bitmap with the NSEC bit (RFC 6762 §6.1 forbids it in synthesized NSECs)")
)

// NSEC returns the negative-answer record of RFC 6762 §6.1 for name: an
// NSEC in the restricted form every mDNS implementation parses, whose next
// domain name is name itself and whose type bitmap (one block, number 0)
// lists the types that do exist at name, so that every other type is
// asserted not to exist. It is unique (cache-flush bit, §10.2): only the
// owner of a name verified by probing may send it. The types must be below
// 256, at least one, and not NSEC itself (§6.1: "the synthesized Multicast
// DNS NSEC records MUST NOT have the NSEC bit set").
//
// miekg/dns packs it: the next domain name is written uncompressed (RFC
// 4034 §4.1.1; RFC 6762 §18.14 allows compression there but does not
// require it, and every receiver reads the uncompressed form).
func NSEC(name string, ttl uint32, types ...uint16) (*dns.NSEC, error) {
	if len(types) == 0 {
		return nil, ErrNSECNoTypes
	}
	bitmap := slices.Clone(types)
	slices.Sort(bitmap)
	bitmap = slices.Compact(bitmap)
	if bitmap[len(bitmap)-1] >= 256 {
		return nil, ErrNSECHighType
	}
	if slices.Contains(bitmap, dns.TypeNSEC) {
		return nil, ErrNSECSelf
	}
	return &dns.NSEC{Hdr: hdr(name, dns.TypeNSEC, ttl, true), NextDomain: name, TypeBitMap: bitmap}, nil
}

// HostNSEC returns the NSEC of the host name for an interface with
// addresses of the given families (RFC 6762 §6.1, §6.2): it lists A and/or
// AAAA, with the TTL the missing address records would have had (TTLHost,
// the §6.1 example: 120 s). It is nil for an interface without addresses:
// the host name has no record there, which the restricted form cannot say.
func (rs *RecordSet) HostNSEC(v4, v6 bool) *dns.NSEC {
	var types []uint16
	if v4 {
		types = append(types, dns.TypeA)
	}
	if v6 {
		types = append(types, dns.TypeAAAA)
	}
	n, err := NSEC(rs.Host, rs.TTLHost, types...)
	if err != nil {
		return nil
	}
	return n
}

// InstanceNSEC returns the NSEC of the instance name: it lists SRV and TXT.
// Its TTL is the smaller of the two records' (TTLHost by default, 120 s):
// a type the instance lacks has no TTL of its own, and a negative answer
// should not outlive the records it stands beside (§6.1, §10).
func (rs *RecordSet) InstanceNSEC() *dns.NSEC {
	n, _ := NSEC(rs.Instance, min(rs.TTLHost, rs.TTLOther), dns.TypeSRV, dns.TypeTXT)
	return n
}

// NSECDenies reports whether n asserts that no record of type t exists at
// its owner name: t is not in its bitmap (RFC 6762 §6.1). A query for NSEC
// itself is answered by n, not denied.
func NSECDenies(n *dns.NSEC, t uint16) bool {
	return t != dns.TypeNSEC && t != dns.TypeANY && !slices.Contains(n.TypeBitMap, t)
}
