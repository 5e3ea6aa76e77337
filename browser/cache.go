package browser

import (
	"container/heap"
	"container/list"
	"strconv"
	"strings"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// entry is one cached record (RFC 6762 §10), keyed by interface, owner
// name, type, class and rdata. Only the records a browse needs are cached:
// the PTRs of the service (the known answers of our question) and the TXT
// records of its instances (they carry the dnsaddrs). rust-libp2p TXT
// records are owned by a label that changes with every response; they are
// keyed by "rust:<peer ID>" instead, so that a re-announced address refreshes
// its record rather than adding one, and their PTRs are not cached.
type entry struct {
	key      string
	owner    string // iface|type|lower-case owner: the RRset (§10.2)
	ifIndex  int
	rrtype   uint16
	instance string // lower-case instance (PTR target or TXT owner)
	rr       dns.RR // class without the cache-flush bit; nil for rust TXT
	peer     *peerState
	addrs    []ma.Multiaddr
	flavour  mdns.Flavour

	first    time.Time // when the record was first cached
	received time.Time
	ttl      uint32
	expires  time.Time
	// refresh: the stage (0–4) of the 80/85/90/95 % queries (§5.2).
	refreshAt    time.Time
	refreshStage int
	// POOF (§10.5): unanswered queries seen since poofFirst.
	poofN        int
	poofFirst    time.Time
	poofDeadline time.Time

	hidx int
	lru  *list.Element // in cache.lru, or cache.prot when prot
	prot bool
	// provisional: proposed in a probe, not yet announced (ProbeHints):
	// it lives probeHold unless an answer confirms it, is never a known
	// answer, never refreshed, never POOFed, and never establishes its
	// peer.
	provisional bool
}

func (e *entry) due() time.Time {
	t := e.expires
	if !e.refreshAt.IsZero() && e.refreshAt.Before(t) {
		t = e.refreshAt
	}
	if !e.poofDeadline.IsZero() && e.poofDeadline.Before(t) {
		t = e.poofDeadline
	}
	return t
}

// remaining returns the remaining TTL at now.
func (e *entry) remaining(now time.Time) time.Duration { return e.expires.Sub(now) }

// knownAnswer reports whether the record goes into a known-answer list:
// more than half of its TTL remains (§7.1).
func (e *entry) knownAnswer(now time.Time) bool {
	return e.rr != nil && !e.provisional && e.remaining(now)*2 > time.Duration(e.ttl)*time.Second
}

// setTTL (re)starts the lifetime of a record received at now (§5.2, §10).
func (b *Browser) setTTL(e *entry, ttl uint32, now time.Time) {
	e.received, e.ttl = now, ttl
	e.poofN, e.poofFirst, e.poofDeadline = 0, time.Time{}, time.Time{}
	if ttl == 0 { // goodbye: expire in one second (§10.1)
		e.expires = now.Add(goodbyeDelay)
		e.refreshAt, e.refreshStage = time.Time{}, 4
		return
	}
	e.expires = now.Add(time.Duration(ttl) * time.Second)
	e.refreshStage = 0
	e.refreshAt = b.refreshPoint(e)
}

// refreshPoint returns when the next refresh query for e is due: at 80, 85,
// 90 and 95 % of the TTL, each plus a random 0–2 % (§5.2).
func (b *Browser) refreshPoint(e *entry) time.Time {
	if e.refreshStage >= 4 || e.ttl == 0 {
		return time.Time{}
	}
	life := time.Duration(e.ttl) * time.Second
	pct := 80 + 5*float64(e.refreshStage) + 2*b.cfg.Rand.Float64()
	return e.received.Add(time.Duration(float64(life) * pct / 100))
}

type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].due().Before(h[j].due()) }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].hidx = i; h[j].hidx = j }
func (h *entryHeap) Push(x any)        { e := x.(*entry); e.hidx = len(*h); *h = append(*h, e) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.hidx = -1
	return e
}

// cache holds the records with an index by RRset and a heap of deadlines.
// Records are evicted by receive time, oldest first, those of established
// peers (prot) only when no other record is left: a flood of new records
// cannot push out the records of peers that have proven themselves.
type cache struct {
	byKey   map[string]*entry
	byOwner map[string][]*entry
	h       entryHeap
	lru     list.List // by receive time, oldest first
	prot    list.List // records of established peers, by receive time
}

func newCache() *cache {
	return &cache{byKey: map[string]*entry{}, byOwner: map[string][]*entry{}}
}

func ownerKey(ifIndex int, rrtype uint16, name string) string {
	return strconv.Itoa(ifIndex) + "|" + strconv.Itoa(int(rrtype)) + "|" + strings.ToLower(name)
}

func recordKey(owner, rdata string) string { return owner + "|" + rdata }

func (c *cache) add(e *entry) {
	c.byKey[e.key] = e
	c.byOwner[e.owner] = append(c.byOwner[e.owner], e)
	heap.Push(&c.h, e)
	e.lru = c.lru.PushBack(e)
}

// list returns the eviction list e is in.
func (c *cache) list(e *entry) *list.List {
	if e.prot {
		return &c.prot
	}
	return &c.lru
}

// protect moves e to the list evicted last.
func (c *cache) protect(e *entry) {
	if !e.prot {
		c.lru.Remove(e.lru)
		e.prot, e.lru = true, c.prot.PushBack(e)
	}
}

// touched moves e to the back of its LRU and re-sorts the heap.
func (c *cache) touched(e *entry) {
	c.list(e).MoveToBack(e.lru)
	heap.Fix(&c.h, e.hidx)
}

