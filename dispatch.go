package discovery

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/dialer"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// browserEvents turns the browser's events into deliveries (outlets),
// dial requests and metrics.
func (d *MDNSDiscovery) browserEvents(context.Context) error {
	for ev := range d.brow.Events() {
		ai := peer.AddrInfo{ID: ev.Peer.ID, Addrs: slices.Clone(ev.Peer.Addrs)}
		switch ev.Kind {
		case browser.Found, browser.Updated:
			kind := PeerUpdated
			d.mu.Lock()
			if ev.Kind == browser.Found {
				kind = PeerFound
				d.metrics.PeersDiscovered++
			}
			d.metrics.LastDiscovery = ev.Time
			d.mu.Unlock()
			d.out.found(ai)
			d.conns.present(d, Event{Kind: kind, Peer: ai, Flavour: ev.Flavour.String(), Time: ev.Time})
			if d.dial != nil {
				// Found and Updated are both fresh announcements. A peer
				// found from its probe has records of a few seconds (they
				// become its announced ones without a new event): its
				// addresses stay in the peerstore as long as the host
				// records of an announcement would.
				d.dial.Found(ai, max(ev.TTL, dialer.DefaultAddrTTL), true)
			}
		case browser.Lost:
			d.mu.Lock()
			d.metrics.PeersLost++
			d.mu.Unlock()
			d.conns.lost(d, Event{Kind: PeerLost, Peer: ai, Time: ev.Time})
			if d.dial != nil {
				d.dial.Lost(ev.Peer.ID)
			}
		}
	}
	return nil
}

// dialEvents counts the dialer's attempts and reports their outcomes.
func (d *MDNSDiscovery) dialEvents(context.Context) error {
	for ev := range d.dial.Events() {
		ai := peer.AddrInfo{ID: ev.Peer, Addrs: ev.Addrs}
		switch ev.Kind {
		case dialer.Connected:
			d.mu.Lock()
			d.metrics.ConnectionsSuccess++
			d.mu.Unlock()
			d.log.Info("connected", "peer", ev.Peer, "in", ev.Duration)
			d.conns.connected(d, ev.Peer, ai.Addrs, network.DirOutbound, ev.Time)
		case dialer.DialFailed:
			d.mu.Lock()
			d.metrics.ConnectionsFailed++
			d.mu.Unlock()
			d.log.Info("connection failed", "peer", ev.Peer, "reason", ev.Reason, "err", ev.Err)
			d.out.event(Event{Kind: DialFailed, Peer: ai, Err: ev.Err, Reason: string(ev.Reason), Time: ev.Time})
		}
	}
	return nil
}

// connTracker reports a Connected event once per connection episode of a
// discovered peer, whichever side dialled: our dialer's success
// (outbound), or an inbound connection from a peer we have found (also
// one that connected before we found it: reported right after its Found).
// It forgets a peer when its last connection closes. Bounded: known
// mirrors the browser's peers, reported only holds connected known peers.
type connTracker struct {
	mu       sync.Mutex
	known    map[peer.ID]bool // found and not lost
	reported map[peer.ID]bool // Connected reported, still connected
	bundle   *network.NotifyBundle
}

// watchConns follows the host's connections for the Connected events.
func (d *MDNSDiscovery) watchConns() {
	c := &d.conns
	c.known, c.reported = map[peer.ID]bool{}, map[peer.ID]bool{}
	c.bundle = &network.NotifyBundle{
		ConnectedF: func(_ network.Network, conn network.Conn) {
			d.conns.connected(d, conn.RemotePeer(), []ma.Multiaddr{conn.RemoteMultiaddr()}, conn.Stat().Direction, time.Now())
		},
		DisconnectedF: func(n network.Network, conn network.Conn) {
			if n.Connectedness(conn.RemotePeer()) != network.Connected {
				c.mu.Lock()
				delete(c.reported, conn.RemotePeer())
				c.mu.Unlock()
			}
		},
	}
	d.host.Network().Notify(c.bundle)
}

func (d *MDNSDiscovery) unwatchConns() { d.host.Network().StopNotify(d.conns.bundle) }

// present reports a presence event and, for a peer just found that is
// already connected, its connection.
func (c *connTracker) present(d *MDNSDiscovery, ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d.out.event(ev)
	c.known[ev.Peer.ID] = true
	if c.reported[ev.Peer.ID] {
		return
	}
	for _, conn := range d.host.Network().ConnsToPeer(ev.Peer.ID) {
		c.reported[ev.Peer.ID] = true
		d.out.event(Event{Kind: Connected, Peer: peer.AddrInfo{ID: ev.Peer.ID, Addrs: []ma.Multiaddr{conn.RemoteMultiaddr()}},
			Direction: direction(conn.Stat().Direction), Time: ev.Time})
		return
	}
}

func (c *connTracker) lost(d *MDNSDiscovery, ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.known, ev.Peer.ID)
	d.out.event(ev)
}

// connected reports a connection to a known peer unless one is reported.
func (c *connTracker) connected(d *MDNSDiscovery, id peer.ID, addrs []ma.Multiaddr, dir network.Direction, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known[id] || c.reported[id] {
		return
	}
	c.reported[id] = true
	d.out.event(Event{Kind: Connected, Peer: peer.AddrInfo{ID: id, Addrs: addrs}, Direction: direction(dir), Time: at})
}

// direction names a connection's direction as Event.Direction does.
func direction(d network.Direction) string {
	switch d {
	case network.DirInbound:
		return "inbound"
	case network.DirOutbound:
		return "outbound"
	}
	return ""
}
