package responder

import (
	"math/bits"
	"net/netip"
	"slices"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// phase is the state of our records on one interface (RFC 6762 §8).
type phase uint8

const (
	phProbing    phase = iota // §8.1: unique records are not answered yet
	phAnnouncing              // §8.3
	phAnnounced
)

// kinds is a set of our record kinds; answers are scheduled as kind sets and
// built per interface when sent.
type kinds uint8

const (
	kPTR  kinds = 1 << iota // shared
	kMeta                   // shared (RFC 6763 §9)
	kSRV
	kTXT
	kA
	kAAAA
	kNSECInst // negative answer for the instance name (RFC 6762 §6.1)
	kNSECHost // negative answer for the host name, per interface (§6.1, §6.2)
	nKinds    = 8

	kShared = kPTR | kMeta
	// kAll is what is announced (§8.3) and withdrawn: our records, not
	// the NSECs that assert which records we lack (§6.1).
	kAll  = kPTR | kMeta | kSRV | kTXT | kA | kAAAA
	kNSEC = kNSECInst | kNSECHost
)

// kindAt returns the i-th kind (0 ≤ i < nKinds).
func kindAt(i int) kinds { return kinds(1) << i }

// ifState is our state on one interface of the Conn.
type ifState struct {
	ifc   transport.Interface
	phase phase
	step  int
	next  time.Time // next probe / announcement; zero: none
	// announced is set once an announcement went out (goodbyes are due).
	announced bool
	txt       *dns.TXT // TXT with the multiaddrs reachable here (§6.2)
	a, aaaa   []dns.RR // this interface's addresses (§6.2)
	// nsecHost lists the address types st has (§6.1, §6.2); nil when it
	// has no address.
	nsecHost *dns.NSEC
	fam      [2]famState
	// cache holds packed multicast answers; cleared when records change.
	cache map[cacheKey][][]byte
}

type cacheKey struct {
	v4       bool
	ans, add kinds
}

// famState is per interface and family (0 = IPv4, 1 = IPv6).
type famState struct {
	last [nKinds]time.Time // last multicast of each kind (§6 rate limit, §5.4)
	pend pending           // aggregated delayed multicast answer (§6)
}

// multicast reports whether a record of kind k was ever multicast here.
func (fs *famState) multicast(k kinds) bool {
	return !fs.last[bits.TrailingZeros8(uint8(k))].IsZero()
}

type pending struct {
	ans, add kinds
	at       time.Time
	// legacy: a querier on another port than 5353 asked (see route): what
	// the one-second rate limit holds back is sent when it allows, not
	// dropped, since such a querier (rust-libp2p) cannot read the
	// announcement that made the limit apply.
	legacy bool
}

func famIdx(v4 bool) int {
	if v4 {
		return 0
	}
	return 1
}

// usable: up, with the group of a family joined (the transport joins it
// only where multicast works, Linux's lo included although it lacks the
// multicast flag).
func usable(ifc *transport.Interface) bool {
	return ifc.Up && (ifc.V4 || ifc.V6)
}

// refreshIfaces re-reads the Conn's interfaces and reconciles: new or
// returning interfaces and new addresses are probed again (RFC 6762 §8:
// connectivity may have changed), removed addresses get goodbyes (§10.1)
// and the rest is re-announced (§8.4).
func (r *Responder) refreshIfaces(now time.Time) {
	seen := map[int]bool{}
	for _, ifc := range r.conn.Interfaces() {
		if !usable(&ifc) {
			continue
		}
		seen[ifc.Index] = true
		st := r.ifs[ifc.Index]
		if st == nil {
			st = &ifState{ifc: ifc}
			r.ifs[ifc.Index] = st
			r.buildIface(st)
			r.startProbing(st, now, r.randDur(0, probeWaitMax))
			continue
		}
		old := st.ifc
		st.ifc = ifc
		var added bool
		var removed []netip.Addr
		for _, p := range ifc.Prefixes {
			if !slices.ContainsFunc(old.Prefixes, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
				added = true
			}
		}
		for _, p := range old.Prefixes {
			if !slices.ContainsFunc(ifc.Prefixes, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
				removed = append(removed, p.Addr())
			}
		}
		r.buildIface(st)
		if len(removed) > 0 && st.announced {
			// Withdrawn addresses get goodbyes (§10.1); the TXT record is
			// replaced by the re-announcement's cache-flush (§8.4, §10.2).
			r.sendGoodbye(st, r.rs.HostRecords(removed), nil)
		}
		switch {
		case added || old.V4 != ifc.V4 || old.V6 != ifc.V6:
			r.startProbing(st, now, r.randDur(0, probeWaitMax))
		case len(removed) > 0:
			r.startAnnouncing(st, now)
		}
	}
	for idx := range r.ifs {
		if !seen[idx] {
			// Down or gone: nothing can be sent there any more.
			delete(r.ifs, idx)
		}
	}
	r.ifOrder = r.ifOrder[:0]
	for idx := range r.ifs {
		r.ifOrder = append(r.ifOrder, idx)
	}
	slices.Sort(r.ifOrder)
	r.rebuildIPs()
}

func (r *Responder) rebuildIPs() {
	if len(r.allIPs) > maxRemembered {
		clear(r.allIPs)
	}
	for _, st := range r.ifs {
		for _, p := range st.ifc.Prefixes {
			r.allIPs[p.Addr().Unmap().WithZone("")] = true
		}
	}
}

// buildIface builds the per-interface records: A/AAAA of this interface
// and the TXT of the multiaddrs reachable on it (RFC 6762 §6.2, §15).
func (r *Responder) buildIface(st *ifState) {
	ifc := &st.ifc
	st.cache = nil
	st.a = r.rs.HostRecords(ifc.Addrs(true))
	st.aaaa = r.rs.HostRecords(ifc.Addrs(false))
	st.nsecHost = r.rs.HostNSEC(len(st.a) > 0, len(st.aaaa) > 0)
	st.txt = r.rs.TXTFor(func(a ma.Multiaddr) bool { return reachable(ifc, a) })
}

// reachable says whether multiaddr a is worth announcing on ifc: its IP is
// on the interface's subnet, or public; loopback only on loopback
// interfaces; IPv6 link-local only if it is this interface's own address;
// never unspecified. Addresses without an IP (dns4, ...) are kept.
func reachable(ifc *transport.Interface, a ma.Multiaddr) bool {
	ip, ok := mdns.AddrIP(a)
	if !ok {
		return true
	}
	switch {
	case ip.IsUnspecified() || ip.IsMulticast():
		return false
	case ip.IsLoopback():
		return ifc.Loopback
	case ip.Is6() && ip.IsLinkLocalUnicast():
		for _, p := range ifc.Prefixes {
			if p.Addr().WithZone("") == ip {
				return true
			}
		}
		return false
	case ifc.Loopback:
		// Every source on a loopback interface is this host (OnLink), but
		// only loopback and public addresses are worth announcing there.
		return ip.IsGlobalUnicast() && !ip.IsPrivate()
	case ifc.OnLink(ip):
		return true
	case ip.IsLinkLocalUnicast() || ip.IsPrivate():
		return false
	}
	return ip.IsGlobalUnicast()
}

// addrsChanged rebuilds the records after SetAddrs: changed TXT data is
// re-announced with the cache-flush bit (§8.4), which makes receivers drop
// the old rdata one second later (§10.2). No goodbye is sent for the old
// TXT: the TXT record is unique and always replaced, and a TTL-0 goodbye
// would expire the old data at +1 s, before a re-announcement held back by
// the one-per-second rate limit (§6) arrives, so browsers would report the
// peer lost and found again.
func (r *Responder) addrsChanged(now time.Time) {
	oldPort := r.rs.SRV.Port
	if err := r.setName(r.PeerName()); err != nil {
		r.log.Warn("SetAddrs", "err", err)
		return
	}
	for _, idx := range r.ifOrder {
		st := r.ifs[idx]
		old := st.txt
		r.buildIface(st)
		if st.phase == phProbing {
			continue
		}
		if !txtEqual(old, st.txt) || oldPort != r.rs.SRV.Port {
			r.startAnnouncing(st, now)
		}
	}
}

func txtEqual(a, b *dns.TXT) bool {
	if a == nil || b == nil {
		return a == b
	}
	return slices.Equal(a.Txt, b.Txt)
}

// records returns our records of the kinds in k on st (TXT excluded: it
// travels in Response.TXT so that it can be split, see mdns.PackResponse).
func (r *Responder) records(st *ifState, k kinds) []dns.RR {
	out := make([]dns.RR, 0, 5+len(st.a)+len(st.aaaa))
	if k&kPTR != 0 {
		out = append(out, r.rs.PTR)
	}
	if k&kMeta != 0 {
		out = append(out, r.rs.Meta)
	}
	if k&kSRV != 0 {
		out = append(out, r.rs.SRV)
	}
	if k&kA != 0 {
		out = append(out, st.a...)
	}
	if k&kAAAA != 0 {
		out = append(out, st.aaaa...)
	}
	if k&kNSECInst != 0 {
		out = append(out, r.nsecInst)
	}
	if k&kNSECHost != 0 && st.nsecHost != nil {
		out = append(out, st.nsecHost)
	}
	return out
}

// ttlOf is the TTL of a kind.
func (r *Responder) ttlOf(k kinds) uint32 {
	switch {
	case k&(kPTR|kMeta|kTXT) != 0:
		return r.rs.TTLOther
	case k&kNSECInst != 0:
		return r.nsecInst.Hdr.Ttl
	}
	return r.rs.TTLHost
}
