package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/dialer"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/responder"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// MDNSDiscovery announces a libp2p host on the local network, finds the
// other peers of its service tag and (by default) connects to them.
type MDNSDiscovery struct {
	host    host.Host
	tag     string
	service string
	opts    options
	log     *slog.Logger

	resp  *responder.Responder
	brow  *browser.Browser
	dial  *dialer.Dialer
	watch *transport.Watcher
	udp   *transport.UDP // nil with WithConn

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	peersCh chan peer.AddrInfo
	subs    subscribers
	evCh    chan Event
	evDrops atomic.Uint64
	addrs   atomic.Pointer[[]ma.Multiaddr] // announced (before per-interface filtering)

	mu        sync.Mutex
	metrics   DiscoveryMetrics
	chanDrops atomic.Uint64

	closeOnce sync.Once
	closeErr  error
	closing   chan struct{} // closed when shutdown starts
	parentEnd chan struct{} // closed when the parent-context watcher exits
}

// DiscoveryMetrics counts peers found and connection attempts, plus the
// counters of every layer.
type DiscoveryMetrics struct {
	PeersDiscovered    int       // peers found (first sighting of an ID)
	ConnectionsSuccess int       // successful connection attempts
	ConnectionsFailed  int       // failed connection attempts
	LastDiscovery      time.Time // time of the last Found or Updated

	PeersLost        int    // peers whose records all expired or were withdrawn
	PeersKnown       int    // peers currently known
	PeersChanDropped uint64 // peers not delivered because PeersChan was full
	EventsDropped    uint64 // events not delivered because Events was full

	Responder responder.Stats
	Browser   browser.Stats
	Dialer    dialer.Stats
	// Transport counts the sockets' drops, errors and reopens (zero with
	// an injected Conn).
	Transport transport.Stats
}

