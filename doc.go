// Package discovery finds libp2p peers on the local network with multicast
// DNS (RFC 6762) and DNS-SD (RFC 6763) and connects to them.
//
// It is the facade of this module: NewMDNSDiscovery wires a responder (our
// peer announced on every interface), a browser (peers of every libp2p
// flavour found) and a dialer (found peers connected through the host)
// onto one set of sockets, each layer reading them through a View of its
// own:
//
//	                                    ┌── View ── responder <──(EvtLocalAddressesUpdated, interface events)── host addrs
//	UDP 5353 (v4+v6) + its interface ───┼── View ── browser ──> outlets: PeersChan, Events, FindPeers, Notifee
//	watcher (transport.UDP)             └── View ── address following      │            (one coalescing queue each)
//	                                                                       └──> dialer ──> host.Connect
//	                                                                            (timeout, backoff, concurrency cap)
//
// A peer is found at its first probe (RFC 6762 §8.1) unless
// WithProbeHints(false); every consumer has its own queue, coalesced per
// peer, so a slow one delays peers but loses none and slows nothing else;
// Connected events report connections in both directions.
//
// The API of CHORUS's earlier discovery package is kept: NewMDNSDiscovery(ctx,
// h, tag), PeersChan, Close and Metrics, with its hard-coded settings made
// options. NewMdnsService is a drop-in for go-libp2p's
// p2p/discovery/mdns, and MDNSDiscovery implements
// github.com/libp2p/go-libp2p/core/discovery.Discovery.
//
// A service tag maps to a DNS-SD service name exactly as go-libp2p maps it
// (see mdns.ServiceName), so a go-libp2p node given the same tag finds us and
// is found by us.
package discovery
