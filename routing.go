package discovery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chorus-services/discovery/mdns"
	coredisc "github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/peer"
)

var _ coredisc.Discovery = (*MDNSDiscovery)(nil)

// ErrNamespace is returned by Advertise and FindPeers for a namespace other
// than the discovery's service tag: one MDNSDiscovery announces and browses
// one tag (start one per tag).
var ErrNamespace = fmt.Errorf("discovery: mDNS serves only its own service tag")

func (d *MDNSDiscovery) checkNS(ns string) error {
	if ns == "" || ns == d.tag {
		return nil
	}
	if s, err := mdns.ServiceName(ns); err == nil && mdns.EqualNames(s, d.service) {
		return nil
	}
	return fmt.Errorf("%w: %q is not %q", ErrNamespace, ns, d.tag)
}

// Advertise implements core/discovery.Advertiser. Our peer is announced for
// as long as discovery runs, so this only checks the namespace (empty or
// the service tag) and returns the TTL of the announced records, after
// which go-libp2p's BackoffDiscovery will call it again.
func (d *MDNSDiscovery) Advertise(ctx context.Context, ns string, opts ...coredisc.Option) (time.Duration, error) {
	if err := d.checkNS(ns); err != nil {
		return 0, err
	}
	var o coredisc.Options
	if err := o.Apply(opts...); err != nil {
		return 0, err
	}
	ttl := time.Duration(mdns.TTLOther) * time.Second
	if d.opts.ttlOther != 0 {
		ttl = time.Duration(d.opts.ttlOther) * time.Second
	}
	if o.Ttl > 0 && o.Ttl < ttl {
		ttl = o.Ttl
	}
	return ttl, nil
}

// FindPeers implements core/discovery.Discoverer: the peers known now, then
// every peer found or updated until ctx is done, discovery is closed or
// Limit peers were delivered. A consumer that falls behind delays
// deliveries but loses none (each peer waits with its latest addresses).
func (d *MDNSDiscovery) FindPeers(ctx context.Context, ns string, opts ...coredisc.Option) (<-chan peer.AddrInfo, error) {
	if err := d.checkNS(ns); err != nil {
		return nil, err
	}
	var o coredisc.Options
	if err := o.Apply(opts...); err != nil {
		return nil, err
	}
	sub, ok := d.out.subs.add(func() { d.wg.Add(1) })
	if !ok {
		return nil, fmt.Errorf("discovery: closed or too many FindPeers calls (max %d)", maxSubscribers)
	}
	for _, ai := range d.Peers() { // subscribed first: nothing found meanwhile is missed
		sub.put(ai.ID, ai)
	}
	out := make(chan peer.AddrInfo, subscriberChan)
	go func() {
		defer d.wg.Done()
		defer close(out)
		defer d.out.subs.remove(sub)
		sent := 0
		sub.pump(d.closing, ctx.Done(), func(_ peer.ID, ai peer.AddrInfo) bool {
			select {
			case out <- ai:
				sent++
				return o.Limit == 0 || sent < o.Limit
			case <-ctx.Done():
				return false
			case <-d.closing:
				return false
			}
		})
	}()
	return out, nil
}

// maxSubscribers bounds concurrent FindPeers calls.
const maxSubscribers = 64

// subscribers are the outboxes of the FindPeers calls in progress.
type subscribers struct {
	mu     sync.Mutex
	list   map[*outbox[peer.AddrInfo]]struct{}
	closed bool
}

// add registers a subscriber and, under the same lock, calls started (which
// adds the subscriber's goroutine to the wait group) so that no goroutine is
// added once stop has been called.
func (s *subscribers) add(started func()) (*outbox[peer.AddrInfo], bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.list) >= maxSubscribers {
		return nil, false
	}
	started()
	if s.list == nil {
		s.list = map[*outbox[peer.AddrInfo]]struct{}{}
	}
	b := newOutbox(pendingMax, replace[peer.AddrInfo])
	s.list[b] = struct{}{}
	return b, true
}

func (s *subscribers) remove(b *outbox[peer.AddrInfo]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.list, b)
}

// put hands ai to every subscriber (never blocks).
func (s *subscribers) put(ai peer.AddrInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for b := range s.list {
		b.put(ai.ID, ai)
	}
}

// stop refuses further subscribers.
func (s *subscribers) stop() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// closeAll forgets the subscribers (their goroutines ended on Close).
func (s *subscribers) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.list = nil
}
