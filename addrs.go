package discovery

import (
	"context"
	"fmt"
	"strings"

	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// announceAddrs returns the host's addresses worth announcing on a LAN:
// its listen addresses expanded to the interface addresses (as go-libp2p's
// mdns does), without relay, browser-only transports or non-.local DNS
// names. The responder then announces on each interface only the ones
// reachable there.
//
// The expansion lists the interfaces afresh: the host's own
// InterfaceListenAddresses caches that list for a minute (go-libp2p's swarm
// and address manager both do, and EvtLocalAddressesUpdated lags as much),
// which would keep an address added to or removed from an interface out of,
// or in, our announcements for that long after the interface event that
// re-announces them (RFC 6762 §8.4, §10.1).
func announceAddrs(h host.Host) ([]ma.Multiaddr, error) {
	listen := h.Network().ListenAddresses()
	if len(listen) == 0 {
		return []ma.Multiaddr{}, nil // a host that does not listen (as the swarm reports it)
	}
	all, err := manet.ResolveUnspecifiedAddresses(listen, nil)
	if err != nil {
		return nil, fmt.Errorf("discovery: listen addresses: %w", err)
	}
	return suitableAddrs(all), nil
}

func suitableAddrs(all []ma.Multiaddr) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(all))
	for _, a := range all {
		if suitable(a) {
			out = append(out, a)
		}
	}
	return out
}

func suitable(a ma.Multiaddr) bool {
	if len(a) == 0 {
		return false
	}
	switch a[0].Code() {
	case ma.P_IP4, ma.P_IP6:
	case ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
		if !strings.HasSuffix(strings.ToLower(a[0].Value()), ".local") {
			return false
		}
	default:
		return false
	}
	for _, c := range a {
		switch c.Code() {
		case ma.P_CIRCUIT, ma.P_WEBTRANSPORT, ma.P_WEBRTC, ma.P_WEBRTC_DIRECT, ma.P_WS, ma.P_WSS, ma.P_P2P:
			return false
		}
	}
	return true
}

// followAddrs re-announces when the host's addresses change (go-libp2p's
// mdns never does: go-libp2p#1163), and when an interface changes in a way
// that changes them: an address added to or removed from an interface the
// host listens on with an unspecified address. The interface events come
// from the Conn, after it has refreshed its sockets; each also tells the
// dialer that connections may have died with the old paths.
func (d *MDNSDiscovery) followAddrs(ctx context.Context) error {
	hostEvents, ifEvents := d.sub.Out(), d.ifs.Events()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-hostEvents:
			if !ok {
				return nil
			}
			d.reannounce("host addresses changed", true)
		case _, ok := <-ifEvents:
			if !ok {
				ifEvents = nil
				continue
			}
			d.reannounce("interface addresses changed", false)
			if d.dial != nil {
				// Connections over a path that changed may be dead or about
				// to die: dial the peers again rather than wait.
				d.dial.NetworkChanged()
			}
		}
	}
}

// reannounce hands the current addresses to the responder: always when
// always is set, else only when they changed.
func (d *MDNSDiscovery) reannounce(why string, always bool) {
	addrs, err := announceAddrs(d.host)
	if err != nil {
		d.log.Warn("address update", "err", err)
		return
	}
	if !always && mdns.SameAddrSet(addrs, *d.addrs.Load()) {
		return
	}
	d.log.Info(why+", re-announcing", "addrs", len(addrs))
	d.addrs.Store(&addrs)
	d.resp.SetAddrs(addrs)
}
