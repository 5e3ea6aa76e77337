package responder

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/miekg/dns"
)

// startProbing (re)starts probing on st after wait (RFC 6762 §8.1).
func (r *Responder) startProbing(st *ifState, now time.Time, wait time.Duration) {
	st.phase, st.step, st.next = phProbing, 0, now.Add(wait)
	st.fam[0].pend, st.fam[1].pend = pending{}, pending{}
}

// startAnnouncing (re)starts the announcements on st (§8.3, §8.4).
func (r *Responder) startAnnouncing(st *ifState, now time.Time) {
	st.phase, st.step, st.next = phAnnouncing, 0, now
}

// step runs the next probe or announcement of st.
func (r *Responder) step(st *ifState, now time.Time) {
	if st.phase == phProbing {
		if st.step < probeCount {
			// §8.1: three probes 250 ms apart, the first with the QU bit.
			r.sendProbe(st, st.step == 0)
			st.step++
			st.next = now.Add(probeInterval)
			return
		}
		// 250 ms after the third probe without conflict: the names are ours.
		r.log.Debug("probing done", "if", st.ifc.Name, "name", r.PeerName())
		r.backoff = false
		r.startAnnouncing(st, now)
	}
	if st.phase != phAnnouncing {
		st.next = time.Time{}
		return
	}
	// §6: no record is multicast on an interface more than once per second.
	var earliest time.Time
	for f := range st.fam {
		for _, t := range st.fam[f].last {
			if !t.IsZero() && t.Add(rateLimit).After(earliest) {
				earliest = t.Add(rateLimit)
			}
		}
	}
	if now.Before(earliest) {
		st.next = earliest
		return
	}
	r.sendAnnouncement(st, now)
	st.step++
	if st.step >= r.cfg.Announcements {
		st.phase, st.next = phAnnounced, time.Time{}
		return
	}
	// §8.3: the interval doubles after each announcement, from 1 s.
	st.next = now.Add(announceInterval << (st.step - 1))
}

// probeAuthority returns our proposed records on st (§8.2): SRV, TXT and
// the interface's A/AAAA, the TXT holding at most n strings.
func (r *Responder) probeAuthority(st *ifState, n int) []dns.RR {
	txt := st.txt
	if n < len(txt.Txt) {
		txt = &dns.TXT{Hdr: txt.Hdr, Txt: txt.Txt[:max(n, 1)]}
	}
	auth := []dns.RR{r.rs.SRV, txt}
	auth = append(auth, st.a...)
	return append(auth, st.aaaa...)
}

// sendProbe sends one probe on every family of st: questions of type ANY
// for our instance and host names, our records in the authority section
// (§8.1, §8.2). The TXT is shortened until the probe fits one packet.
func (r *Responder) sendProbe(st *ifState, qu bool) {
	class := uint16(dns.ClassINET)
	if qu {
		class |= mdns.CacheFlushBit // the QU bit in a question (§5.4)
	}
	qs := []dns.Question{
		{Name: r.rs.Instance, Qtype: dns.TypeANY, Qclass: class},
		{Name: r.rs.Host, Qtype: dns.TypeANY, Qclass: class},
	}
	for f, on := range [2]bool{st.ifc.V4, st.ifc.V6} {
		if !on {
			continue
		}
		v4 := f == 0
		n := len(st.txt.Txt)
		for {
			pkts, err := mdns.PackQuery(&mdns.Query{Questions: qs, Authority: r.probeAuthority(st, n), MaxSize: st.ifc.MaxPayload(v4)})
			if errors.Is(err, mdns.ErrTooLarge) && n > 1 {
				n = n * 3 / 4
				continue
			}
			if err != nil {
				r.st.SendErrors.Add(1)
				r.log.Warn("pack probe", "err", err)
				break
			}
			if r.write(st, v4, pkts[0], netip.AddrPort{}) {
				r.st.Probes.Add(1)
			}
			break
		}
	}
}

// sendAnnouncement multicasts every record in the answer section, unique
// ones with the cache-flush bit (§8.3), on every family of st.
func (r *Responder) sendAnnouncement(st *ifState, now time.Time) {
	for f, on := range [2]bool{st.ifc.V4, st.ifc.V6} {
		if !on {
			continue
		}
		resp := &mdns.Response{Answers: r.records(st, kAll), TXT: st.txt, TXTInAnswer: true, MaxSize: st.ifc.MaxPayload(f == 0)}
		sent := kAll
		if st.nsecHost != nil && (st.fam[0].multicast(kNSECHost) || st.fam[1].multicast(kNSECHost)) {
			// Our host NSEC was multicast here, maybe with another
			// bitmap (an address family since gained or lost): replace
			// it in the caches that hold it (§10.2), or a new family
			// would stay denied for up to its TTL.
			resp.Additional, sent = []dns.RR{st.nsecHost}, sent|kNSECHost
		}
		if n := r.sendResponse(st, f == 0, resp, netip.AddrPort{}); n > 0 {
			r.st.Announcements.Add(uint64(n))
			st.announced = true
			for i := range nKinds {
				if sent&kindAt(i) != 0 {
					st.fam[f].last[i] = now
				}
			}
		}
	}
}