// NewMDNSDiscovery starts mDNS discovery for h under serviceTag (empty:
// DefaultServiceTag): it announces h's addresses, browses for other peers of
// the tag and, unless WithAutoConnect(false), connects to them. It stops
// when ctx is done or Close is called.
func NewMDNSDiscovery(ctx context.Context, h host.Host, serviceTag string, opts ...Option) (*MDNSDiscovery, error) {
	if h == nil {
		return nil, errors.New("discovery: nil host")
	}
	if serviceTag == "" {
		serviceTag = DefaultServiceTag
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return start(ctx, h, serviceTag, o)
}

func start(ctx context.Context, h host.Host, tag string, o options) (_ *MDNSDiscovery, err error) {
	service, err := mdns.ServiceName(tag)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	log := o.logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &MDNSDiscovery{host: h, tag: tag, service: service, opts: o, log: log, peersCh: make(chan peer.AddrInfo, o.peersChanSize),
		closing: make(chan struct{}), parentEnd: make(chan struct{})}
	if o.eventsSize > 0 {
		d.evCh = make(chan Event, o.eventsSize)
	}

	conn, events := o.conn, o.events
	watchIfaces := false
	if conn == nil {
		udp, err := transport.Listen(transport.Config{Interfaces: o.ifaces, IncludeLoopback: o.loopback, DisableIPv4: o.noV4, DisableIPv6: o.noV6, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("discovery: mDNS sockets: %w", err)
		}
		for _, p := range udp.Problems() {
			log.Warn("discovery: interface problem", "problem", p.String())
		}
		conn, d.udp = udp, udp
		watchIfaces = true // created last: a Watcher holds resources until it runs
	}
	kids := transport.Split(conn, 2, 256)
	defer func() {
		if err != nil {
			kids[0].Close()
			kids[1].Close()
		}
	}()
	respEv, browEv, addrEv := fanOut(events != nil || watchIfaces)

	addrs, err := announceAddrs(h)
	if err != nil {
		return nil, err
	}
	d.addrs.Store(&addrs)
	if d.resp, err = responder.New(responder.Config{Conn: kids[0], Service: service, PeerID: h.ID(), Addrs: addrs,
		Events: respEv.ch, TTLHost: o.ttlHost, TTLOther: o.ttlOther, Logger: log}); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if d.brow, err = browser.New(browser.Config{Conn: kids[1], Service: service, Self: h.ID(), Events: browEv.ch, AddrFilter: o.addrFilter,
		ProbeHints: o.probeHints, Logger: log}); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if o.autoConnect {
		if d.dial, err = dialer.New(dialer.Config{Host: h, Timeout: o.dialTimeout, Concurrency: o.dialConcurrency, Logger: log}); err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
	}
	sub, err := subscribeAddrs(h)
	if err != nil {
		return nil, err
	}
	if o.registerer != nil {
		if err := o.registerer.Register(newCollector(d)); err != nil {
			sub.Close()
			return nil, fmt.Errorf("discovery: prometheus: %w", err)
		}
	}
	if watchIfaces {
		w, werr := transport.NewWatcher(transport.WatcherConfig{Interfaces: o.ifaces, IncludeLoopback: o.loopback, Logger: log})
		if werr != nil {
			log.Warn("discovery: no interface watcher; interface changes will not be followed", "err", werr)
		} else {
			d.watch, events = w, w.Events()
		}
	}

	d.ctx, d.cancel = context.WithCancel(ctx)
	d.goRun("responder", d.resp.Run)
	d.goRun("browser", d.brow.Run)
	if d.dial != nil {
		d.goRun("dialer", d.dial.Run)
		d.goRun("dial events", d.dialEvents)
	}
	if d.watch != nil {
		d.goRun("watcher", d.watch.Run)
	}
	if events != nil {
		d.goRun("interface events", func(ctx context.Context) error { return pump(ctx, events, respEv, browEv, addrEv) })
	}
	d.goRun("browser events", d.browserEvents)
	d.goRun("address updates", func(ctx context.Context) error { return d.followAddrs(ctx, sub, addrEv.ch) })
	go func() { // the parent context ends discovery like Close does
		defer close(d.parentEnd)
		select {
		case <-ctx.Done():
			d.closeOnce.Do(d.shutdown)
		case <-d.closing:
		}
	}()
	log.Info("discovery: started", "service", service, "peer", h.ID(), "addrs", len(addrs), "peer_name", d.resp.PeerName())
	return d, nil
}

func (d *MDNSDiscovery) goRun(name string, run func(context.Context) error) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := run(d.ctx); err != nil && d.ctx.Err() == nil {
			d.log.Warn("discovery: stopped with an error", "component", name, "err", err)
		}
	}()
}

// browserEvents turns browser events into PeersChan deliveries, dial
// requests, subscriber notifications and metrics.
func (d *MDNSDiscovery) browserEvents(ctx context.Context) error {
	for ev := range d.brow.Events() {
		switch ev.Kind {
		case browser.Found, browser.Updated:
			d.mu.Lock()
			if ev.Kind == browser.Found {
				d.metrics.PeersDiscovered++
			}
			d.metrics.LastDiscovery = ev.Time
			d.mu.Unlock()
			ai := peer.AddrInfo{ID: ev.Peer.ID, Addrs: append(ev.Peer.Addrs[:0:0], ev.Peer.Addrs...)}
			select {
			case d.peersCh <- ai:
			default:
				d.chanDrops.Add(1)
				d.log.Debug("discovery: PeersChan full, peer not delivered (still connected)", "peer", ai.ID)
			}
			d.subs.send(ai)
			kind := PeerUpdated
			if ev.Kind == browser.Found {
				kind = PeerFound
			}
			d.emit(Event{Kind: kind, Peer: ai, Flavour: ev.Flavour.String(), Time: ev.Time})
			if d.dial != nil {
				d.dial.Found(ai, ev.TTL, true) // Found and Updated are both fresh announcements
			}
		case browser.Probing:
			ai := peer.AddrInfo{ID: ev.Peer.ID, Addrs: append(ev.Peer.Addrs[:0:0], ev.Peer.Addrs...)}
			d.emit(Event{Kind: PeerProbing, Peer: ai, Flavour: ev.Flavour.String(), Time: ev.Time})
			if d.dial != nil {
				// Not fresh: a peer probes three times, and a repeated
				// probe must not reset a dial backoff.
				d.dial.Found(ai, ev.TTL, false)
			}
		case browser.Lost:
			d.mu.Lock()
			d.metrics.PeersLost++
			d.mu.Unlock()
			d.emit(Event{Kind: PeerLost, Peer: peer.AddrInfo{ID: ev.Peer.ID}, Time: ev.Time})
			if d.dial != nil {
				d.dial.Lost(ev.Peer.ID)
			}
		}
	}
	return nil
}