func (c *cache) fix(e *entry) { heap.Fix(&c.h, e.hidx) }

func (c *cache) remove(e *entry) {
	delete(c.byKey, e.key)
	set := c.byOwner[e.owner]
	for i, x := range set {
		if x == e {
			set[i] = set[len(set)-1]
			set[len(set)-1] = nil
			set = set[:len(set)-1]
			break
		}
	}
	if len(set) == 0 {
		delete(c.byOwner, e.owner)
	} else {
		c.byOwner[e.owner] = set
	}
	if e.hidx >= 0 {
		heap.Remove(&c.h, e.hidx)
	}
	c.list(e).Remove(e.lru)
}

// dropEntry removes e from the cache and from its peer.
func (b *Browser) dropEntry(e *entry) {
	b.cache.remove(e)
	if len(b.cache.byOwner[e.owner]) == 0 {
		if m := b.ptrOwned[e.ifIndex]; m != nil {
			delete(m, e.owner)
		}
	}
	if p := e.peer; p != nil {
		p.removeEntry(e)
		b.markDirty(p)
	}
}

// expireSoon makes e expire one second from now unless it expires earlier
// (§10.1 goodbye, §10.2 cache flush).
func (b *Browser) expireSoon(e *entry, now time.Time) {
	if t := now.Add(goodbyeDelay); t.Before(e.expires) {
		e.expires = t
		e.refreshAt, e.refreshStage = time.Time{}, 4
		b.cache.fix(e)
	}
}

// withdrawInstance expires, one second from now, the records of an
// instance on an interface: its PTR and its TXT records.
func (b *Browser) withdrawInstance(ifIndex int, instance string, now time.Time) {
	for _, e := range b.cache.byOwner[ownerKey(ifIndex, dns.TypeTXT, instance)] {
		b.expireSoon(e, now)
	}
	for _, e := range b.cache.byOwner[ownerKey(ifIndex, dns.TypePTR, b.cfg.Service)] {
		if e.instance == strings.ToLower(instance) {
			b.expireSoon(e, now)
		}
	}
}

// ifaceDownGrace is how long the records of an interface that went down
// are kept: RFC 6762 §10.3 lets a host, instead of flushing them at once,
// cut their remaining TTL to a few seconds, so that a link that flaps back
// (a cable re-plugged, a Wi-Fi roam) loses no peer. On the way back up the
// browser queries again, and these records, below half their TTL, are left
// out of its known answers (§7.1), so the peers answer and renew them.
const ifaceDownGrace = 5 * time.Second

// expireIfaceSoon cuts the remaining TTL of every record learned on an
// interface that went down, or left the Conn's list (the transport drops an
// interface it can no longer use), to ifaceDownGrace (§10.3).
func (b *Browser) expireIfaceSoon(ifIndex int, now time.Time) {
	at := now.Add(ifaceDownGrace)
	for _, e := range b.cache.byKey {
		if e.ifIndex == ifIndex && e.expires.After(at) {
			e.expires = at
			heap.Fix(&b.cache.h, e.hidx)
		}
	}
}

// runDue handles every record deadline up to now: expiry, refresh points
// (collected per interface, sent by the caller) and POOF deadlines.
func (b *Browser) runDue(now time.Time) {
	for len(b.cache.h) > 0 {
		e := b.cache.h[0]
		if e.due().After(now) {
			return
		}
		switch {
		case !e.expires.After(now):
			b.dropEntry(e)
			b.ctr.expired.Add(1)
			if e.rrtype == dns.TypePTR { // the instance is gone with its PTR
				b.withdrawInstance(e.ifIndex, e.instance, now)
			}
		case !e.poofDeadline.IsZero() && !e.poofDeadline.After(now):
			if e.poofN >= 2 { // §10.5: two unanswered queries, no answer
				b.cfg.Logger.Debug("poof", "record", e.key)
				b.dropEntry(e)
				b.ctr.poofed.Add(1)
				if e.rrtype == dns.TypePTR {
					b.withdrawInstance(e.ifIndex, e.instance, now)
				}
				continue
			}
			e.poofN, e.poofFirst, e.poofDeadline = 0, time.Time{}, time.Time{}
			b.cache.fix(e)
		default: // refresh point (§5.2)
			if ifs := b.ifaces[e.ifIndex]; ifs != nil {
				ifs.addRefresh(b.questionFor(e))
			}
			e.refreshStage++
			e.refreshAt = b.refreshPoint(e)
			b.cache.fix(e)
		}
	}
}

// poofObserve records that a query expecting e as an answer was seen
// (§10.5). The record is flushed when no answer arrives by the deadline:
// 10 s after the first such query, and at least 1 s after the last one
// (time for the responder's §6 delay).
func (b *Browser) poofObserve(e *entry, now time.Time) {
	if e.provisional {
		return // nobody answers for a record still being probed
	}
	if e.poofN == 0 {
		e.poofFirst = now
	}
	e.poofN++
	d := e.poofFirst.Add(poofWindow)
	if l := now.Add(time.Second); e.poofN >= 2 && l.After(d) {
		d = l
	}
	e.poofDeadline = d
	b.cache.fix(e)
}

// evictRecords keeps the cache within MaxRecords, evicting the records
// received longest ago, those of established peers last.
func (b *Browser) evictRecords() {
	for len(b.cache.byKey) > b.cfg.MaxRecords {
		front := b.cache.lru.Front()
		if front == nil {
			front = b.cache.prot.Front()
		}
		e := front.Value.(*entry)
		b.dropEntry(e)
		b.ctr.evicted.Add(1)
	}
}