// sendGoodbye multicasts the given records and TXT with TTL 0 (§10.1).
func (r *Responder) sendGoodbye(st *ifState, rrs []dns.RR, txt *dns.TXT) {
	rrs = mdns.WithTTL(rrs, 0)
	if txt != nil {
		txt = dns.Copy(txt).(*dns.TXT)
		txt.Hdr.Ttl = 0
	}
	for f, on := range [2]bool{st.ifc.V4, st.ifc.V6} {
		if !on || (len(rrs) == 0 && txt == nil) {
			continue
		}
		resp := &mdns.Response{Answers: rrs, TXT: txt, TXTInAnswer: true, MaxSize: st.ifc.MaxPayload(f == 0)}
		r.st.Goodbyes.Add(uint64(r.sendResponse(st, f == 0, resp, netip.AddrPort{})))
	}
}

// sendGoodbyes withdraws everything announced (on Close, §10.1). The
// DNS-SD meta PTR is shared by every peer of the service and is kept.
func (r *Responder) sendGoodbyes() {
	for _, idx := range r.ifOrder {
		st := r.ifs[idx]
		if st.announced {
			r.sendGoodbye(st, r.records(st, kPTR|kSRV|kA|kAAAA), st.txt)
			st.announced = false
		}
	}
}

// ownName reports whether name is our instance or host name.
func (r *Responder) ownName(name string) bool {
	return mdns.EqualNames(name, r.rs.Instance) || mdns.EqualNames(name, r.rs.Host)
}

// ours reports whether rr carries data we announce (on any interface):
// identical data is never a conflict (§8.2, §9), which also covers our own
// packets looped back or heard on another interface of this host.
func (r *Responder) ours(rr dns.RR) bool {
	switch v := rr.(type) {
	case *dns.SRV:
		return r.ports[v.Port] && mdns.EqualNames(v.Target, r.rs.SRV.Target) && mdns.EqualNames(v.Hdr.Name, r.rs.Instance)
	case *dns.TXT:
		for _, s := range v.Txt {
			if !r.txtSet[s] {
				return false
			}
		}
		return true
	case *dns.A:
		ip, _ := netip.AddrFromSlice(v.A)
		return r.allIPs[ip.Unmap()]
	case *dns.AAAA:
		ip, _ := netip.AddrFromSlice(v.AAAA)
		return r.allIPs[ip]
	case *dns.NSEC:
		return r.ourNSEC(v)
	}
	return false
}

// ourNSEC reports whether n is one of the negative answers we send (§6.1):
// next domain name its own, a bitmap of only the types we may have at
// that name (A/AAAA at the host name, whichever interface it came from;
// SRV and TXT at the instance name).
func (r *Responder) ourNSEC(n *dns.NSEC) bool {
	var can []uint16
	switch {
	case !mdns.EqualNames(n.NextDomain, n.Hdr.Name):
		return false
	case mdns.EqualNames(n.Hdr.Name, r.rs.Host):
		can = []uint16{dns.TypeA, dns.TypeAAAA}
	case mdns.EqualNames(n.Hdr.Name, r.rs.Instance):
		can = []uint16{dns.TypeSRV, dns.TypeTXT}
	}
	for _, t := range n.TypeBitMap {
		if !slices.Contains(can, t) {
			return false
		}
	}
	return len(n.TypeBitMap) > 0
}

// handleProbe handles a probe from another host: while we probe, a probe
// for our names is a simultaneous probe, decided by comparing the proposed
// records lexicographically (§8.2). It reports whether the probe must be
// answered (defended, §8.1) as a query.
func (r *Responder) handleProbe(st *ifState, p *rxPacket, m *dns.Msg, now time.Time) bool {
	var theirs []dns.RR
	foreign := false
	for _, rr := range m.Ns {
		if r.ownName(rr.Header().Name) {
			theirs = append(theirs, rr)
			if !r.ours(rr) {
				foreign = true
			}
		}
	}
	if len(theirs) == 0 {
		return true // a probe for other names: its questions may still ask for ours
	}
	if !foreign {
		return false // our own probe, or identical data: no conflict (§8.2)
	}
	if st.phase != phProbing {
		return true // we own the names: defend them
	}
	var mine []dns.RR
	for _, rr := range r.probeAuthority(st, len(st.txt.Txt)) {
		if slices.ContainsFunc(theirs, func(t dns.RR) bool { return mdns.EqualNames(t.Header().Name, rr.Header().Name) }) {
			mine = append(mine, rr)
		}
	}
	switch c := compareSets(mine, theirs); {
	case c > 0:
		r.log.Debug("simultaneous probe won", "name", r.PeerName(), "from", p.src)
	case c < 0:
		// §8.2: the loser waits one second and probes again; if the winner
		// then answers, that is a conflict and we rename.
		r.st.Conflicts.Add(1)
		r.log.Debug("simultaneous probe lost", "name", r.PeerName(), "from", p.src)
		r.startProbing(st, now, lostTieWait)
	}
	return false
}

