package browser

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
)

// prefilter runs the checks that need no state, before a packet is queued
// (IP TTL 255, as RFC 6762 §11 asks senders to use and older queriers
// check; -1 means the platform cannot tell), and the allocation-free label
// filter (mdns.Filter) before any parsing.
//
// rust-libp2p sends from an ephemeral port without setting the multicast
// TTL, so its packets arrive with the OS default TTL 1 (see the r1/r4
// captures). While ephemeral-port responses are accepted, packets from a
// port other than 5353 are therefore exempt from the TTL check; a TTL-1
// multicast cannot have crossed a router, and the on-link source check
// still applies.
func (b *Browser) prefilter(p *transport.Packet) bool {
	b.ctr.packets.Add(1)
	if p.TTL != 255 && p.TTL != -1 && (b.cfg.DisableEphemeralPort || p.Src.Port() == mdns.Port) {
		b.ctr.dTTL.Add(1)
		return false
	}
	if len(p.Data) > mdns.MaxPacketSize || len(p.Data) < 12 {
		b.ctr.dMalformed.Add(1)
		return false
	}
	if !b.filter.Match(p.Data) {
		b.ctr.dIrrelevant.Add(1)
		return false
	}
	return true
}

// receive handles one prefiltered packet at now (b.mu held).
func (b *Browser) receive(p *transport.Packet, now time.Time) {
	s := b.ifaces[p.IfIndex]
	if s == nil {
		b.syncIfaces(now)
		s = b.ifaces[p.IfIndex]
	}
	// §11: only packets from a source on the receiving link.
	if s == nil || !s.info.OnLink(p.Src.Addr()) {
		b.ctr.dOffLink.Add(1)
		return
	}
	m, err := mdns.Parse(p.Data)
	if err != nil {
		b.ctr.dMalformed.Add(1)
		return
	}
	kind, err := mdns.Classify(m)
	if err != nil { // non-zero opcode or rcode: silently ignored (§18.3, §18.11)
		b.ctr.dIrrelevant.Add(1)
		return
	}
	switch kind {
	case mdns.KindQuery, mdns.KindProbe:
		b.observeQuery(s, p, m, now)
		if kind == mdns.KindProbe && !b.cfg.IgnoreProbes {
			b.probeHints(s, p, m, now)
		}
	case mdns.KindResponse, mdns.KindGoodbye:
		if p.Src.Port() != mdns.Port {
			// §6 says to ignore responses from another port; rust-libp2p
			// sends its responses from an ephemeral one.
			if b.cfg.DisableEphemeralPort {
				b.ctr.dPort.Add(1)
				return
			}
			b.ctr.ephemeral.Add(1)
		}
		b.ctr.responses.Add(1)
		b.response(s, p, m, now)
	}
}

// observeQuery uses another host's query (never our own looped-back one,
// never a legacy query from another port, §6.7) for duplicate question
// suppression (§7.3) and POOF (§10.5).
func (b *Browser) observeQuery(s *ifaceState, p *transport.Packet, m *dns.Msg, now time.Time) {
	if p.Src.Port() != mdns.Port || b.ownEcho(p.Data) {
		b.ctr.dIrrelevant.Add(1)
		return
	}
	b.observePOOF(s, p, m, now)
	fam := 0
	if !p.IsV4() {
		fam = 1
	}
	if len(m.Question) == 0 {
		// A continuation of a TC query (§7.2): a known answer we lack
		// means its responders will not tell us that record.
		if d := s.dupTC[fam]; d.src == p.Src && now.Sub(d.at) <= tcWindow && !b.wouldKnow(s, m.Answer, now) {
			s.dupSeen[fam] = d.prev
			s.dupTC[fam] = pendingDup{}
		}
		return
	}
	for _, q := range m.Question {
		if mdns.IsQU(q) || q.Qtype != dns.TypePTR || q.Qclass != dns.ClassINET || !mdns.EqualNames(q.Name, b.cfg.Service) {
			continue
		}
		if !b.wouldKnow(s, m.Answer, now) {
			return
		}
		if m.Truncated {
			s.dupTC[fam] = pendingDup{src: p.Src, at: now, prev: s.dupSeen[fam]}
		}
		s.dupSeen[fam] = now
		return
	}
}

// tcWindow bounds how long after a TC query its continuation packets are
// expected (the responder's wait is 400–500 ms, §7.2).
const tcWindow = 500 * time.Millisecond

