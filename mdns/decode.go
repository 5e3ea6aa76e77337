package mdns

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// Flavour says which implementation's record layout a candidate came in.
type Flavour uint8

// The flavours the decoder recognises.
const (
	FlavourUnknown Flavour = iota
	// FlavourGo: go-libp2p (zeroconf): PTR, SRV with a "<peer-name>.local."
	// target, one TXT with many strings, A/AAAA; SRV and TXT share one TTL.
	FlavourGo
	// FlavourRust: rust-libp2p: PTR to a single random label outside the
	// service, one TXT per address in the additional section, no SRV/A.
	FlavourRust
	// FlavourJS: js-libp2p: PTR plus TXT records in the answer section,
	// no SRV/A.
	FlavourJS
	// FlavourDNSSD: a DNS-SD responder (Avahi, Bonjour, python-zeroconf)
	// announcing the service with dnsaddr TXT strings.
	FlavourDNSSD
	// FlavourDiscovery: this module (github.com/chorus-services/discovery):
	// go-libp2p's layout, but with the RFC 6762 §10 TTLs, a host TTL on SRV
	// (120 s by default) and another on TXT (4500 s), where zeroconf gives
	// both one TTL (3200 s). Told apart only while both TTLs are non-zero
	// and differ: a goodbye, or equal TTLs set with WithTTLs, read as go.
	// A heuristic: python-zeroconf uses the same TTLs, so a py-libp2p peer
	// announcing one address reads as discovery too (with several, its
	// numbered keys, dnsaddr2= …, make it go).
	FlavourDiscovery
)

func (f Flavour) String() string {
	switch f {
	case FlavourGo:
		return "go"
	case FlavourRust:
		return "rust"
	case FlavourJS:
		return "js"
	case FlavourDNSSD:
		return "dnssd"
	case FlavourDiscovery:
		return "discovery"
	}
	return "unknown"
}

// Candidate is one libp2p peer found in one packet.
type Candidate struct {
	ID peer.ID
	// Instance is the owner of the TXT records (the PTR target).
	Instance string
	// Addrs are the announced multiaddrs without the "/p2p/<id>" suffix,
	// de-duplicated, in announcement order.
	Addrs []ma.Multiaddr
	// TTL is the smallest TTL of the TXT records; 0 is a goodbye (§10.1).
	TTL uint32
	// CacheFlush is set when a TXT record had the cache-flush bit (§10.2).
	CacheFlush bool
	// InAnswer is set when the TXT records were in the answer section.
	InAnswer bool
	Flavour  Flavour
	// Host and Port come from the instance's SRV record, IPs from the A/AAAA
	// records of Host in the same packet, when present.
	Host string
	Port uint16
	IPs  []netip.Addr
}

// Rejection is a TXT record set that named no usable peer.
type Rejection struct {
	Instance string
	Err      error
}

// Result is what Decode found in one message.
type Result struct {
	Candidates []Candidate
	// Withdrawn lists instances withdrawn by a TTL-0 PTR whose TXT was not
	// in the packet (the peer must be looked up by instance name).
	Withdrawn []string
	Rejected  []Rejection
	// BadStrings counts dnsaddr strings that were skipped: not printable
	// ASCII, not a multiaddr, or beyond MaxAddrs.
	BadStrings int
}

// Rejection reasons.
var (
	ErrMissingID = errors.New("mdns: dnsaddr without /p2p/<id>")
	ErrMixedIDs  = errors.New("mdns: dnsaddrs of one instance name different peers")
	ErrBadID     = errors.New("mdns: dnsaddr with an invalid peer ID")
)

// Decoder turns messages into peer candidates for one service. It is safe
// for concurrent use. Its only state is a bounded memo of parsed dnsaddr
// strings: peers repeat the same strings in every announcement and answer,
// and parsing a multiaddr and a base58 peer ID is most of a decode's cost.
type Decoder struct {
	service  string
	maxAddrs int

	mu   sync.Mutex
	memo map[string]parsedAddr // dnsaddr value → parse; reset when full
}

// parsedAddr is one memoised dnsaddr value. tr is shared by every candidate
// decoded from the same string and must not be modified.
type parsedAddr struct {
	tr    ma.Multiaddr
	idStr string
	id    peer.ID // "" when idStr is not a valid peer ID (or empty)
	key   string  // tr in binary form, to drop duplicates
	err   error
}

var errNotPrintable = errors.New("dnsaddr with a space or a non-ASCII byte")

// memoSize bounds the memo: at ~200 bytes an entry, under 1 MB. A flood of
// distinct strings only makes it restart empty.
const memoSize = 4096

