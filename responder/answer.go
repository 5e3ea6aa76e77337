package responder

import (
	"net/netip"
	"slices"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
)

// tcKey identifies a querier whose known-answer list continues (§7.2).
type tcKey struct {
	ifIndex int
	src     netip.AddrPort
}

// tcHold is a truncated query waiting for the rest of its known answers.
// Of those it keeps only which of our own records they listed: a list of
// thousands of other peers' records costs nothing to hold.
type tcHold struct {
	pkt   rxPacket // data not kept
	qs    []dns.Question
	found []bool // by ownRecords index
	at    time.Time
}

// handleQuery answers a query or defends our names against a probe.
func (r *Responder) handleQuery(st *ifState, p *rxPacket, m *dns.Msg, probe bool, now time.Time) {
	legacy := p.src.Port() != mdns.Port
	p.udpSize = dns.MinMsgSize
	if opt := m.IsEdns0(); opt != nil {
		p.udpSize = max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	key := tcKey{p.ifIndex, p.src}
	if len(m.Question) == 0 {
		// §7.2: a continuation packet of a known-answer list.
		if h := r.tc[key]; h != nil && !legacy {
			h.found = r.markKnown(st, h.found, m.Answer)
			if m.Truncated {
				h.at = maxTime(h.at, now.Add(r.randDur(tcDelayMin, tcDelayMax)))
			}
			return
		}
		r.st.Ignored.Add(1)
		return
	}
	if m.Truncated && !legacy && !probe {
		// §7.2: more known answers follow; wait 400–500 ms for them.
		if h := r.tc[key]; h != nil {
			if len(h.qs)+len(m.Question) <= maxHeldQuestions {
				h.qs = append(h.qs, m.Question...)
			}
			h.found = r.markKnown(st, h.found, m.Answer)
			h.at = maxTime(h.at, now.Add(r.randDur(tcDelayMin, tcDelayMax)))
			return
		}
		if len(r.tc) < r.cfg.MaxTCSources {
			pk := *p
			pk.data = nil
			r.tc[key] = &tcHold{pkt: pk, qs: slices.Clone(m.Question), found: r.markKnown(st, nil, m.Answer), at: now.Add(r.randDur(tcDelayMin, tcDelayMax))}
			return
		}
		// Too many sources hold state: answer now with what we have.
	}
	r.answer(st, &asked{pkt: p, qs: m.Question, known: r.knownKinds(st, m.Answer), id: m.Id, probe: probe}, now)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// match returns the kinds answering q and their additional kinds
// (RFC 6763 §12; RFC 6762 §6.2 for A/AAAA), and neg: the NSEC of the name
// asked when it is one we own (§6.1), the answer when none of ans exists.
func (r *Responder) match(q dns.Question) (ans, add, neg kinds) {
	t := q.Qtype
	anyT := t == dns.TypeANY
	switch {
	case mdns.EqualNames(q.Name, r.rs.Service):
		if t == dns.TypePTR || anyT {
			return kPTR, kSRV | kTXT | kA | kAAAA, 0
		}
	case mdns.EqualNames(q.Name, mdns.MetaQuery):
		if t == dns.TypePTR || anyT {
			return kMeta, 0, 0
		}
	case mdns.EqualNames(q.Name, r.rs.Instance):
		switch {
		case anyT:
			return kSRV | kTXT, kA | kAAAA, kNSECInst
		case t == dns.TypeSRV:
			return kSRV, kA | kAAAA, kNSECInst
		case t == dns.TypeTXT:
			return kTXT, 0, kNSECInst
		}
		return 0, 0, kNSECInst
	case mdns.EqualNames(q.Name, r.rs.Host):
		switch {
		case anyT:
			return kA | kAAAA, 0, kNSECHost
		case t == dns.TypeA:
			return kA, kAAAA, kNSECHost
		case t == dns.TypeAAAA:
			return kAAAA, kA, kNSECHost
		}
		return 0, 0, kNSECHost
	}
	return 0, 0, 0
}

// asked is one query to answer: received now, or held until its
// known-answer list was complete (§7.2).
type asked struct {
	pkt     *rxPacket
	qs      []dns.Question
	known   kinds  // our records the querier listed as known (§7.1)
	id      uint16 // echoed in unicast replies
	probe   bool   // a probe: the answer defends our names (§8.1)
	afterTC bool   // held for its known-answer continuation (§7.2)
}

// answer decides what to send for one query received on st and sends or
// schedules it (§5.4, §6, §6.7, §7.1).
func (r *Responder) answer(st *ifState, q *asked, now time.Time) {
	if st.phase == phProbing {
		// §8.1: nothing is answered on an interface before probing ends.
		r.st.Ignored.Add(1)
		return
	}
	ansM, ansU, add := r.route(st, q, now)
	if ansM|ansU == 0 {
		r.st.Ignored.Add(1)
		return
	}
	// §7.1: leave out what the querier already knows with ≥ half our TTL.
	if kn := q.known; kn != 0 {
		r.st.SuppressedKnown.Add(uint64(popcount((ansM | ansU) & kn)))
		ansM &^= kn
		ansU &^= kn
		add &^= kn
	}
	add &= r.present(st)
	if !q.probe && (ansM|ansU|add)&(kA|kAAAA) != 0 && r.present(st)&(kA|kAAAA) != kA|kAAAA {
		// §6.2: with address records of one family only, the host
		// name's NSEC goes in the additional section, so that queriers
		// know at once that the other family does not exist. A probe
		// defence carries only what conflicts.
		add |= (kNSECHost & r.present(st)) &^ q.known
	}
	p := q.pkt
	if ansU != 0 {
		r.sendUnicast(st, p, q.qs, q.id, ansU, add&^ansU, p.src.Port() != mdns.Port)
	}
	if ansM == 0 {
		return
	}
	if q.probe || q.afterTC || ansM&kShared == 0 {
		// §6: answers made only of unique records go out at once; a probe
		// defence is also exempt from the rate limit (§6, §8.1).
		r.sendMulticast(st, p.v4, ansM, add&^ansM, q.probe, now)
		return
	}
	// §6: shared answers wait 20–120 ms and are aggregated with others due
	// on this interface.
	pd := &st.fam[famIdx(p.v4)].pend
	at := now.Add(r.randDur(sharedDelayMin, sharedDelayMax))
	if pd.at.IsZero() || at.Before(pd.at) {
		pd.at = at
	}
	pd.ans |= ansM
	pd.add |= add
	pd.legacy = pd.legacy || q.pkt.src.Port() != mdns.Port
}

// route returns the records answering q, split into those sent by
// multicast and by unicast, and their additional records.
func (r *Responder) route(st *ifState, q *asked, now time.Time) (ansM, ansU, add kinds) {
	p := q.pkt
	legacy := p.src.Port() != mdns.Port
	fs := &st.fam[famIdx(p.v4)]
	for _, question := range q.qs {
		if qc := question.Qclass &^ mdns.CacheFlushBit; qc != dns.ClassINET && qc != dns.ClassANY {
			continue
		}
		a, ad, neg := r.match(question)
		if a &= r.present(st); a == 0 {
			// §6.1: a name we own, verified by probing (nothing is
			// answered before), without a record of that type here: an
			// NSEC says which types it has.
			a, ad = neg&r.present(st), 0
		}
		if a == 0 {
			continue
		}
		add |= ad
		switch {
		case legacy && p.multicast && a&kPTR != 0:
			// §6.7 wants a unicast reply to a querier on another port.
			// rust-libp2p queries the service PTR from an ephemeral port
			// but reads only multicast (its 5353 socket), and only TXT in
			// the additional section of an answer: the PTR is also answered
			// by multicast (PTR in answers, SRV/TXT/A/AAAA additional),
			// delayed, aggregated and rate-limited like any shared answer.
			ansU |= a
			ansM |= kPTR
		case legacy || !p.multicast:
			ansU |= a
		case mdns.IsQU(question):
			// §5.4: unicast unless not multicast here within a quarter TTL.
			for i := range nKinds {
				k := kindAt(i)
				if a&k == 0 {
					continue
				}
				last := fs.last[i]
				if !last.IsZero() && now.Sub(last) < time.Duration(r.ttlOf(k))*time.Second/4 {
					ansU |= k
				} else {
					ansM |= k
				}
			}
		default:
			ansM |= a
		}
	}
	return ansM, ansU, add
}

// present returns the kinds st has records of.
func (r *Responder) present(st *ifState) kinds {
	k := kPTR | kMeta | kSRV | kTXT | kNSECInst
	if len(st.a) > 0 {
		k |= kA
	}
	if len(st.aaaa) > 0 {
		k |= kAAAA
	}
	if st.nsecHost != nil {
		k |= kNSECHost
	}
	return k
}

// ownRecords lists our records on st in a fixed order, with their kinds.
func (r *Responder) ownRecords(st *ifState) []ownRecord {
	out := make([]ownRecord, 0, 6+len(st.a)+len(st.aaaa))
	out = append(out, ownRecord{kPTR, r.rs.PTR}, ownRecord{kMeta, r.rs.Meta}, ownRecord{kSRV, r.rs.SRV}, ownRecord{kTXT, st.txt})
	for _, a := range st.a {
		out = append(out, ownRecord{kA, a})
	}
	for _, a := range st.aaaa {
		out = append(out, ownRecord{kAAAA, a})
	}
	// The NSECs are known answers like any record (§7.1).
	out = append(out, ownRecord{kNSECInst, r.nsecInst})
	if st.nsecHost != nil {
		out = append(out, ownRecord{kNSECHost, st.nsecHost})
	}
	return out
}

type ownRecord struct {
	k  kinds
	rr dns.RR
}

// markKnown marks in found (indexed like ownRecords) our records that
// known lists with at least half our TTL (§7.1), and returns it.
func (r *Responder) markKnown(st *ifState, found []bool, known []dns.RR) []bool {
	own := r.ownRecords(st)
	if len(found) != len(own) {
		found = make([]bool, len(own)) // our records changed meanwhile: start over
	}
	for i, o := range own {
		if found[i] || o.rr == nil {
			continue
		}
		found[i] = slices.ContainsFunc(known, func(rr dns.RR) bool {
			return rr.Header().Ttl >= o.rr.Header().Ttl/2 && mdns.SameRecord(o.rr, rr)
		})
	}
	return found
}

// knownKinds returns the kinds of which every record on st is in known
// with at least half our TTL (§7.1).
func (r *Responder) knownKinds(st *ifState, known []dns.RR) kinds {
	if len(known) == 0 {
		return 0
	}
	return r.foundKinds(st, r.markKnown(st, nil, known))
}

// foundKinds returns the kinds all of whose records found marks.
func (r *Responder) foundKinds(st *ifState, found []bool) kinds {
	own := r.ownRecords(st)
	if len(found) != len(own) {
		return 0
	}
	var all, missing kinds
	for i, o := range own {
		if o.rr == nil {
			continue
		}
		all |= o.k
		if !found[i] {
			missing |= o.k
		}
	}
	return all &^ missing
}

func popcount(k kinds) int {
	n := 0
	for ; k != 0; k &= k - 1 {
		n++
	}
	return n
}

// sendMulticast multicasts an answer on one family of st (§6): ID 0, no
// questions (§18.1), records multicast here less than 1 s ago left out
// unless defending a probe.
// It returns the kinds the one-second rate limit held back (§6) and when
// they may go out.
func (r *Responder) sendMulticast(st *ifState, v4 bool, ans, add kinds, probe bool, now time.Time) (held kinds, allowed time.Time) {
	fs := &st.fam[famIdx(v4)]
	if !probe {
		for i := range nKinds {
			k := kindAt(i)
			if last := fs.last[i]; ans&k != 0 && !last.IsZero() && now.Sub(last) < rateLimit {
				ans &^= k
				held |= k
				allowed = maxTime(allowed, last.Add(rateLimit))
				r.st.SuppressedRate.Add(1)
			}
		}
	}
	if ans == 0 {
		return held, allowed
	}
	// Multicast answers depend only on the kinds and the interface's
	// records: they are packed once and reused until the records change.
	key := cacheKey{v4, ans, add}
	pkts, ok := st.cache[key]
	if !ok {
		pkts = r.pack(st, r.response(st, v4, ans, add))
		if st.cache == nil {
			st.cache = map[cacheKey][][]byte{}
		}
		st.cache[key] = pkts
	}
	if n := r.sendPackets(st, v4, pkts, netip.AddrPort{}); n > 0 {
		r.st.AnswersMulticast.Add(uint64(n))
		for i := range nKinds {
			if (ans|add)&kindAt(i) != 0 {
				fs.last[i] = now
			}
		}
	}
	return held, allowed
}

// sendUnicast answers p's sender directly: a QU or direct unicast query
// (§5.4, §5.5), or a legacy query (§6.7: ID copied, questions echoed, TTL
// at most 10 s, no cache-flush bit, §10.2).
func (r *Responder) sendUnicast(st *ifState, p *rxPacket, qs []dns.Question, id uint16, ans, add kinds, legacy bool) {
	if !st.ifc.OnLink(p.src.Addr()) || !p.src.Addr().IsValid() || p.src.Port() == 0 {
		// Never unicast off-link (§11, VU#550620).
		r.st.DroppedOffLink.Add(1)
		return
	}
	resp := r.response(st, p.v4, ans, add)
	if !legacy {
		r.st.AnswersUnicast.Add(uint64(r.sendResponse(st, p.v4, resp, p.src)))
		return
	}
	// §6.7: a conventional DNS reply: the query's ID and question, TTLs of
	// at most 10 s, no cache-flush bits, and one packet no larger than the
	// querier accepts (additional records dropped first, TC set if the
	// answers themselves do not fit).
	resp.ID = id
	resp.Questions = qs
	resp.Answers = legacyRRs(resp.Answers)
	resp.Additional = legacyRRs(resp.Additional)
	if resp.TXT != nil {
		resp.TXT = legacyRRs([]dns.RR{resp.TXT})[0].(*dns.TXT)
	}
	b, err := mdns.PackLegacy(resp, min(p.udpSize, st.ifc.MaxPayload(p.v4)))
	if err != nil {
		r.st.SendErrors.Add(1)
		r.log.Warn("pack legacy reply", "if", st.ifc.Name, "err", err)
		return
	}
	if r.write(st, p.v4, b, p.src) {
		r.st.AnswersLegacy.Add(1)
	}
}

func legacyRRs(rrs []dns.RR) []dns.RR {
	out := mdns.CapTTL(rrs, legacyTTL)
	for _, rr := range out {
		rr.Header().Class &^= mdns.CacheFlushBit
	}
	return out
}

// response lays out an answer: the kinds asked for in the answer section,
// the related records in the additional section (a PTR answer carries SRV,
// TXT and A/AAAA there: rust-libp2p reads TXT only from the additional
// section, go-libp2p's zeroconf needs SRV and A/AAAA in the same packet).
func (r *Responder) response(st *ifState, v4 bool, ans, add kinds) *mdns.Response {
	add &^= ans
	resp := &mdns.Response{
		Answers:    r.records(st, ans),
		Additional: r.records(st, add),
		MaxSize:    st.ifc.MaxPayload(v4),
	}
	if (ans|add)&kTXT != 0 {
		resp.TXT = st.txt
		resp.TXTInAnswer = ans&kTXT != 0
	}
	return resp
}

// sendResponse packs resp (split into self-contained packets within the
// interface MTU) and sends it to the group of the family, or to dst. It
// returns the number of packets sent.
func (r *Responder) sendResponse(st *ifState, v4 bool, resp *mdns.Response, dst netip.AddrPort) int {
	return r.sendPackets(st, v4, r.pack(st, resp), dst)
}

// pack packs resp; a failure is counted and logged and gives no packets.
//
// Every response splits a long TXT record's strings exactly as the full
// announcement does, whatever else it carries: receivers cache each
// packet's TXT rdata, and a goodbye (§10.1) or a cache-flush (§10.2)
// concerns only records with the same rdata, so a differently split answer
// would leave records in caches that our goodbye cannot withdraw.
func (r *Responder) pack(st *ifState, resp *mdns.Response) [][]byte {
	if resp.TXT != nil && len(resp.TXT.Txt) > 1 && resp.TXTChunks == nil {
		ann := &mdns.Response{Answers: r.records(st, kAll), TXT: resp.TXT, TXTInAnswer: true, MaxSize: resp.MaxSize}
		if chunks, _, err := mdns.SplitTXT(ann); err == nil {
			split := *resp
			split.TXTChunks = chunks
			if pkts, _, err := mdns.PackResponse(&split); err == nil {
				return pkts
			}
			// The additional NSEC (§6.2) is advice: leave it out rather
			// than split the TXT differently.
			split.Additional = slices.DeleteFunc(slices.Clone(split.Additional), func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeNSEC })
			if pkts, _, err := mdns.PackResponse(&split); err == nil {
				return pkts
			}
			// Larger than the announcement (legacy unicast echoes the
			// question): split to fit instead.
		}
	}
	pkts, skipped, err := mdns.PackResponse(resp)
	if err != nil {
		r.st.SendErrors.Add(1)
		r.log.Warn("pack response", "if", st.ifc.Name, "err", err)
		return nil
	}
	if skipped > 0 {
		r.log.Debug("TXT strings too long for the MTU left out", "if", st.ifc.Name, "skipped", skipped)
	}
	return pkts
}

// sendPackets sends pkts on st to the group of the family, or to dst, and
// returns how many were sent.
func (r *Responder) sendPackets(st *ifState, v4 bool, pkts [][]byte, dst netip.AddrPort) int {
	n := 0
	for _, b := range pkts {
		if r.write(st, v4, b, dst) {
			n++
		}
	}
	return n
}

// write sends one packet on st to the group of the family, or to dst.
func (r *Responder) write(st *ifState, v4 bool, b []byte, dst netip.AddrPort) bool {
	if !dst.IsValid() {
		dst = transport.GroupV6
		if v4 {
			dst = transport.GroupV4
		}
	}
	r.wpkt = transport.Packet{Data: b, Dst: dst, IfIndex: st.ifc.Index}
	if err := r.conn.WritePacket(&r.wpkt); err != nil {
		r.st.SendErrors.Add(1)
		r.log.Debug("write", "if", st.ifc.Name, "dst", dst, "err", err)
		return false
	}
	return true
}
