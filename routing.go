package discovery

import (
	"context"
	"fmt"
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
// Limit peers were delivered. The channel is bounded; a consumer that does
// not keep up misses updates, never blocks discovery.
func (d *MDNSDiscovery) FindPeers(ctx context.Context, ns string, opts ...coredisc.Option) (<-chan peer.AddrInfo, error) {
	if err := d.checkNS(ns); err != nil {
		return nil, err
	}
	var o coredisc.Options
	if err := o.Apply(opts...); err != nil {
		return nil, err
	}
	sub, ok := d.subs.add(64, func() { d.wg.Add(1) })
	if !ok {
		return nil, fmt.Errorf("discovery: closed or too many FindPeers calls (max %d)", maxSubscribers)
	}
	out := make(chan peer.AddrInfo, 64)
	go func() {
		defer d.wg.Done()
		defer close(out)
		defer d.subs.remove(sub)
		sent := 0
		deliver := func(ai peer.AddrInfo) bool {
			select {
			case out <- ai:
				sent++
				return o.Limit == 0 || sent < o.Limit
			case <-ctx.Done():
				return false
			case <-d.closing:
				return false
			}
		}
		for _, ai := range d.Peers() {
			if !deliver(ai) {
				return
			}
		}
		for {
			select {
			case ai, ok := <-sub:
				if !ok || !deliver(ai) {
					return
				}
			case <-ctx.Done():
				return
			case <-d.closing:
				return
			}
		}
	}()
	return out, nil
}