// DefaultMaxAddrs bounds the multiaddrs taken from one instance in one packet.
const DefaultMaxAddrs = 256

// NewDecoder returns a decoder for the FQDN service (see ServiceName).
// maxAddrs ≤ 0 means DefaultMaxAddrs.
func NewDecoder(service string, maxAddrs int) *Decoder {
	if !strings.HasSuffix(service, ".") {
		service += "."
	}
	if maxAddrs <= 0 {
		maxAddrs = DefaultMaxAddrs
	}
	return &Decoder{service: service, maxAddrs: maxAddrs}
}

// Service returns the decoder's FQDN service name.
func (d *Decoder) Service() string { return d.service }

type txtGroup struct {
	name     string
	rrs      []*dns.TXT
	ttl      uint32
	flush    bool
	inAnswer bool
	viaPTR   bool   // named as the target of a PTR of the service
	label    string // its label when one label below the service, else ""
}

// Decode extracts every libp2p peer candidate of d's service from m: from
// the answer and additional sections of responses, and from the authority
// section when probes is set (a probe's proposed records, RFC 6762 §8.2,
// are a hint only). Queries carry no discovery data and yield nothing.
func (d *Decoder) Decode(m *dns.Msg, probes bool) Result {
	// One lock per packet, not per string: the memo is the only state.
	d.mu.Lock()
	defer d.mu.Unlock()
	var res Result
	var sections [][]dns.RR
	switch {
	case m.Response:
		sections = [][]dns.RR{m.Answer, m.Extra}
	case probes && len(m.Ns) > 0:
		sections = [][]dns.RR{m.Ns}
	default:
		return res
	}

	ptrTargets := foldMap[uint32]()
	d.servicePTRs(sections, &ptrTargets)
	byName := foldMap[*txtGroup]()
	srvs := foldMap[*dns.SRV]()
	var buf [8]*txtGroup
	groups := d.instanceRecords(m, sections, &ptrTargets, &byName, &srvs, buf[:0])
	for _, g := range groups {
		c, ok := d.candidate(g, &res)
		if !ok {
			continue
		}
		var srvTTL uint32
		if srv, _ := srvs.get(g.name); srv != nil {
			c.Host, c.Port, srvTTL = srv.Target, srv.Port, srv.Hdr.Ttl
			c.IPs = hostIPs(sections, srv.Target)
		}
		c.Flavour = flavourOf(g, c, srvTTL)
		res.Candidates = append(res.Candidates, c)
	}

	// Goodbye PTRs whose TXT records are not in this packet.
	ptrTargets.each(func(target string, ttl uint32) {
		if g, _ := byName.get(target); ttl == 0 && g == nil {
			res.Withdrawn = append(res.Withdrawn, strings.ToLower(target))
		}
	})
	return res
}

// servicePTRs collects (pass 1) the targets of the service's PTR records,
// which name its instances (any target form: rust-libp2p points at a
// single label outside the service), with their largest TTL.
func (d *Decoder) servicePTRs(sections [][]dns.RR, ptrTargets *smallMap[uint32]) {
	for _, sec := range sections {
		for _, rr := range sec {
			if p, ok := rr.(*dns.PTR); ok && Class(p) == dns.ClassINET && EqualNames(p.Hdr.Name, d.service) {
				if ttl, seen := ptrTargets.get(p.Ptr); !seen || p.Hdr.Ttl > ttl {
					ptrTargets.put(p.Ptr, p.Hdr.Ttl)
				}
			}
		}
	}
}

// instanceRecords collects (pass 2) the TXT records owned by an instance,
// grouped by owner in the order first seen (appended to groups), and the
// instances' SRV records.
func (d *Decoder) instanceRecords(m *dns.Msg, sections [][]dns.RR, ptrTargets *smallMap[uint32], byName *smallMap[*txtGroup], srvs *smallMap[*dns.SRV], groups []*txtGroup) []*txtGroup {
	for si, sec := range sections {
		for _, rr := range sec {
			h := rr.Header()
			if h.Class&^CacheFlushBit != dns.ClassINET {
				continue
			}
			switch rr.(type) {
			case *dns.TXT, *dns.SRV:
			default:
				continue
			}
			key := h.Name
			_, viaPTR := ptrTargets.get(key)
			label, child := ChildLabel(h.Name, d.service)
			if !viaPTR && !child {
				continue
			}
			if srv, ok := rr.(*dns.SRV); ok {
				srvs.put(key, srv)
				continue
			}
			g, _ := byName.get(key)
			if g == nil {
				g = &txtGroup{name: h.Name, ttl: h.Ttl, viaPTR: viaPTR, label: label}
				byName.put(key, g)
				groups = append(groups, g)
			}
			g.rrs = append(g.rrs, rr.(*dns.TXT))
			if h.Ttl < g.ttl {
				g.ttl = h.Ttl
			}
			g.flush = g.flush || h.Class&CacheFlushBit != 0
			g.inAnswer = g.inAnswer || (m.Response && si == 0)
		}
	}
	return groups
}