// maxHeldQueries bounds the TC queries held for POOF per interface.
const maxHeldQueries = 32

// heldQuery is another host's query whose known answers continue in
// further packets (§7.2). Of the known answers it keeps only the cached
// records they name, so a list of any length costs at most the cache.
type heldQuery struct {
	qs     []dns.Question
	listed map[*entry]struct{}
	at     time.Time // of the last packet
}

// note adds the cached records that known names.
func (h *heldQuery) note(b *Browser, ifIndex int, known []dns.RR) {
	for _, rr := range known {
		switch rr.(type) {
		case *dns.PTR:
			if e := b.cache.byKey[ptrKey(ifIndex, b.cfg.Service, rr)]; e != nil {
				h.listed[e] = struct{}{}
			}
		case *dns.TXT:
			for _, e := range b.cache.byOwner[ownerKey(ifIndex, dns.TypeTXT, rr.Header().Name)] {
				if e.rr != nil && mdns.SameRecord(e.rr, rr) {
					h.listed[e] = struct{}{}
				}
			}
		}
	}
}

func (h *heldQuery) has(e *entry) bool { _, ok := h.listed[e]; return ok }

// observePOOF feeds another host's query to POOF (§10.5) once its whole
// known-answer list is in: a record listed only in a continuation packet
// was not asked for, and its owner rightly stays silent (§7.1). A query
// whose continuation never arrives is not observed at all.
func (b *Browser) observePOOF(s *ifaceState, p *transport.Packet, m *dns.Msg, now time.Time) {
	h := s.held[p.Src]
	if h != nil && now.Sub(h.at) > tcWindow {
		delete(s.held, p.Src)
		h = nil
	}
	switch {
	case len(m.Question) == 0 && h == nil:
		return // a continuation of nothing we hold
	case len(m.Question) == 0:
		h.note(b, s.info.Index, m.Answer)
		h.at = now
	case h != nil:
		// A new query from the same source: the held one is complete
		// as far as we will ever know; observe it first.
		delete(s.held, p.Src)
		b.observeListed(s.info.Index, h.qs, h.has, now)
		h = nil
		fallthrough
	default:
		if !m.Truncated {
			b.observeQuestions(s.info.Index, m.Question, m.Answer, now)
			return
		}
		if s.held == nil {
			s.held = map[netip.AddrPort]*heldQuery{}
		}
		if len(s.held) >= maxHeldQueries {
			for src, old := range s.held {
				if now.Sub(old.at) > tcWindow {
					delete(s.held, src)
				}
			}
			if len(s.held) >= maxHeldQueries {
				b.ctr.dIrrelevant.Add(1) // too many TC queriers at once: not observed
				return
			}
		}
		h = &heldQuery{qs: slices.Clone(m.Question), listed: map[*entry]struct{}{}, at: now}
		h.note(b, s.info.Index, m.Answer)
		s.held[p.Src] = h
		return
	}
	if !m.Truncated {
		delete(s.held, p.Src)
		b.observeListed(s.info.Index, h.qs, h.has, now)
	}
}

// wouldKnow reports whether every known answer in rrs is one we would put
// in our own known-answer list (§7.3): a PTR we have cached with more than
// half its TTL left (our own instance's PTR included: it is cached from our
// responder's looped-back announcements like any other).
func (b *Browser) wouldKnow(s *ifaceState, rrs []dns.RR, now time.Time) bool {
	for _, rr := range rrs {
		e := b.cache.byKey[ptrKey(s.info.Index, b.cfg.Service, rr)]
		if e == nil || !e.knownAnswer(now) {
			return false
		}
	}
	return true
}

func ptrKey(ifIndex int, service string, rr dns.RR) string {
	ptr, ok := rr.(*dns.PTR)
	if !ok || !mdns.EqualNames(ptr.Hdr.Name, service) {
		return ""
	}
	return recordKey(ownerKey(ifIndex, dns.TypePTR, service), strings.ToLower(ptr.Ptr))
}

