package browser

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
)

// ifaceState is the query schedule of one interface (RFC 6762 §5.2).
type ifaceState struct {
	info      transport.Interface
	active    bool // up, with a group joined: we query on it
	nextQuery time.Time
	interval  time.Duration
	unit      time.Duration // the first interval (1–2 s): round k is unit·(2^k−1) after the first query
	sentFirst bool
	lastSent  time.Time
	// dupSeen[fam] is when another host last sent our QM question with no
	// known answer we would not send (§7.3); fam 0 is IPv4, 1 IPv6.
	dupSeen [2]time.Time
	// dupTC[fam] is a query with the TC bit that set dupSeen: its known
	// answers continue in the next packets from the same source (§7.2),
	// which can still show one we lack and undo the suppression.
	dupTC [2]pendingDup
	// held are other hosts' TC queries waiting for the rest of their
	// known answers before POOF looks at them (§7.2, §10.5).
	held    map[netip.AddrPort]*heldQuery
	refresh []dns.Question
}

// pendingDup is a suppressing query whose known-answer list is incomplete.
type pendingDup struct {
	src  netip.AddrPort
	at   time.Time
	prev time.Time // dupSeen before this query
}

func (s *ifaceState) addRefresh(q dns.Question) {
	for _, x := range s.refresh {
		if x.Qtype == q.Qtype && mdns.EqualNames(x.Name, q.Name) {
			return
		}
	}
	s.refresh = append(s.refresh, q)
}

// startSchedule (re)starts the continuous query of an interface: the first
// query after a random 20–120 ms (§5.2), with the QU bit (§5.4), then
// intervals that double from a random first one of 1–2 s (§5.2: at least
// 1 s, then at least doubling). Browsers started together thus query at
// instants that drift apart, round after round, instead of all asking in
// the same few milliseconds, before any of them can hear the others'
// question and suppress its own (§7.3): the LAN hears one query per round.
func (b *Browser) startSchedule(s *ifaceState, now time.Time) {
	d := firstQueryMin + time.Duration(b.cfg.Rand.Int64N(int64(firstQueryMax-firstQueryMin)+1))
	first := initialInterval + time.Duration(b.cfg.Rand.Int64N(int64(initialInterval)))
	s.nextQuery, s.interval, s.unit, s.sentFirst, s.lastSent = now.Add(d), first, first, false, time.Time{}
	s.dupSeen, s.dupTC, s.held = [2]time.Time{}, [2]pendingDup{}, nil
}

// syncIfaces re-reads the Conn's interfaces: new or re-activated ones start
// a schedule, down or vanished ones stop it and keep their records a few
// seconds (§10.3).
func (b *Browser) syncIfaces(now time.Time) {
	list := b.cfg.Conn.Interfaces()
	seen := map[int]bool{}
	for _, ifc := range list {
		seen[ifc.Index] = true
		s := b.ifaces[ifc.Index]
		if s == nil {
			s = &ifaceState{}
			b.ifaces[ifc.Index] = s
		}
		s.info = ifc
		active := ifc.Up && (ifc.V4 || ifc.V6)
		if active && b.running && (!s.active || s.nextQuery.IsZero()) {
			b.startSchedule(s, now)
		}
		if !ifc.Up && s.active {
			b.expireIfaceSoon(ifc.Index, now)
		}
		s.active = active
	}
	for idx, s := range b.ifaces {
		if !seen[idx] {
			if s.active {
				b.expireIfaceSoon(idx, now)
			}
			delete(b.ifaces, idx)
		}
	}
}

// questionFor is the question whose answer refreshes e: the service PTR
// for PTR records and for rust- and js-libp2p TXT records (those answer
// nothing else), the instance's TXT otherwise.
func (b *Browser) questionFor(e *entry) dns.Question {
	if e.rrtype == dns.TypePTR || e.rr == nil || e.flavour == mdns.FlavourJS {
		return dns.Question{Name: b.cfg.Service, Qtype: dns.TypePTR, Qclass: dns.ClassINET}
	}
	// The owner as received: some responders compare names case-sensitively.
	return dns.Question{Name: e.rr.Header().Name, Qtype: dns.TypeTXT, Qclass: dns.ClassINET}
}