func (d *Decoder) candidate(g *txtGroup, res *Result) (Candidate, bool) {
	c := Candidate{Instance: g.name, TTL: g.ttl, CacheFlush: g.flush, InAnswer: g.inAnswer}
	var firstID string
	var seen smallMap[struct{}] // binary transport addresses taken
	any := false
	for _, t := range g.rrs {
		for _, s := range t.Txt {
			raw, ok := unescapeTXT(s)
			val, isAddr := DNSAddrValue(raw)
			if !isAddr {
				continue // not a dnsaddr string
			}
			any = true
			if !ok {
				res.BadStrings++
				continue
			}
			pa := d.parse(val)
			tr, idStr := pa.tr, pa.idStr
			if pa.err != nil {
				res.BadStrings++
				continue
			}
			if idStr == "" {
				res.Rejected = append(res.Rejected, Rejection{Instance: g.name, Err: ErrMissingID})
				return c, false
			}
			if c.ID == "" {
				if pa.id == "" {
					res.BadStrings++
					continue
				}
				firstID, c.ID = idStr, pa.id
			} else if idStr != firstID {
				if pa.id == "" {
					res.BadStrings++
					continue
				}
				if pa.id != c.ID { // the same ID may be written in another encoding
					res.Rejected = append(res.Rejected, Rejection{Instance: g.name, Err: ErrMixedIDs})
					return c, false
				}
			}
			if len(tr) == 0 {
				continue // "/p2p/<id>" alone carries no address
			}
			if _, dup := seen.get(pa.key); dup {
				continue
			}
			if len(c.Addrs) >= d.maxAddrs {
				res.BadStrings++
				continue
			}
			seen.put(pa.key, struct{}{})
			if c.Addrs == nil {
				c.Addrs = make([]ma.Multiaddr, 0, min(countStrings(g), d.maxAddrs))
			}
			c.Addrs = append(c.Addrs, tr)
		}
	}
	if c.ID == "" {
		if !any && g.ttl == 0 && g.viaPTR {
			res.Withdrawn = append(res.Withdrawn, strings.ToLower(g.name))
		}
		return c, false
	}
	return c, true
}

// maxKeyDigits bounds the number after "dnsaddr" in a key: py-libp2p
// numbers its strings from 2, one per address, and DefaultMaxAddrs is 256.
const maxKeyDigits = 4

// DNSAddrValue returns the multiaddr part of a TXT string that carries one:
// "dnsaddr=<ma>", the key matched case-insensitively (RFC 6763 §6.4), or
// py-libp2p's "dnsaddr2=<ma>", "dnsaddr3=<ma>", … (a number of at most
// maxKeyDigits digits after the key: py-libp2p announces one TXT record
// whose keys must differ, as python-zeroconf keeps one value per key).
func DNSAddrValue(s string) (string, bool) {
	const key = "dnsaddr"
	if len(s) <= len(key) || !asciiFoldEqual(s[:len(key)], key) {
		return "", false
	}
	rest := s[len(key):]
	n := 0
	for n < len(rest) && n <= maxKeyDigits && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n > maxKeyDigits || n == len(rest) || rest[n] != '=' || (n > 0 && rest[0] == '0') {
		return "", false
	}
	return rest[n+1:], true
}

// parse returns the parse of one dnsaddr value (after "dnsaddr="), from the
// memo when it has been seen (d.mu held).
func (d *Decoder) parse(val string) parsedAddr {
	pa, ok := d.memo[val]
	if ok {
		return pa
	}
	if !printableASCII(val) {
		pa.err = errNotPrintable
	} else {
		pa.tr, pa.idStr, pa.err = splitDNSAddr(val)
		pa.key = string(pa.tr.Bytes())
	}
	if pa.err == nil && pa.idStr != "" {
		if id, err := peer.Decode(pa.idStr); err == nil {
			pa.id = id
		}
	}
	if d.memo == nil || len(d.memo) >= memoSize {
		d.memo = make(map[string]parsedAddr, 64)
	}
	d.memo[strings.Clone(val)] = pa
	return pa
}

