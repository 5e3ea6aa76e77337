package mdns

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// Peer is what one libp2p peer announces: plain data, no host.
type Peer struct {
	// Service is the FQDN from ServiceName ("_p2p._udp.local." by default).
	Service string
	// PeerName is the instance label (see NewPeerName).
	PeerName string
	// ID is the peer's libp2p ID.
	ID peer.ID
	// Addrs are the multiaddrs to announce. "/p2p/<ID>" is appended to each
	// that does not end in it; an address ending in another ID is an error.
	Addrs []ma.Multiaddr
	// Port is the SRV port. 0 takes the first TCP or UDP port of Addrs, and
	// 4001 (as go-libp2p announces) when there is none.
	Port uint16
	// TTLHost and TTLOther override TTLHost (120 s: SRV, A, AAAA) and
	// TTLOther (4500 s: PTR, TXT) of RFC 6762 §10 when non-zero.
	TTLHost, TTLOther uint32
}

// RecordSet is the DNS-SD record set of one Peer (RFC 6763 §4–§6 plus the
// libp2p mDNS spec), with the per-interface A/AAAA records built on demand.
//
// Shape, chosen so that every decoder in use today reads it:
//   - PTR  <service> → <name>.<service>            (shared: no cache-flush)
//   - SRV  <name>.<service> → <name>.local.:port   (unique: cache-flush)
//   - TXT  <name>.<service> "dnsaddr=<ma>/p2p/<id>" (unique: cache-flush),
//     ONE record with one string per multiaddr: go-libp2p's zeroconf keeps
//     only the last TXT record of an instance, rust-libp2p reads every
//     string of every TXT owned by the PTR target from the additional
//     section, js-libp2p reads every string of TXT records in answers and
//     additionals, and RFC 6763 §6 wants one TXT record per instance.
//   - A/AAAA <name>.local. for the interface answered on (unique), which
//     go-libp2p's zeroconf needs in the same packet as the SRV.
//   - Meta: PTR _services._dns-sd._udp.local. → <service> (RFC 6763 §9).
type RecordSet struct {
	Service, Instance, Host string
	ID                      peer.ID
	TTLHost, TTLOther       uint32

	PTR  *dns.PTR
	SRV  *dns.SRV
	TXT  *dns.TXT
	Meta *dns.PTR

	// Strings are the dnsaddr TXT strings in announcement order (raw, not
	// escaped), and Addrs the multiaddrs they carry (with /p2p/<id>): the
	// best one first, for a reader that takes only the first (see
	// dialRank), the others in the order given.
	Strings []string
	Addrs   []ma.Multiaddr
	// Skipped counts multiaddrs left out because "dnsaddr=<ma>" exceeds the
	// 255-byte limit of one TXT character-string (RFC 1035 §3.3) or is not
	// printable ASCII.
	Skipped int
}

// ErrNoID is returned for a Peer without an ID.
var ErrNoID = errors.New("mdns: peer has no ID")

// NewRecordSet validates p and builds its record set.
func NewRecordSet(p Peer) (*RecordSet, error) {
	if p.ID == "" {
		return nil, ErrNoID
	}
	if err := p.ID.Validate(); err != nil {
		return nil, fmt.Errorf("mdns: invalid peer ID: %w", err)
	}
	if p.Service == "" {
		p.Service = SpecService
	}
	if !strings.HasSuffix(p.Service, ".") {
		p.Service += "."
	}
	if err := checkLabel(p.PeerName); err != nil {
		return nil, fmt.Errorf("mdns: invalid peer name: %v", err)
	}
	rs := &RecordSet{
		Service:  p.Service,
		Instance: InstanceName(p.PeerName, p.Service),
		Host:     HostName(p.PeerName),
		ID:       p.ID,
		TTLHost:  p.TTLHost,
		TTLOther: p.TTLOther,
	}
	if rs.TTLHost == 0 {
		rs.TTLHost = TTLHost
	}
	if rs.TTLOther == 0 {
		rs.TTLOther = TTLOther
	}
	port, err := rs.addStrings(p)
	if err != nil {
		return nil, err
	}
	rs.bestFirst()
	if port == 0 {
		port = 4001
	}
	rs.PTR = &dns.PTR{Hdr: hdr(rs.Service, dns.TypePTR, rs.TTLOther, false), Ptr: rs.Instance}
	rs.SRV = &dns.SRV{Hdr: hdr(rs.Instance, dns.TypeSRV, rs.TTLHost, true), Port: port, Target: rs.Host}
	rs.TXT = &dns.TXT{Hdr: hdr(rs.Instance, dns.TypeTXT, rs.TTLOther, true), Txt: EscapeTXT(rs.Strings)}
	if len(rs.TXT.Txt) == 0 {
		// RFC 6763 §6.1: an empty TXT record holds one empty string.
		rs.TXT.Txt = []string{""}
	}
	rs.Meta = &dns.PTR{Hdr: hdr(MetaQuery, dns.TypePTR, rs.TTLOther, false), Ptr: rs.Service}
	return rs, nil
}

