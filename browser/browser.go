package browser

import (
	"container/list"
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/chorus-services/discovery/internal/lifecycle"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Browser is a continuous mDNS querier for one service (see the package
// documentation).
type Browser struct {
	cfg    Config
	dec    *mdns.Decoder
	filter *mdns.Filter
	ctr    counters
	disp   *dispatcher

	mu        sync.Mutex // guards everything below
	running   bool       // Run's loop is running
	life      *lifecycle.State
	view      *transport.View // closed when Run returns, or by Close
	cache     *cache
	ifaces    map[int]*ifaceState
	ptrOwned  map[int]map[string]struct{} // TXT RRsets refreshed by the PTR question
	peers     map[peer.ID]*peerState
	peerLRU   list.List // peers not yet established (see establish), least recently refreshed first
	peerProt  list.List // established peers, least recently refreshed first
	dirty     []*peerState
	snap      []peer.AddrInfo
	snapStale bool
	seed      maphash.Seed
	sentHash  [16]uint64
	sentNext  int
	// rxFlushed and rxFresh are the scratch sets of response (received).
	rxFlushed map[string]bool
	rxFresh   map[*entry]bool
}

// New validates a copy of cfg and returns a Browser; Run starts it.
func New(cfg Config) (*Browser, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	b := &Browser{
		cfg:       cfg,
		dec:       mdns.NewDecoder(cfg.Service, 0),
		filter:    mdns.NewFilter(mdns.FilterLabels(cfg.Service)...),
		cache:     newCache(),
		ifaces:    map[int]*ifaceState{},
		ptrOwned:  map[int]map[string]struct{}{},
		peers:     map[peer.ID]*peerState{},
		seed:      maphash.MakeSeed(),
		rxFlushed: map[string]bool{},
		rxFresh:   map[*entry]bool{},
		life:      lifecycle.New(),
	}
	b.disp = newDispatcher(cfg.EventQueue, &b.ctr)
	// The View is taken now, so that nothing received between New and Run
	// is lost (it waits in the View's bounded queue).
	view, err := cfg.Conn.View(transport.ViewConfig{Name: "browser", QueueLen: cfg.ReceiveQueue, Accept: b.prefilter})
	if err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	b.view = view
	return b, nil
}

// Service returns the fully qualified service name browsed.
func (b *Browser) Service() string { return b.cfg.Service }

// Events returns the event channel. It is closed when Run returns (or by
// Close when Run never ran). Events the consumer is too slow for are
// coalesced or dropped (see Stats), never blocking the browser.
func (b *Browser) Events() <-chan Event { return b.disp.out }

// Peers returns the peers currently found, with their addresses.
func (b *Browser) Peers() []peer.AddrInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.snapshot()
	out := make([]peer.AddrInfo, len(s))
	for i, p := range s {
		out[i] = peer.AddrInfo{ID: p.ID, Addrs: slices.Clone(p.Addrs)}
	}
	return out
}

// Stats returns the counters.
func (b *Browser) Stats() Stats {
	s := b.ctr.snapshot()
	b.mu.Lock()
	s.Records, s.Peers, s.Established = len(b.cache.byKey), len(b.peers), b.peerProt.Len()
	if b.view != nil {
		s.QueueFull = b.view.Stats().Dropped
	}
	b.mu.Unlock()
	return s
}

// Run queries and listens until ctx is done or Close is called, on the
// Browser's own View of the Conn (the View is closed on return, the Conn
// is not). It owns every goroutine of the Browser, the event dispatcher
// and the protocol loop, and waits for them. The result is that of every
// Run of this module: nil when Close or ctx stopped it, ErrRunning on a
// second call, ErrClosed after Close, transport.ErrClosed when the Conn
// was closed under it.
func (b *Browser) Run(ctx context.Context) error {
	if err := b.life.Start(ErrRunning, ErrClosed); err != nil {
		return err
	}
	defer b.life.Finish()
	view := b.view
	defer view.Close()
	b.mu.Lock()
	b.running = true
	b.syncIfaces(time.Now())
	b.mu.Unlock()

	dispDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { b.disp.run(dispDone) })
	err := b.loop(ctx, view)
	close(dispDone)
	wg.Wait()
	b.mu.Lock()
	b.running = false
	b.mu.Unlock()
	return err
}

func (b *Browser) loop(ctx context.Context, view *transport.View) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		b.mu.Lock()
		next := b.tick(time.Now())
		b.mu.Unlock()
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return nil
		case <-b.life.Closing():
			return nil
		case p, ok := <-view.Packets():
			if !ok {
				return transport.ErrClosed
			}
			b.mu.Lock()
			b.receive(p, time.Now())
			b.settleDirty(time.Now())
			b.mu.Unlock()
		case ev, ok := <-view.Events():
			if ok {
				b.ifaceEvent(ev)
			}
		case <-timer.C:
		}
	}
}

// tick runs every deadline due at now and returns the next one.
func (b *Browser) tick(now time.Time) time.Time {
	b.runDue(now)
	next := b.runQueries(now)
	b.settleDirty(now)
	if len(b.cache.h) > 0 {
		if d := b.cache.h[0].due(); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	if next.IsZero() {
		next = now.Add(maxInterval)
	}
	return next
}

func (b *Browser) ifaceEvent(ev transport.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.cfg.Logger.Debug("interface event", "kind", ev.Kind.String(), "iface", ev.IfName)
	if ev.Kind == transport.IfaceDown {
		if s := b.ifaces[ev.IfIndex]; s != nil && s.active {
			b.expireIfaceSoon(ev.IfIndex, now)
			s.active = false
		}
	}
	b.syncIfaces(now)
	if s := b.ifaces[ev.IfIndex]; s != nil && s.active && (ev.Kind == transport.IfaceUp || ev.Kind == transport.AddrAdded) {
		b.startSchedule(s, now) // new link or address: browse again (§5.2)
	}
	b.settleDirty(now)
}

// Feed processes one packet as if it had been received at the given time,
// without a Run loop: the replay and benchmark entry point. Records due by
// then expire first. The packet goes through every check (TTL, filter,
// on-link, parse). Feed may also be called while Run runs; events are
// delivered through Events() only while Run runs.
func (b *Browser) Feed(p transport.Packet, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ifaces) == 0 {
		b.syncIfaces(at)
	}
	b.runDue(at)
	if b.prefilter(&p) {
		b.receive(&p, at)
	}
	b.settleDirty(at)
}

// Close stops Run and waits for it; without Run it only closes Events().
// It is idempotent. The Conn stays open: whoever opened it closes it.
func (b *Browser) Close() error {
	if b.life.Close() {
		b.view.Close()
		close(b.disp.out)
	}
	return nil
}

func peerInfo(id peer.ID, addrs []ma.Multiaddr) peer.AddrInfo {
	return peer.AddrInfo{ID: id, Addrs: addrs}
}
