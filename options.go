package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultServiceTag is the tag NewMDNSDiscovery uses when given an empty
// one (the one CHORUS agents announce under). NewMdnsService and p2p-mdns
// default to go-libp2p's "_p2p._udp" instead (ServiceName): peers with
// different tags do not see each other.
const DefaultServiceTag = "CHORUS-peer-discovery"

// Option configures NewMDNSDiscovery.
type Option func(*options) error

type options struct {
	ifaces          []string
	loopback        bool
	noV4, noV6      bool
	ttlHost         uint32
	ttlOther        uint32
	autoConnect     bool
	dialTimeout     time.Duration
	dialConcurrency int
	addrFilter      func(peer.ID, ma.Multiaddr) bool
	logger          *slog.Logger
	registerer      prometheus.Registerer
	peersChanSize   int
	conn            transport.Conn
	eventsSize      int
	probeHints      bool
	requireIface    bool
	notifee         Notifee // set by NewMdnsService
}

func defaultOptions() options {
	return options{autoConnect: true, dialTimeout: 10 * time.Second, dialConcurrency: 8, peersChanSize: 32, probeHints: true}
}

// WithInterfaces restricts discovery to the named interfaces (default: every
// up, multicast-capable, non-loopback interface).
func WithInterfaces(names ...string) Option {
	return func(o *options) error { o.ifaces = append([]string(nil), names...); return nil }
}

// WithLoopback includes loopback interfaces when no interfaces are named.
func WithLoopback(on bool) Option { return func(o *options) error { o.loopback = on; return nil } }

// WithIPv4 turns IPv4 (224.0.0.251) on or off (default on).
func WithIPv4(on bool) Option { return func(o *options) error { o.noV4 = !on; return nil } }

// WithIPv6 turns IPv6 (ff02::fb) on or off (default on).
func WithIPv6(on bool) Option { return func(o *options) error { o.noV6 = !on; return nil } }

// WithTTLs overrides the record TTLs of RFC 6762 §10 (host: SRV/A/AAAA,
// default 120 s; other: PTR/TXT, default 4500 s).
func WithTTLs(host, other time.Duration) Option {
	return func(o *options) error {
		if host < time.Second || other < time.Second {
			return fmt.Errorf("discovery: WithTTLs(%v, %v): both must be at least 1 s", host, other)
		}
		o.ttlHost, o.ttlOther = uint32(host/time.Second), uint32(other/time.Second)
		return nil
	}
}

// WithAutoConnect turns connecting to found peers on or off (default on).
func WithAutoConnect(on bool) Option {
	return func(o *options) error { o.autoConnect = on; return nil }
}

// WithDialTimeout bounds each connection attempt (default 10 s).
// go-libp2p's swarm gives up on an address in a private or link-local
// range after its own local dial timeout (5 s unless the host was built
// with swarm.WithDialTimeoutLocal), so for peers found on the LAN a longer
// value here does not make one address tried for longer.
func WithDialTimeout(d time.Duration) Option {
	return positive("WithDialTimeout", d, func(o *options) { o.dialTimeout = d })
}

// positive is the rule of the options that take a duration, a count or a
// size: zero or less is an error naming the option and the value.
func positive[T int | time.Duration](opt string, v T, set func(*options)) Option {
	return func(o *options) error {
		if v <= 0 {
			return fmt.Errorf("discovery: %s(%v): must be positive", opt, v)
		}
		set(o)
		return nil
	}
}

// WithDialConcurrency bounds the connection attempts in flight (default 8).
func WithDialConcurrency(n int) Option {
	return positive("WithDialConcurrency", n, func(o *options) { o.dialConcurrency = n })
}

// WithAddrFilter drops discovered addresses for which keep returns false.
func WithAddrFilter(keep func(peer.ID, ma.Multiaddr) bool) Option {
	return func(o *options) error { o.addrFilter = keep; return nil }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// WithPrometheus registers the discovery metrics on r (default: none).
func WithPrometheus(r prometheus.Registerer) Option {
	return func(o *options) error { o.registerer = r; return nil }
}

// WithPeersChanSize sets the capacity of PeersChan (default 32). A full
// channel loses no peer: what waits behind it is kept per peer (its latest
// addresses), up to twice the browser's peer cap, and delivered as the
// reader catches up.
func WithPeersChanSize(n int) Option {
	return positive("WithPeersChanSize", n, func(o *options) { o.peersChanSize = n })
}

// WithProbeHints(false) makes discovery strict: a peer is found only from
// its announcements and answers. By default (true) a peer is found, and
// dialled, at its first RFC 6762 §8.1 probe, some 750 ms before it may
// announce: a starting peer proposes its records in the probe, and its
// libp2p identity is verified by the connection handshake anyway. A peer
// that loses a probe tie-break (§8.2) renames and proposes the same
// addresses, so nothing reported changes; one that gives up is lost after
// a few seconds. Nothing sent changes either way.
func WithProbeHints(on bool) Option {
	return func(o *options) error { o.probeHints = on; return nil }
}

// WithConn runs discovery on the given Conn (e.g. an in-memory LAN from
// mdns/transport/memnet) instead of opening UDP sockets. Discovery reads
// it through Views of its own (which bring its interface changes) and
// leaves it open: the caller, who opened it, closes it after Close.
func WithConn(c transport.Conn) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("discovery: WithConn(nil): a Conn is required")
		}
		o.conn = c
		return nil
	}
}

// WithRequireInterface makes NewMDNSDiscovery (and the drop-in's Start)
// fail when no network interface can be used yet, instead of starting and
// waiting for one to come up (the default, for machines that start
// discovery before their network).
func WithRequireInterface(on bool) Option {
	return func(o *options) error { o.requireIface = on; return nil }
}