func (d *MDNSDiscovery) dialEvents(ctx context.Context) error {
	for ev := range d.dial.Events() {
		d.mu.Lock()
		switch ev.Kind {
		case dialer.Connected:
			d.metrics.ConnectionsSuccess++
		case dialer.DialFailed:
			d.metrics.ConnectionsFailed++
		}
		d.mu.Unlock()
		ai := peer.AddrInfo{ID: ev.Peer, Addrs: ev.Addrs}
		switch ev.Kind {
		case dialer.Connected:
			d.log.Info("discovery: connected", "peer", ev.Peer, "in", ev.Duration)
			d.emit(Event{Kind: Connected, Peer: ai, Time: ev.Time})
		case dialer.DialFailed:
			d.log.Info("discovery: connection failed", "peer", ev.Peer, "reason", ev.Reason, "err", ev.Err)
			d.emit(Event{Kind: DialFailed, Peer: ai, Err: ev.Err, Reason: string(ev.Reason), Time: ev.Time})
		}
	}
	return nil
}

// Addrs returns the addresses announced for our peer (each interface
// carries the ones reachable on it).
func (d *MDNSDiscovery) Addrs() []ma.Multiaddr {
	return append([]ma.Multiaddr(nil), *d.addrs.Load()...)
}

// PeersChan delivers every peer found or updated. It is bounded (see
// WithPeersChanSize): a full channel drops the delivery, never blocks
// discovery. It is closed by Close.
func (d *MDNSDiscovery) PeersChan() <-chan peer.AddrInfo { return d.peersCh }

// Peers returns the peers currently known.
func (d *MDNSDiscovery) Peers() []peer.AddrInfo { return d.brow.Peers() }

// PeerName returns the random instance name our peer is announced under.
func (d *MDNSDiscovery) PeerName() string { return d.resp.PeerName() }

// ServiceName returns the DNS-SD service name of the tag.
func (d *MDNSDiscovery) ServiceName() string { return d.service }

// Metrics returns a snapshot of the discovery metrics.
func (d *MDNSDiscovery) Metrics() DiscoveryMetrics {
	d.mu.Lock()
	m := d.metrics
	d.mu.Unlock()
	m.PeersChanDropped = d.chanDrops.Load()
	m.EventsDropped = d.evDrops.Load()
	m.Responder = d.resp.Stats()
	m.Browser = d.brow.Stats()
	m.PeersKnown = m.Browser.Peers
	if d.dial != nil {
		m.Dialer = d.dial.Stats()
	}
	if d.udp != nil {
		m.Transport = d.udp.Stats()
	}
	return m
}

// Close sends goodbyes for our records (RFC 6762 §10.1), stops every
// goroutine discovery started, waits for them and closes PeersChan. It is
// safe to call more than once.
func (d *MDNSDiscovery) Close() error {
	d.closeOnce.Do(d.shutdown)
	<-d.parentEnd
	return d.closeErr
}

func (d *MDNSDiscovery) shutdown() {
	close(d.closing)
	d.subs.stop()
	d.closeErr = d.resp.Close() // goodbyes first, while the sockets are open
	_ = d.brow.Close()
	if d.dial != nil {
		_ = d.dial.Close()
	}
	d.cancel()
	d.wg.Wait()
	d.subs.closeAll()
	close(d.peersCh)
	if d.evCh != nil {
		close(d.evCh)
	}
}