// expects reports whether a query for q on e's interface asks for e as an
// answer (for POOF, §10.5).
func (b *Browser) expects(q dns.Question, e *entry) bool {
	want := b.questionFor(e)
	return (q.Qtype == want.Qtype || q.Qtype == dns.TypeANY) && mdns.EqualNames(q.Name, want.Name)
}

// knownAnswers returns the known-answer list for questions on an interface:
// every cached answer with more than half its TTL left, with its remaining
// TTL and without the cache-flush bit (§7.1, §10.2).
func (b *Browser) knownAnswers(ifIndex int, qs []dns.Question, now time.Time) []dns.RR {
	var out []dns.RR
	for _, q := range qs {
		for _, e := range b.cache.byOwner[ownerKey(ifIndex, q.Qtype, q.Name)] {
			if !e.knownAnswer(now) {
				continue
			}
			h := *e.rr.Header()
			h.Ttl = uint32(e.remaining(now) / time.Second)
			switch r := e.rr.(type) {
			case *dns.PTR:
				out = append(out, &dns.PTR{Hdr: h, Ptr: r.Ptr})
			case *dns.TXT:
				out = append(out, &dns.TXT{Hdr: h, Txt: r.Txt})
			}
		}
	}
	return out
}

// runQueries sends the scheduled browse queries and pending refresh
// queries that are due, and returns the next query time.
func (b *Browser) runQueries(now time.Time) time.Time {
	var next time.Time
	for _, idx := range b.sortedIfaces() {
		s := b.ifaces[idx]
		if !s.active {
			s.refresh = nil
			continue
		}
		if len(s.refresh) > 0 {
			b.sendQuery(s, s.refresh, false, now, true)
			s.refresh = nil
		}
		if !s.nextQuery.After(now) {
			qu := !s.sentFirst
			q := []dns.Question{{Name: b.cfg.Service, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
			b.sendQuery(s, q, qu, now, false)
			s.sentFirst, s.lastSent = true, now
			s.nextQuery = now.Add(s.interval)
			s.interval = min(2*s.interval, maxInterval)
		}
		if next.IsZero() || s.nextQuery.Before(next) {
			next = s.nextQuery
		}
	}
	return next
}

func (b *Browser) sortedIfaces() []int {
	idx := make([]int, 0, len(b.ifaces))
	for i := range b.ifaces {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
}

// sendQuery sends qs on both families of an interface. A browse query that
// another host already asked since our last one, with no known answer we
// would not give, is skipped (duplicate question suppression, §7.3).
func (b *Browser) sendQuery(s *ifaceState, qs []dns.Question, qu bool, now time.Time, refresh bool) {
	known := b.knownAnswers(s.info.Index, qs, now)
	if qu {
		qs = slices.Clone(qs)
		for i := range qs {
			qs[i].Qclass |= mdns.CacheFlushBit // the QU bit (§5.4)
		}
	}
	sent := false
	for fam, on := range [2]bool{s.info.V4, s.info.V6} {
		if !on {
			continue
		}
		if !refresh && !qu && s.dupSeen[fam].After(s.lastSent) {
			b.ctr.queriesSuppressed.Add(1)
			continue
		}
		v4 := fam == 0
		pkts, err := mdns.PackQuery(&mdns.Query{Questions: qs, Known: known, MaxSize: s.info.MaxPayload(v4)})
		if err != nil {
			b.cfg.Logger.Debug("pack query", "err", err)
			continue
		}
		dst := transport.GroupV4
		if !v4 {
			dst = transport.GroupV6
		}
		for _, data := range pkts {
			// Known answers beyond the first packet follow with TC (§7.2).
			b.remember(data)
			if err := b.cfg.Conn.WritePacket(&transport.Packet{Data: data, Dst: dst, IfIndex: s.info.Index}); err != nil {
				b.cfg.Logger.Debug("send query", "iface", s.info.Name, "err", err)
			}
		}
		b.ctr.queriesSent.Add(1)
		if refresh {
			b.ctr.refreshQueries.Add(1)
		}
		sent = true
	}
	if !sent || qu {
		return
	}
	// Our own query asks for every cached answer not in its known answers:
	// count it for POOF (§10.5).
	b.observeQuestions(s.info.Index, qs, known, now)
}

// remember keeps the hash of a packet we sent, so its multicast loopback
// copy is not mistaken for another host's query.
func (b *Browser) remember(data []byte) {
	b.sentHash[b.sentNext%len(b.sentHash)] = maphash.Bytes(b.seed, data)
	b.sentNext++
}

func (b *Browser) ownEcho(data []byte) bool {
	h := maphash.Bytes(b.seed, data)
	return slices.Contains(b.sentHash[:], h)
}

// observeQuestions counts, for POOF, the cached records that the QM
// questions qs ask for and that are not among the known answers.
func (b *Browser) observeQuestions(ifIndex int, qs []dns.Question, known []dns.RR, now time.Time) {
	b.observeListed(ifIndex, qs, newKnownSet(known).has, now)
}

// observeListed is observeQuestions with the known answers given as a
// predicate on cached records.
func (b *Browser) observeListed(ifIndex int, qs []dns.Question, listed func(*entry) bool, now time.Time) {
	for _, q := range qs {
		if mdns.IsQU(q) || q.Qclass&^mdns.CacheFlushBit != dns.ClassINET {
			continue
		}
		var owners []string
		switch {
		case q.Qtype == dns.TypePTR && mdns.EqualNames(q.Name, b.cfg.Service):
			owners = append(owners, ownerKey(ifIndex, dns.TypePTR, b.cfg.Service))
			for o := range b.ptrOwned[ifIndex] {
				if len(b.cache.byOwner[o]) == 0 {
					delete(b.ptrOwned[ifIndex], o)
					continue
				}
				owners = append(owners, o)
			}
		case q.Qtype == dns.TypeTXT:
			owners = append(owners, ownerKey(ifIndex, dns.TypeTXT, q.Name))
		default:
			continue
		}
		for _, o := range owners {
			for _, e := range b.cache.byOwner[o] {
				if b.expects(q, e) && !listed(e) {
					b.poofObserve(e, now)
				}
			}
		}
	}
}

// knownSet answers whether a cached record is among a query's known
// answers: by linear scan for short lists, by a set for long ones (a TC
// query can list thousands, §7.2).
type knownSet struct {
	list []dns.RR
	set  map[string]struct{}
}

func newKnownSet(known []dns.RR) knownSet {
	ks := knownSet{list: known}
	if len(known) > 16 {
		ks.set = make(map[string]struct{}, len(known))
		for _, rr := range known {
			if k, ok := rrIdentity(rr); ok {
				ks.set[k] = struct{}{}
			}
		}
	}
	return ks
}

func (ks knownSet) has(e *entry) bool {
	if e.rr == nil {
		return false
	}
	if ks.set != nil {
		k, ok := rrIdentity(e.rr)
		_, in := ks.set[k]
		return ok && in
	}
	for _, k := range ks.list {
		if mdns.SameRecord(e.rr, k) {
			return true
		}
	}
	return false
}

// rrIdentity is what sameRR compares, as a string: owner (case-folded),
// type and rdata (PTR target case-folded, TXT strings).
func rrIdentity(rr dns.RR) (string, bool) {
	h := rr.Header()
	var rdata string
	switch x := rr.(type) {
	case *dns.PTR:
		rdata = strings.ToLower(x.Ptr)
	case *dns.TXT:
		rdata = strings.Join(x.Txt, "\x00")
	default:
		return "", false
	}
	return strings.ToLower(h.Name) + "\x00" + strconv.Itoa(int(h.Rrtype)) + "\x00" + rdata, true
}
