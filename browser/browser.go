package browser

import (
	"container/list"
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Errors of Run.
var (
	ErrClosed  = errors.New("browser: closed")
	ErrRunning = errors.New("browser: Run called twice")
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
	running   bool
	closed    bool
	started   bool
	cancel    context.CancelFunc
	done      chan struct{} // closed when Run returns
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
}

// New validates a copy of cfg and returns a Browser; Run starts it.
func New(cfg Config) (*Browser, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Browser{
		cfg:      cfg,
		dec:      mdns.NewDecoder(cfg.Service, 0),
		filter:   mdns.NewFilter(mdns.FilterLabels(cfg.Service)...),
		cache:    newCache(),
		ifaces:   map[int]*ifaceState{},
		ptrOwned: map[int]map[string]struct{}{},
		peers:    map[peer.ID]*peerState{},
		seed:     maphash.MakeSeed(),
		done:     make(chan struct{}),
	}
	b.disp = newDispatcher(cfg.EventQueue, &b.ctr)
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
	b.mu.Unlock()
	return s
}

type rxPacket struct {
	p  transport.Packet
	at time.Time
}

// Run queries and listens until ctx is done or Close is called. It owns
// every goroutine of the Browser: one read loop, one event dispatcher and
// the protocol loop (timers, interface events, packets), and waits for them
// before returning. A transport.Conn has a single reader and no read
// deadline, so Run closes Config.Conn when it returns to stop the read loop;
// give the Browser a Conn of its own. Run returns nil after ctx or Close,
// and transport.ErrClosed when the Conn was closed under it.
func (b *Browser) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if b.started {
		b.mu.Unlock()
		return ErrRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	b.started, b.running, b.cancel = true, true, cancel
	b.syncIfaces(time.Now())
	b.mu.Unlock()
	defer close(b.done)
	defer cancel()

	rx := make(chan rxPacket, b.cfg.ReceiveQueue)
	readDone := make(chan struct{})
	dispDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { b.readLoop(rx, readDone) })
	wg.Go(func() { b.disp.run(dispDone) })

	err := b.loop(ctx, rx, readDone)

	b.cfg.Conn.Close()
	close(dispDone)
	wg.Wait()
	b.mu.Lock()
	b.running = false
	b.mu.Unlock()
	return err
}

func (b *Browser) loop(ctx context.Context, rx chan rxPacket, readDone chan struct{}) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	events := b.cfg.Events
	for {
		b.mu.Lock()
		next := b.tick(time.Now())
		b.mu.Unlock()
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return nil
		case <-readDone:
			if ctx.Err() != nil {
				return nil
			}
			return transport.ErrClosed
		case r := <-rx:
			b.mu.Lock()
			b.receive(&r.p, r.at)
			b.settleDirty(time.Now())
			b.mu.Unlock()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			b.ifaceEvent(ev)
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

// readLoop reads datagrams, drops what the stateless checks reject and
// queues the rest without blocking: a full queue drops and counts.
func (b *Browser) readLoop(rx chan<- rxPacket, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, mdns.MaxPacketSize+1)
	for {
		var p transport.Packet
		if err := b.cfg.Conn.ReadPacket(buf, &p); err != nil {
			if errors.Is(err, transport.ErrClosed) {
				return
			}
			b.cfg.Logger.Debug("read", "err", err)
			b.mu.Lock()
			closed := !b.running
			b.mu.Unlock()
			if closed {
				return
			}
			continue
		}
		if !b.prefilter(&p) {
			continue
		}
		p.Data = slices.Clone(p.Data)
		select {
		case rx <- rxPacket{p: p, at: time.Now()}:
		default:
			b.ctr.queueFull.Add(1)
		}
	}
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
// It is idempotent. The Conn is closed by Run on its way out.
func (b *Browser) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		if b.started {
			<-b.done
		}
		return nil
	}
	b.closed = true
	started, cancel := b.started, b.cancel
	b.mu.Unlock()
	if !started {
		close(b.disp.out)
		return nil
	}
	cancel()
	<-b.done
	return nil
}

func peerInfo(id peer.ID, addrs []ma.Multiaddr) peer.AddrInfo {
	return peer.AddrInfo{ID: id, Addrs: addrs}
}