// response caches the records of our service in a response: its PTRs and
// the TXT records of every decoded candidate; answers to other hosts'
// queries and unsolicited announcements alike (passive learning).
func (b *Browser) response(s *ifaceState, p *transport.Packet, m *dns.Msg, now time.Time) {
	res := b.dec.Decode(m, false)
	if len(res.Rejected) > 0 || res.BadStrings > 0 {
		b.ctr.dMalformed.Add(1)
	}
	// The two sets are the Browser's, reused (b.mu held): a response
	// allocates no map.
	clear(b.rxFlushed)
	clear(b.rxFresh)
	rx := &received{s: s, p: p, m: m, flushed: b.rxFlushed, fresh: b.rxFresh}
	if p.Src.Port() == mdns.Port {
		b.cachePTRs(rx, now)
	}
	found := 0
	for ci := range res.Candidates {
		c := &res.Candidates[ci]
		if c.ID == b.cfg.Self {
			b.ctr.dOwn.Add(1)
			continue
		}
		found++
		b.cacheCandidate(rx, c, now)
	}
	for _, inst := range res.Withdrawn {
		b.withdrawInstance(s.info.Index, inst, now)
	}
	if found == 0 && len(res.Withdrawn) == 0 {
		b.ctr.dIrrelevant.Add(1)
	}
	// §10.2: records of a flushed RRset received more than one second ago
	// and not in this packet expire one second from now.
	for owner := range rx.flushed {
		for _, e := range b.cache.byOwner[owner] {
			if !rx.fresh[e] && now.Sub(e.received) > time.Second {
				b.expireSoon(e, now)
			}
		}
	}
	b.evictRecords()
}

// received is one response being taken into the cache. The time it was
// received travels beside it: stored in cache entries, a time.Time field
// would take the packet and the message to the heap with it.
type received struct {
	s       *ifaceState
	p       *transport.Packet
	m       *dns.Msg
	flushed map[string]bool // RRsets with the cache-flush bit (§10.2)
	fresh   map[*entry]bool // records this packet inserted or refreshed
}

// cachePTRs caches the service PTR records of a response from port 5353.
func (b *Browser) cachePTRs(rx *received, now time.Time) {
	idx := rx.s.info.Index
	for _, sec := range [][]dns.RR{rx.m.Answer, rx.m.Extra} {
		for _, rr := range sec {
			ptr, ok := rr.(*dns.PTR)
			if !ok || mdns.Class(ptr) != dns.ClassINET || !mdns.EqualNames(ptr.Hdr.Name, b.cfg.Service) {
				continue
			}
			if _, child := mdns.ChildLabel(ptr.Ptr, b.cfg.Service); !child {
				continue // rust-libp2p's random single label: not cached
			}
			owner := ownerKey(idx, dns.TypePTR, b.cfg.Service)
			if e := b.upsert(owner, strings.ToLower(ptr.Ptr), idx, rr, now, rx.fresh); e != nil {
				e.instance = strings.ToLower(ptr.Ptr)
			}
		}
	}
}

// cacheCandidate caches the TXT records that carry one candidate peer and
// ties them to the peer.
func (b *Browser) cacheCandidate(rx *received, c *mdns.Candidate, now time.Time) {
	idx := rx.s.info.Index
	txts := txtsOf(rx.m, c.Instance)
	rust := c.Flavour == mdns.FlavourRust
	for _, t := range txts {
		owner := ownerKey(idx, dns.TypeTXT, c.Instance)
		if rust {
			owner = ownerKey(idx, dns.TypeTXT, "rust:"+string(c.ID))
		}
		if t.Hdr.Class&mdns.CacheFlushBit != 0 && t.Hdr.Ttl != 0 {
			rx.flushed[owner] = true
		}
		e := b.upsert(owner, strings.Join(t.Txt, "\x00"), idx, t, now, rx.fresh)
		if e == nil {
			continue
		}
		e.instance, e.flavour = strings.ToLower(c.Instance), c.Flavour
		if rust {
			e.rr = nil
		}
		if rust || c.Flavour == mdns.FlavourJS { // refreshed by the PTR question
			if b.ptrOwned[idx] == nil {
				b.ptrOwned[idx] = map[string]struct{}{}
			}
			b.ptrOwned[idx][owner] = struct{}{}
		}
		if e.peer == nil {
			e.peer = b.peerFor(c.ID, now)
			e.addrs = b.filterAddrs(c.ID, recordAddrs(t, c, len(txts) == 1), &rx.s.info, rx.p.Src.Addr())
		} else {
			b.peerList(e.peer).MoveToBack(e.peer.lru)
		}
		b.touchPeer(e, t.Hdr.Ttl, now)
	}
}