// splitDNSAddr splits "<transport>/p2p/<id>" into the parsed transport part
// and the ID string without decoding the ID (base58 dominates the cost of a
// full parse, and one packet repeats the same ID in every string). A string
// whose last component is not /p2p (or /ipfs) returns an empty idStr.
func splitDNSAddr(val string) (tr ma.Multiaddr, idStr string, err error) {
	i := strings.LastIndex(val, "/p2p/")
	if j := strings.LastIndex(val, "/ipfs/"); j > i {
		i = j
	}
	if i < 0 || strings.IndexByte(val[i+1:][strings.IndexByte(val[i+1:], '/')+1:], '/') >= 0 {
		// No trailing /p2p component: parse it all to tell "valid but no
		// ID" from garbage.
		a, err := ma.NewMultiaddr(val)
		if err != nil {
			return nil, "", err
		}
		if last := a[len(a)-1]; last.Code() == ma.P_P2P {
			return a[:len(a)-1], last.Value(), nil
		}
		return a, "", nil
	}
	idStr = val[strings.IndexByte(val[i+1:], '/')+i+2:]
	if idStr == "" {
		return nil, "", errors.New("empty peer ID")
	}
	if i == 0 {
		return nil, idStr, nil
	}
	if val[i-1] == '/' {
		// "…//p2p/<id>": an empty component, which a full parse rejects
		// (go-multiaddr would accept the trailing slash of the prefix alone).
		return nil, "", errors.New("empty multiaddr component")
	}
	tr, err = ma.NewMultiaddr(val[:i])
	return tr, idStr, err
}

// countStrings is the number of TXT strings of g: the most addresses it
// can carry (one allocation for them).
func countStrings(g *txtGroup) int {
	n := 0
	for _, t := range g.rrs {
		n += len(t.Txt)
	}
	return n
}

func hostIPs(sections [][]dns.RR, host string) []netip.Addr {
	ips := make([]netip.Addr, 0, 4) // a host's A and AAAA: usually a few
	for _, sec := range sections {
		for _, rr := range sec {
			switch r := rr.(type) {
			case *dns.A:
				if EqualNames(r.Hdr.Name, host) {
					if ip, ok := netip.AddrFromSlice(r.A); ok {
						ips = append(ips, ip.Unmap())
					}
				}
			case *dns.AAAA:
				if EqualNames(r.Hdr.Name, host) {
					if ip, ok := netip.AddrFromSlice(r.AAAA); ok {
						ips = append(ips, ip)
					}
				}
			}
		}
	}
	return ips
}

// isHostOf reports EqualNames(host, HostName(label)) without building the
// name.
func isHostOf(host, label string) bool {
	const suffix = "." + Domain
	host = strings.TrimSuffix(host, ".")
	return len(host) == len(label)+len(suffix)-1 && asciiFoldEqual(host[:len(label)], label) && asciiFoldEqual(host[len(label):], suffix[:len(suffix)-1])
}

// flavourOf tells the implementation from the record layout; srvTTL is the
// TTL of the instance's SRV record (when c.Host is set).
func flavourOf(g *txtGroup, c Candidate, srvTTL uint32) Flavour {
	label := g.label
	switch {
	case label == "":
		return FlavourRust
	case c.Host != "":
		if IsPeerName(label) && isHostOf(c.Host, label) {
			if srvTTL != g.ttl && srvTTL > 0 && g.ttl > 0 && !numberedKeys(g) {
				return FlavourDiscovery // RFC 6762 §10 TTLs (see FlavourDiscovery)
			}
			return FlavourGo
		}
		return FlavourDNSSD
	case !IsPeerName(label):
		return FlavourDNSSD
	case numberedKeys(g):
		// py-libp2p (dnsaddr2= …): go's layout, its SRV in another packet
		// when python-zeroconf splits a large response.
		return FlavourGo
	case g.inAnswer && len(g.rrs) > 1:
		return FlavourJS
	case g.inAnswer:
		return FlavourJS
	}
	return FlavourGo
}

// numberedKeys reports whether a TXT string of g has py-libp2p's numbered
// key (dnsaddr2=, dnsaddr3= …).
func numberedKeys(g *txtGroup) bool {
	const key = "dnsaddr"
	for _, t := range g.rrs {
		for _, s := range t.Txt {
			if len(s) > len(key) && isDigit(s[len(key)]) && asciiFoldEqual(s[:len(key)], key) {
				return true
			}
		}
	}
	return false
}

// unescapeTXT turns a miekg/dns presentation-form string back into its raw
// bytes. ok is false for a string that is not valid UTF-8 after unescaping.
func unescapeTXT(s string) (string, bool) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
				v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
				b = append(b, byte(v))
				i += 3
				continue
			}
			i++
			c = s[i]
		}
		b = append(b, c)
	}
	return string(b), utf8.Valid(b)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
