package browser

import (
	"container/list"
	"slices"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// peerState is one peer, merged over interfaces, instances and flavours:
// its addresses are the union of those of its live TXT records.
type peerState struct {
	id      peer.ID
	entries []*entry // TXT records, least recently received first
	addrs   []ma.Multiaddr
	found   bool
	dirty   bool
	flavour mdns.Flavour
	lru     *list.Element // in Browser.peerLRU, or peerProt when established
	// established: a record of the peer was received again at least
	// establishAfter after it was first cached (a peer answering our
	// queries, or re-announcing). Established peers and their records are
	// evicted only when no other peer or record is left, so a flood of
	// peers seen once cannot displace them.
	established bool
}

// establishAfter is how long after its first sighting a record must be
// received again for its peer to become established: copies of one
// announcement (IPv4 and IPv6, several sockets) arrive within it, distinct
// announcements (at least 1 s apart, RFC 6762 §8.3) and answers to our
// queries after it, even when a busy receive queue delayed the first.
const establishAfter = 500 * time.Millisecond

// peerList returns the eviction list p is in.
func (b *Browser) peerList(p *peerState) *list.List {
	if p.established {
		return &b.peerProt
	}
	return &b.peerLRU
}

// establish moves p and its records to the lists evicted last.
func (b *Browser) establish(p *peerState) {
	if p.established {
		return
	}
	b.peerLRU.Remove(p.lru)
	p.established, p.lru = true, b.peerProt.PushBack(p)
	for _, e := range p.entries {
		b.cache.protect(e)
	}
}

func (p *peerState) removeEntry(e *entry) {
	if i := slices.Index(p.entries, e); i >= 0 {
		p.entries = slices.Delete(p.entries, i, i+1)
	}
}

// touchEntry moves e to the newest end of the peer's records.
func (p *peerState) touchEntry(e *entry) {
	if i := slices.Index(p.entries, e); i >= 0 {
		p.entries = slices.Delete(p.entries, i, i+1)
	}
	p.entries = append(p.entries, e)
}

func (b *Browser) markDirty(p *peerState) {
	if !p.dirty {
		p.dirty = true
		b.dirty = append(b.dirty, p)
	}
}

// peerFor returns the state of id, creating it (and evicting the peer
// refreshed least recently when MaxPeers is reached).
func (b *Browser) peerFor(id peer.ID, now time.Time) *peerState {
	if p := b.peers[id]; p != nil {
		b.peerList(p).MoveToBack(p.lru)
		return p
	}
	for len(b.peers) >= b.cfg.MaxPeers {
		// The peer refreshed least recently among those not established;
		// an established one only when every peer is.
		front := b.peerLRU.Front()
		if front == nil {
			front = b.peerProt.Front()
		}
		old := front.Value.(*peerState)
		for len(old.entries) > 0 {
			b.dropEntry(old.entries[len(old.entries)-1])
		}
		b.markDirty(old)
		b.ctr.evicted.Add(1)
		b.settle(old, now)
	}
	p := &peerState{id: id}
	p.lru = b.peerLRU.PushBack(p)
	b.peers[id] = p
	return p
}

// settleDirty recomputes every peer changed since the last call and emits
// the events (Found when first complete, Updated when the address set
// changed, Lost when no record is left).
func (b *Browser) settleDirty(now time.Time) {
	for _, p := range b.dirty {
		b.settle(p, now)
	}
	clear(b.dirty)
	b.dirty = b.dirty[:0]
}

func (b *Browser) settle(p *peerState, now time.Time) {
	if !p.dirty {
		return
	}
	p.dirty = false
	if len(p.entries) == 0 {
		if b.peers[p.id] == p {
			delete(b.peers, p.id)
			b.peerList(p).Remove(p.lru)
		}
		if p.found {
			p.found = false
			b.ctr.peersLost.Add(1)
			b.emit(Event{Kind: Lost, Peer: peer.AddrInfo{ID: p.id, Addrs: p.addrs}, Flavour: p.flavour, Time: now})
		}
		b.publish()
		return
	}
	// Newest records first, so MaxAddrs keeps the newest addresses; then
	// the blocks are put back in record order.
	var blocks [][]ma.Multiaddr
	var ttl time.Duration
	seen := map[string]bool{}
	n, truncated := 0, false
	for i := len(p.entries) - 1; i >= 0; i-- {
		e := p.entries[i]
		if r := e.remaining(now); r > ttl {
			ttl = r
		}
		var blk []ma.Multiaddr
		for _, a := range e.addrs {
			k := string(a.Bytes())
			if seen[k] {
				continue
			}
			if n >= b.cfg.MaxAddrs {
				truncated = true
				continue
			}
			seen[k] = true
			blk = append(blk, a)
			n++
		}
		if len(blk) > 0 {
			blocks = append(blocks, blk)
		}
	}
	if truncated {
		b.ctr.evicted.Add(1)
	}
	p.flavour = p.entries[len(p.entries)-1].flavour
	addrs := make([]ma.Multiaddr, 0, n)
	for i := len(blocks) - 1; i >= 0; i-- {
		addrs = append(addrs, blocks[i]...)
	}
	switch {
	case len(addrs) == 0 && p.found:
		p.found = false
		b.ctr.peersLost.Add(1)
		b.emit(Event{Kind: Lost, Peer: peer.AddrInfo{ID: p.id, Addrs: p.addrs}, Flavour: p.flavour, Time: now})
	case len(addrs) == 0:
	case !p.found:
		p.found = true
		b.ctr.peersFound.Add(1)
		b.emit(Event{Kind: Found, Peer: peer.AddrInfo{ID: p.id, Addrs: addrs}, Flavour: p.flavour, TTL: ttl, Time: now})
	case !mdns.SameAddrSet(p.addrs, addrs):
		b.emit(Event{Kind: Updated, Peer: peer.AddrInfo{ID: p.id, Addrs: addrs}, Flavour: p.flavour, TTL: ttl, Time: now})
	}
	p.addrs = addrs
	b.publish()
}

// publish marks the Peers() snapshot stale.
func (b *Browser) publish() { b.snapStale = true }

// snapshot returns the found peers (called with b.mu held).
func (b *Browser) snapshot() []peer.AddrInfo {
	if b.snapStale || b.snap == nil {
		b.snap = b.snap[:0:0]
		for _, l := range []*list.List{&b.peerProt, &b.peerLRU} {
			for e := l.Front(); e != nil; e = e.Next() {
				p := e.Value.(*peerState)
				if p.found {
					b.snap = append(b.snap, peer.AddrInfo{ID: p.id, Addrs: slices.Clone(p.addrs)})
				}
			}
		}
		b.snapStale = false
	}
	return b.snap
}