// touchPeer keeps e's peer current: established after establishAfter of
// refreshes (evicted last), refreshed, marked for settling, and within its
// record bound.
func (b *Browser) touchPeer(e *entry, ttl uint32, now time.Time) {
	switch {
	case !e.peer.established && ttl != 0 && now.Sub(e.first) >= establishAfter:
		b.establish(e.peer)
	case e.peer.established:
		b.cache.protect(e)
	}
	e.peer.touchEntry(e)
	b.markDirty(e.peer)
	// A peer keeps at most 4×MaxAddrs records (one address each for
	// rust-libp2p): the oldest go first.
	for len(e.peer.entries) > 4*b.cfg.MaxAddrs {
		b.dropEntry(e.peer.entries[0])
		b.ctr.evicted.Add(1)
	}
}

// upsert inserts or refreshes the record rr (a goodbye only refreshes:
// an unknown record with TTL 0 is ignored).
func (b *Browser) upsert(owner, rdata string, idx int, rr dns.RR, now time.Time, fresh map[*entry]bool) *entry {
	key := recordKey(owner, rdata)
	ttl := rr.Header().Ttl
	e := b.cache.byKey[key]
	if e == nil {
		if ttl == 0 {
			return nil
		}
		rr.Header().Class &^= mdns.CacheFlushBit
		e = &entry{key: key, owner: owner, ifIndex: idx, rrtype: rr.Header().Rrtype, rr: rr, hidx: -1, first: now}
		b.setTTL(e, ttl, now)
		b.cache.add(e)
	} else {
		if e.provisional { // an answer confirms a record seen in a probe
			e.provisional, e.first = false, now
		}
		if ttl == 0 {
			b.expireSoon(e, now)
		} else {
			b.setTTL(e, ttl, now)
			b.cache.touched(e)
		}
	}
	fresh[e] = true
	return e
}

func txtsOf(m *dns.Msg, instance string) []*dns.TXT {
	var out []*dns.TXT
	for _, sec := range [][]dns.RR{m.Answer, m.Extra} {
		for _, rr := range sec {
			if t, ok := rr.(*dns.TXT); ok && mdns.Class(t) == dns.ClassINET && mdns.EqualNames(t.Hdr.Name, instance) {
				out = append(out, t)
			}
		}
	}
	return out
}

// probeHints caches the TXT records a probe proposes (RFC 6762 §8.1: a
// starting peer's records, in the authority section) as provisional, so
// that the peer is found at its first probe, some 750 ms before it may
// announce. A provisional record lives probeHold after the last probe
// proposing it; the announcement confirms it (same record: no event, as
// nothing changed). A peer that loses its tie-break (§8.2) renames, and
// proposes the same addresses under the new name: its address set, so
// what is reported, stays the same. One that gives up is lost when its
// provisional records expire.
func (b *Browser) probeHints(s *ifaceState, p *transport.Packet, m *dns.Msg, now time.Time) {
	res := b.dec.Decode(m, true)
	idx := s.info.Index
	for ci := range res.Candidates {
		c := &res.Candidates[ci]
		if c.ID == b.cfg.Self {
			b.ctr.dOwn.Add(1)
			continue
		}
		txts := nsTXTs(m, c.Instance)
		for _, t := range txts {
			owner := ownerKey(idx, dns.TypeTXT, c.Instance)
			key := recordKey(owner, strings.Join(t.Txt, "\x00"))
			if e := b.cache.byKey[key]; e != nil && !e.provisional {
				continue // already confirmed: a probe never shortens a record's life
			}
			t = dns.Copy(t).(*dns.TXT)
			t.Hdr.Ttl = uint32(probeHold / time.Second)
			e := b.upsert(owner, strings.Join(t.Txt, "\x00"), idx, t, now, map[*entry]bool{})
			e.provisional, e.instance, e.flavour = true, strings.ToLower(c.Instance), c.Flavour
			e.refreshAt, e.refreshStage = time.Time{}, 4
			b.cache.fix(e)
			if e.peer == nil {
				e.peer = b.peerFor(c.ID, now)
				e.addrs = b.filterAddrs(c.ID, recordAddrs(t, c, len(txts) == 1), &s.info, p.Src.Addr())
			}
			e.peer.touchEntry(e)
			b.markDirty(e.peer)
		}
	}
}

// nsTXTs returns the TXT records of a probe's authority section owned by
// instance.
func nsTXTs(m *dns.Msg, instance string) []*dns.TXT {
	var out []*dns.TXT
	for _, rr := range m.Ns {
		if t, ok := rr.(*dns.TXT); ok && mdns.Class(t) == dns.ClassINET && mdns.EqualNames(t.Hdr.Name, instance) {
			out = append(out, t)
		}
	}
	return out
}