// handleResponse checks a response for conflicts with our unique records
// (§8.1, §9) and suppresses pending answers another responder has just
// given (§7.4).
func (r *Responder) handleResponse(st *ifState, p *rxPacket, m *dns.Msg, now time.Time) {
	if p.src.Port() != mdns.Port {
		// §6: responses not from port 5353 are ignored.
		r.st.Ignored.Add(1)
		return
	}
	pd := &st.fam[famIdx(p.v4)].pend
	acted := false
	defer func() {
		if !acted {
			// Neither a conflict nor a duplicate of a pending answer: it does
			// not concern the responder (this includes our own loop-back).
			r.st.Ignored.Add(1)
		}
	}()
	for _, sec := range [2][]dns.RR{m.Answer, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Ttl > 0 && r.ownName(h.Name) && !r.ours(rr) {
				switch h.Rrtype {
				case dns.TypeSRV, dns.TypeTXT, dns.TypeA, dns.TypeAAAA:
				default:
					if st.phase != phProbing {
						continue // §9 concerns our unique records
					}
				}
				acted = true
				r.conflictSeen(now, p, rr)
				return
			}
			if pd.ans != 0 {
				if k := r.matchKind(st, rr); k != 0 && pd.ans&k != 0 {
					pd.ans &^= k
					acted = true
					r.st.SuppressedDuplicate.Add(1)
					if pd.ans == 0 {
						*pd = pending{}
					}
				}
			}
		}
	}
}

// matchKind returns the kind of our record on st that rr duplicates with at
// least half our TTL (§7.1, §7.4), or 0. A/AAAA match only when st has one
// record of the family (otherwise every address would have to be seen).
func (r *Responder) matchKind(st *ifState, rr dns.RR) kinds {
	for _, k := range [...]kinds{kPTR, kMeta, kSRV, kTXT, kA, kAAAA, kNSECInst, kNSECHost} {
		var mine []dns.RR
		switch k {
		case kTXT:
			mine = []dns.RR{st.txt}
		case kA:
			mine = st.a
		case kAAAA:
			mine = st.aaaa
		default:
			mine = r.records(st, k)
		}
		if len(mine) == 1 && mdns.SameRecord(mine[0], rr) && rr.Header().Ttl >= mine[0].Header().Ttl/2 {
			return k
		}
	}
	return 0
}

// conflictSeen handles a conflicting record: pick a new name and probe
// again (§9); after 15 conflicts within 10 s, wait 5 s first (§8.1).
func (r *Responder) conflictSeen(now time.Time, p *rxPacket, rr dns.RR) {
	old := r.PeerName()
	r.st.Conflicts.Add(1)
	r.conflict = append(r.conflict, now)
	for len(r.conflict) > 0 && now.Sub(r.conflict[0]) >= conflictWindow {
		r.conflict = r.conflict[1:]
	}
	if len(r.conflict) > conflictLimit {
		r.conflict = r.conflict[len(r.conflict)-conflictLimit:]
	}
	if err := r.setName(mdns.NewPeerName(r.rnd)); err != nil {
		r.log.Warn("rename", "err", err)
		return
	}
	r.st.Renames.Add(1)
	wait := r.randDur(0, probeWaitMax)
	if len(r.conflict) >= conflictLimit {
		// Sticky until a name is won, as mDNSResponder does: "each
		// successive additional probe attempt" waits.
		r.backoff = true
	}
	if r.backoff {
		wait = conflictBackoff
	}
	r.log.Info("name conflict, renamed", "old", old, "new", r.PeerName(), "from", p.src, "record", rr.Header().Rrtype, "wait", wait)
	clear(r.tc)
	for _, st := range r.ifs {
		r.buildIface(st)
		st.announced = false
		r.startProbing(st, now, wait)
	}
}

// compareSets compares two record sets as §8.2.1 orders them: each sorted
// by class, type and raw rdata; the first differing record decides, and a
// set with records left over is the later one.
func compareSets(a, b []dns.RR) int {
	ka, kb := sortKeys(a), sortKeys(b)
	for i := 0; i < len(ka) && i < len(kb); i++ {
		if c := bytes.Compare(ka[i], kb[i]); c != 0 {
			return c
		}
	}
	return len(ka) - len(kb)
}

// sortKeys returns class (without the cache-flush bit), type and raw
// uncompressed rdata of each record, sorted.
func sortKeys(rrs []dns.RR) [][]byte {
	keys := make([][]byte, 0, len(rrs))
	for _, rr := range rrs {
		h := rr.Header()
		buf := make([]byte, dns.Len(rr)+len(h.Name)+300)
		off, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			continue
		}
		nameLen, err := dns.PackDomainName(h.Name, buf[off:], 0, nil, false)
		if err != nil {
			continue
		}
		rdata := buf[nameLen+10 : off]
		k := make([]byte, 4, 4+len(rdata))
		c := h.Class &^ mdns.CacheFlushBit
		k[0], k[1], k[2], k[3] = byte(c>>8), byte(c), byte(h.Rrtype>>8), byte(h.Rrtype)
		keys = append(keys, append(k, rdata...))
	}
	slices.SortFunc(keys, bytes.Compare)
	return keys
}
