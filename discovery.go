package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/dialer"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/responder"
	"github.com/libp2p/go-libp2p/core/event"
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

	conn  transport.Conn
	udp   *transport.UDP // the Conn we opened (nil with WithConn); Close closes it
	resp  *responder.Responder
	brow  *browser.Browser
	dial  *dialer.Dialer
	ifs   *transport.View // interface events for address following
	sub   event.Subscription
	undo  []func() error                 // what release undoes, in build order
	addrs atomic.Pointer[[]ma.Multiaddr] // announced (before per-interface filtering)

	out   outlets
	conns connTracker

	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	stopParent func() bool // unregisters the parent context's end

	mu      sync.Mutex
	metrics DiscoveryMetrics

	closeOnce sync.Once
	closeErr  error
	closing   chan struct{} // closed when shutdown starts
}

// DiscoveryMetrics counts peers found and connection attempts, plus the
// counters of every layer.
type DiscoveryMetrics struct {
	PeersDiscovered    int       `json:"peers_discovered"`    // peers found (first sighting of an ID)
	ConnectionsSuccess int       `json:"connections_success"` // successful connection attempts
	ConnectionsFailed  int       `json:"connections_failed"`  // failed connection attempts
	LastDiscovery      time.Time `json:"last_discovery"`      // time of the last Found or Updated

	PeersLost  int `json:"peers_lost"`  // peers whose records all expired or were withdrawn
	PeersKnown int `json:"peers_known"` // peers currently known
	// PeersChanDropped, EventsDropped and NotifyDropped count deliveries
	// lost because more distinct peers were pending for that consumer than
	// the peer cap (a slow consumer is only delayed: see WithPeersChanSize).
	PeersChanDropped uint64 `json:"peers_chan_dropped"`
	EventsDropped    uint64 `json:"events_dropped"`
	NotifyDropped    uint64 `json:"notify_dropped"`

	Responder responder.Stats `json:"responder"`
	Browser   browser.Stats   `json:"browser"`
	Dialer    dialer.Stats    `json:"dialer"`
	// Transport counts the sockets' drops, errors and reopens (zero with
	// an injected Conn).
	Transport transport.Stats `json:"transport"`
}

// The facade's queue sizes.
const (
	// pendingMax bounds each consumer's pending peers (the outboxes): the
	// browser's peer cap, since a consumer cannot have more distinct peers
	// pending than discovery knows, plus as many again being lost.
	pendingMax = 2 * browser.DefaultMaxPeers
	// subscriberChan is the channel capacity of a FindPeers call.
	subscriberChan = 64
)

// NewMDNSDiscovery starts mDNS discovery for h under serviceTag (empty:
// DefaultServiceTag): it announces h's addresses, browses for other peers of
// the tag and, unless WithAutoConnect(false), connects to them. It stops
// when ctx is done or Close is called. With no network interface up yet it
// still starts, and begins once one comes up (WithRequireInterface makes
// that an error).
func NewMDNSDiscovery(ctx context.Context, h host.Host, serviceTag string, opts ...Option) (*MDNSDiscovery, error) {
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

// start opens the Conn, builds the layers on it and runs them.
func start(ctx context.Context, h host.Host, tag string, o options) (*MDNSDiscovery, error) {
	if h == nil {
		return nil, errors.New("discovery: nil host")
	}
	service, err := mdns.ServiceName(tag)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	log := o.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &MDNSDiscovery{host: h, tag: tag, service: service, opts: o, log: log.With("component", "discovery"),
		closing: make(chan struct{})}
	if err := d.openConn(log); err != nil {
		return nil, err
	}
	if err := d.build(log); err != nil {
		d.release()
		return nil, err
	}
	d.run(ctx)
	d.log.Info("started", "service", service, "peer", h.ID(), "addrs", len(*d.addrs.Load()), "peer_name", d.resp.PeerName())
	return d, nil
}

// openConn takes the injected Conn, or opens the UDP sockets (which follow
// the interfaces themselves).
func (d *MDNSDiscovery) openConn(log *slog.Logger) error {
	if d.opts.conn != nil {
		d.conn = d.opts.conn
		return nil
	}
	o := d.opts
	udp, err := transport.Listen(transport.Config{Interfaces: o.ifaces, IncludeLoopback: o.loopback,
		DisableIPv4: o.noV4, DisableIPv6: o.noV6, RequireInterface: o.requireIface, Logger: log})
	if err != nil {
		return fmt.Errorf("discovery: mDNS sockets: %w", err)
	}
	for _, p := range udp.Problems() {
		d.log.Warn("interface problem", "problem", p.String())
	}
	d.conn, d.udp = udp, udp
	d.undo = append(d.undo, udp.Close)
	return nil
}

// build makes the responder, the browser and the dialer, and the
// subscriptions discovery follows. Nothing runs yet.
func (d *MDNSDiscovery) build(log *slog.Logger) (err error) {
	o, h := d.opts, d.host
	addrs, err := announceAddrs(h)
	if err != nil {
		return err
	}
	d.addrs.Store(&addrs)
	if d.resp, err = responder.New(responder.Config{Conn: d.conn, Service: d.service, PeerID: h.ID(), Addrs: addrs,
		TTLHost: o.ttlHost, TTLOther: o.ttlOther, Logger: log}); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	d.undo = append(d.undo, d.resp.Close)
	if d.brow, err = browser.New(browser.Config{Conn: d.conn, Service: d.service, Self: h.ID(), AddrFilter: o.addrFilter,
		IgnoreProbes: !o.probeHints, Logger: log}); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	d.undo = append(d.undo, d.brow.Close)
	if o.autoConnect {
		if d.dial, err = dialer.New(dialer.Config{Host: h, Timeout: o.dialTimeout, Concurrency: o.dialConcurrency,
			Logger: log}); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
		d.undo = append(d.undo, d.dial.Close)
	}
	if d.ifs, err = d.conn.View(transport.ViewConfig{Name: "addresses", Accept: transport.NoPackets}); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	d.undo = append(d.undo, d.ifs.Close)
	if d.sub, err = h.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated)); err != nil {
		return fmt.Errorf("discovery: subscribe to address updates: %w", err)
	}
	d.undo = append(d.undo, d.sub.Close)
	d.out.init(o)
	if o.registerer != nil {
		if err := o.registerer.Register(newCollector(d)); err != nil {
			return fmt.Errorf("discovery: prometheus: %w", err)
		}
	}
	return nil
}