// addStrings makes the dnsaddr strings of p's addresses (each with the
// /p2p/<id> suffix, duplicates once) and returns the SRV port: p.Port, or
// the first address's port (0 when none has one).
func (rs *RecordSet) addStrings(p Peer) (uint16, error) {
	p2p, err := ma.NewComponent("p2p", p.ID.String())
	if err != nil {
		return 0, fmt.Errorf("mdns: peer ID as multiaddr: %w", err)
	}
	port := p.Port
	seen := make(map[string]bool, len(p.Addrs))
	for _, a := range p.Addrs {
		if len(a) == 0 {
			continue
		}
		full, err := withID(a, p.ID, p2p)
		if err != nil {
			return 0, err
		}
		s := DNSAddrPrefix + full.String()
		if seen[s] {
			continue
		}
		seen[s] = true
		if len(s) > 255 || !printableASCII(s) {
			// One TXT character-string holds 255 bytes (RFC 1035 §3.3); a
			// string with spaces or non-ASCII bytes is rejected by the
			// decoders (ours, rust-libp2p's), so it is not announced.
			rs.Skipped++
			continue
		}
		if port == 0 {
			port = firstPort(a)
		}
		rs.Strings = append(rs.Strings, s)
		rs.Addrs = append(rs.Addrs, full)
	}
	return port, nil
}

// withID returns a with "/p2p/<id>" appended, or a itself if it already
// ends in that ID.
func withID(a ma.Multiaddr, id peer.ID, p2p *ma.Component) (ma.Multiaddr, error) {
	if last := a[len(a)-1]; last.Code() == ma.P_P2P {
		got, err := peer.IDFromBytes(last.RawValue())
		if err != nil || got != id {
			return nil, fmt.Errorf("mdns: address %s names another peer than %s", a, id)
		}
		return a, nil
	}
	out := make(ma.Multiaddr, 0, len(a)+1)
	out = append(out, a...)
	return append(out, *p2p), nil
}

func firstPort(a ma.Multiaddr) uint16 {
	for _, c := range a {
		if c.Code() == ma.P_TCP || c.Code() == ma.P_UDP {
			raw := c.RawValue()
			if len(raw) == 2 {
				return uint16(raw[0])<<8 | uint16(raw[1])
			}
		}
	}
	return 0
}

func hdr(name string, t uint16, ttl uint32, unique bool) dns.RR_Header {
	class := uint16(dns.ClassINET)
	if unique {
		class |= CacheFlushBit
	}
	return dns.RR_Header{Name: name, Rrtype: t, Class: class, Ttl: ttl}
}

// HostRecords returns the A and AAAA records (unique, cache-flush) of the
// record set's host name for the given addresses: the addresses of the
// interface being answered on (RFC 6762 §6.2). IPv6 zones are dropped.
func (rs *RecordSet) HostRecords(ips []netip.Addr) []dns.RR {
	out := make([]dns.RR, 0, len(ips))
	for _, ip := range ips {
		ip = ip.Unmap().WithZone("")
		if ip.Is4() {
			b := ip.As4()
			out = append(out, &dns.A{Hdr: hdr(rs.Host, dns.TypeA, rs.TTLHost, true), A: b[:]})
		} else if ip.Is6() {
			b := ip.As16()
			out = append(out, &dns.AAAA{Hdr: hdr(rs.Host, dns.TypeAAAA, rs.TTLHost, true), AAAA: b[:]})
		}
	}
	return out
}

// TXTFor returns a TXT record owned by the instance that carries only the
// strings of the given multiaddrs (a subset of rs.Addrs, e.g. those
// reachable on one interface, RFC 6762 §6.2): the best of them first (see
// dialRank), the others in rs order.
func (rs *RecordSet) TXTFor(keep func(ma.Multiaddr) bool) *dns.TXT {
	t := &dns.TXT{Hdr: rs.TXT.Hdr}
	best, bestRank := -1, 0
	for i, a := range rs.Addrs {
		if keep == nil || keep(a) {
			if r := dialRank(a); best < 0 || r < bestRank {
				best, bestRank = len(t.Txt), r
			}
			t.Txt = append(t.Txt, escapeTXT(rs.Strings[i]))
		}
	}
	moveToFront(t.Txt, best)
	if len(t.Txt) == 0 {
		t.Txt = []string{""}
	}
	return t
}

// WithTTL returns copies of rrs with the TTL set, e.g. 0 for a goodbye
// (RFC 6762 §10.1) or ≤ 10 s for a legacy unicast answer (§6.7).
func WithTTL(rrs []dns.RR, ttl uint32) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = ttl
		out[i] = c
	}
	return out
}

// CapTTL returns copies of rrs whose TTL is at most max.
func CapTTL(rrs []dns.RR, max uint32) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		if c.Header().Ttl > max {
			c.Header().Ttl = max
		}
		out[i] = c
	}
	return out
}

// EscapeTXT turns raw TXT character-strings into miekg/dns's presentation
// form (a backslash must be escaped; every other byte is packed as is).
func EscapeTXT(raw []string) []string {
	out := make([]string, len(raw))
	for i, s := range raw {
		out[i] = escapeTXT(s)
	}
	return out
}

func escapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.ReplaceAll(s, `\`, `\\`)
}