// release undoes a build that failed half-way, the last step first: the
// layers built so far hold Views and subscriptions, and the Conn, when
// ours, is closed.
func (d *MDNSDiscovery) release() {
	for _, c := range slices.Backward(d.undo) {
		_ = c()
	}
}

// run starts every goroutine of discovery; the end of ctx ends discovery
// as Close does.
func (d *MDNSDiscovery) run(ctx context.Context) {
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.watchConns() // before the goroutines that report connections
	d.goRun("responder", d.resp.Run)
	d.goRun("browser", d.brow.Run)
	if d.dial != nil {
		d.goRun("dialer", d.dial.Run)
		d.goRun("dial events", d.dialEvents)
	}
	d.goRun("browser events", d.browserEvents)
	d.goRun("address following", d.followAddrs)
	d.out.start(d)
	d.stopParent = context.AfterFunc(ctx, func() { d.closeOnce.Do(d.shutdown) })
}

func (d *MDNSDiscovery) goRun(name string, run func(context.Context) error) {
	d.wg.Go(func() {
		if err := run(d.ctx); err != nil && d.ctx.Err() == nil {
			d.log.Warn("stopped with an error", "part", name, "err", err)
		}
	})
}

// Addrs returns the addresses announced for our peer (each interface
// carries the ones reachable on it).
func (d *MDNSDiscovery) Addrs() []ma.Multiaddr {
	return append([]ma.Multiaddr(nil), *d.addrs.Load()...)
}

// PeersChan delivers every peer found, and again when its addresses change,
// starting (at the first call) with the peers already known. A reader that
// falls behind delays deliveries but loses none: a peer waiting to be
// delivered carries its latest addresses when its turn comes. It is closed
// by Close.
func (d *MDNSDiscovery) PeersChan() <-chan peer.AddrInfo { return d.out.peersChan(d.brow.Peers) }

// Peers returns the peers currently known.
func (d *MDNSDiscovery) Peers() []peer.AddrInfo { return d.brow.Peers() }

// PeerName returns the random instance name our peer is announced under.
func (d *MDNSDiscovery) PeerName() string { return d.resp.PeerName() }

// ServiceName returns the DNS-SD service name of the tag (e.g.
// "_p2p._udp.local.").
func (d *MDNSDiscovery) ServiceName() string { return d.service }

// Metrics returns a snapshot of the discovery metrics.
func (d *MDNSDiscovery) Metrics() DiscoveryMetrics {
	d.mu.Lock()
	m := d.metrics
	d.mu.Unlock()
	m.PeersChanDropped, m.EventsDropped, m.NotifyDropped = d.out.drops()
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
// goroutine discovery started, waits for them (a Notifee call in progress
// excepted: see NewMdnsService), closes the sockets it opened and closes
// PeersChan and Events. It is safe to call more than once.
func (d *MDNSDiscovery) Close() error {
	d.closeOnce.Do(d.shutdown)
	return d.closeErr
}

func (d *MDNSDiscovery) shutdown() {
	close(d.closing)
	d.stopParent()
	d.out.stopSubscribers()
	d.closeErr = d.resp.Close() // goodbyes first, while the sockets are open
	_ = d.brow.Close()
	if d.dial != nil {
		_ = d.dial.Close()
	}
	d.cancel()
	d.wg.Wait()
	d.unwatchConns()
	d.out.close()
	_ = d.ifs.Close()
	_ = d.sub.Close()
	if d.udp != nil {
		_ = d.udp.Close() // we opened it: we close it
	}
}
