package dialer

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Errors of Run (see Run for the contract every Run of this module
// shares).
var (
	ErrClosed  = errors.New("dialer: closed")
	ErrRunning = errors.New("dialer: Run already called")
)

// Dialer connects a libp2p host to discovered peers. See the package
// documentation for the rules it follows.
type Dialer struct {
	cfg     Config
	h       host.Host
	self    peer.ID
	log     *slog.Logger
	connect func(context.Context, peer.AddrInfo) error // h.Connect; tests wrap it

	mu       sync.Mutex
	peers    map[peer.ID]*peerState
	lru      *list.List // of *peerState, front = most recently announced
	queue    []peer.ID  // FIFO of peers with queued set; at most one entry each
	inflight map[peer.ID]struct{}
	ctr      counters
	events   chan Event
	closed   bool
	running  bool
	// netChanged is when NetworkChanged was last called: a disconnect
	// soon after it is the network's doing, and redialled at once.
	netChanged time.Time

	wake     chan struct{} // cap 1: the queue is not empty
	resched  chan struct{} // cap 1: a retry time changed
	stopCtx  context.Context
	stop     context.CancelFunc
	runDone  chan struct{}
	notifiee *network.NotifyBundle
}

// peerState is what the Dialer knows about one announced peer.
type peerState struct {
	id      peer.ID
	elem    *list.Element
	addrs   []ma.Multiaddr // sorted, deduplicated
	key     string         // addrs joined, to detect a changed set
	queued  bool
	armed   bool      // an automatic attempt is due at retryAt
	retryAt time.Time // no attempt before (backoff or redial wait)

	failures     int       // consecutive failures
	identityFail bool      // the last failure was an identity mismatch
	lastAttempt  time.Time // start of the last failed attempt
	redo         bool      // the address set changed during the attempt

	connected      bool      // seen connected (dialled, inbound, or at a Found)
	disconnectedAt time.Time // non-zero: was connected, now is not
	tagged         bool      // Config.Tag is set on the peer in the connection manager
}

// New validates and copies cfg.
func New(cfg Config) (*Dialer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	d := &Dialer{
		cfg:      cfg,
		h:        cfg.Host,
		self:     cfg.Host.ID(),
		log:      cfg.Logger,
		connect:  cfg.Host.Connect,
		peers:    make(map[peer.ID]*peerState),
		lru:      list.New(),
		inflight: make(map[peer.ID]struct{}),
		events:   make(chan Event, cfg.EventBuffer),
		wake:     make(chan struct{}, 1),
		resched:  make(chan struct{}, 1),
		runDone:  make(chan struct{}),
	}
	d.ctr.failures = make(map[Reason]uint64)
	d.stopCtx, d.stop = context.WithCancel(context.Background())
	d.notifiee = &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) { d.onConnected(c.RemotePeer()) },
		DisconnectedF: func(n network.Network, c network.Conn) {
			if p := c.RemotePeer(); n.Connectedness(p) != network.Connected {
				d.onDisconnected(p)
			}
		},
	}
	return d, nil
}

// Run starts Config.Concurrency workers and the retry scheduler and blocks
// until ctx is done or Close is called; it returns only when every goroutine
// it started has finished. Like every Run of this module it returns nil
// once stopped by Close or by the end of ctx, ErrRunning when already
// running and ErrClosed after Close. Announcements made before Run are
// queued.
func (d *Dialer) Run(ctx context.Context) error {
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return ErrClosed
	case d.running:
		d.mu.Unlock()
		return ErrRunning
	}
	d.running = true
	d.mu.Unlock()
	defer close(d.runDone)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(d.stopCtx, cancel)()

	d.h.Network().Notify(d.notifiee)
	defer d.h.Network().StopNotify(d.notifiee)

	var wg sync.WaitGroup
	for range d.cfg.Concurrency {
		wg.Go(func() { d.worker(ctx) })
	}
	d.schedule(ctx)
	wg.Wait()
	return nil
}

// Close stops Run, waits for its goroutines and closes the Events channel.
// It is idempotent and always returns nil.
func (d *Dialer) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		<-d.waitRun()
		return nil
	}
	d.closed = true
	close(d.events)
	d.mu.Unlock()
	d.stop()
	<-d.waitRun()
	return nil
}

// waitRun returns a channel closed when Run has returned or was never
// started (it can no longer start once closed is set).
func (d *Dialer) waitRun() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running {
		c := make(chan struct{})
		close(c)
		return c
	}
	return d.runDone
}

// Events returns the bounded event channel; it is closed by Close.
func (d *Dialer) Events() <-chan Event { return d.events }

// Stats returns a snapshot of the counters and gauges.
func (d *Dialer) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.ctr.snapshot()
	s.Tracked, s.InFlight = len(d.peers), len(d.inflight)
	for _, st := range d.peers {
		if st.queued {
			s.Queued++
		}
	}
	return s
}

// Found records an announcement of ai, whose records have the given mDNS
// TTL (non-positive: DefaultAddrTTL), and queues an attempt if the rules
// allow one. fresh marks a new announcement (a new or changed service
// instance) as opposed to a repeated sighting of a known one. Found never
// blocks on the network and is safe for concurrent use.
func (d *Dialer) Found(ai peer.AddrInfo, ttl time.Duration, fresh bool) {
	if ai.ID == d.self {
		d.mu.Lock()
		d.ctr.skippedSelf++
		d.skip(ai.ID, ReasonSelf)
		d.mu.Unlock()
		return
	}
	if ai.ID.Validate() != nil {
		d.log.Debug("ignoring announcement with an invalid peer ID")
		return
	}
	addrs := normalize(ai.Addrs)
	if ttl <= 0 {
		ttl = DefaultAddrTTL
	}
	connected := d.h.Network().Connectedness(ai.ID) == network.Connected
	now := time.Now()

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	st, isNew := d.track(ai.ID)
	if st == nil {
		d.ctr.evicted++
		d.emit(Event{Kind: Evicted, Peer: ai.ID, Reason: ReasonFull})
		return
	}
	changed := d.learn(st, ai.ID, addrs, ttl, isNew, fresh)
	if reason, skip := d.wait(st, ai.ID, connected, changed, isNew, fresh, now); skip {
		d.skip(ai.ID, reason)
		return
	}
	d.enqueue(st)
}

// learn records the announced addresses of a tracked peer in the
// peerstore (withdrawing the ones no longer announced) and resets its
// backoff as the announcement allows. It reports whether the address set
// changed. Called with d.mu held.
func (d *Dialer) learn(st *peerState, id peer.ID, addrs []ma.Multiaddr, ttl time.Duration, isNew, fresh bool) (changed bool) {
	key := addrKey(addrs)
	changed = !isNew && key != st.key
	ps := d.h.Peerstore()
	if changed {
		ps.SetAddrs(id, removed(st.addrs, addrs), 0)
	}
	ps.AddAddrs(id, addrs, ttl)
	st.addrs, st.key = addrs, key
	switch {
	case changed: // new addresses were never tried: no backoff
		st.failures, st.identityFail, st.retryAt, st.armed = 0, false, time.Time{}, false
	case fresh && !st.identityFail && st.failures > 0:
		// A fresh announcement restarts the backoff from BackoffMin after
		// the last attempt, so announcement floods cannot drive dials.
		st.failures, st.retryAt = 0, st.lastAttempt.Add(d.cfg.BackoffMin)
		d.signal(d.resched)
	}
	return changed
}

// wait says whether an announced peer must not be dialled now, and why:
// connected, an attempt queued or in flight, the redial wait after a
// disconnect, or its backoff. Called with d.mu held.
func (d *Dialer) wait(st *peerState, id peer.ID, connected, changed, isNew, fresh bool, now time.Time) (Reason, bool) {
	_, inflight := d.inflight[id]
	switch {
	case connected:
		st.connected, st.disconnectedAt, st.armed = true, time.Time{}, false
		d.tag(st)
		d.ctr.skippedConnected++
		return ReasonConnected, true
	case st.queued || inflight:
		if (changed || isNew) && inflight { // isNew: Lost, then Found again
			st.redo = true // the attempt may have read the old addresses
		}
		d.ctr.skippedInFlight++
		return ReasonInFlight, true
	}
	if st.connected { // the disconnect notification was missed
		st.connected = false
		st.disconnectedAt = now
	}
	if !st.disconnectedAt.IsZero() {
		if !fresh && !changed {
			d.ctr.skippedRedial++
			return ReasonRedialWait, true
		}
		// New addresses (a network change: a link flapped, an address
		// went away and took the connection with it) are dialled at once;
		// the wait only spares a peer that dropped us, reachable as before.
		if due := st.disconnectedAt.Add(d.cfg.RedialAfterDisconnect); now.Before(due) && !changed {
			st.retryAt, st.armed = due, true
			d.signal(d.resched)
			d.ctr.skippedRedial++
			return ReasonRedialWait, true
		}
	}
	if st.identityFail || now.Before(st.retryAt) {
		d.ctr.skippedBackoff++
		return ReasonBackoff, true
	}
	return "", false
}

// Lost forgets a peer: its announced addresses are removed from the
// peerstore, its tag is removed and no further attempt is made. An attempt
// in flight is not interrupted.
func (d *Dialer) Lost(id peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.peers[id]
	if d.closed || st == nil {
		return
	}
	d.h.Peerstore().SetAddrs(id, st.addrs, 0)
	d.forget(st)
}

// forget drops st from the state map, the LRU, the queue and the connection
// manager.
func (d *Dialer) forget(st *peerState) {
	delete(d.peers, st.id)
	d.lru.Remove(st.elem)
	if st.queued {
		d.queue = slices.DeleteFunc(d.queue, func(id peer.ID) bool { return id == st.id })
	}
	if st.tagged {
		d.h.ConnManager().UntagPeer(st.id, d.cfg.Tag)
	}
}

// tag sets Config.Tag on a connected peer. Peers are tagged only once
// connected: go-libp2p's connection manager keeps an entry for every peer
// tagged while unconnected until it next trims, which it does only above
// its high-water mark, so tagging every announced peer let a flood of
// fake peers grow its memory without bound (issue #8). d.mu is held.
func (d *Dialer) tag(st *peerState) {
	if d.cfg.Tag != "" && !st.tagged {
		d.h.ConnManager().TagPeer(st.id, d.cfg.Tag, d.cfg.TagWeight)
		st.tagged = true
	}
}

// track returns the state of id, creating it (and evicting the least
// recently announced idle peer if MaxPeers is reached). It returns nil if
// every tracked peer is busy.
func (d *Dialer) track(id peer.ID) (st *peerState, isNew bool) {
	if st := d.peers[id]; st != nil {
		d.lru.MoveToFront(st.elem)
		return st, false
	}
	if len(d.peers) >= d.cfg.MaxPeers {
		for e := d.lru.Back(); e != nil; e = e.Prev() {
			old := e.Value.(*peerState)
			if _, busy := d.inflight[old.id]; busy || old.queued {
				continue
			}
			d.forget(old)
			d.ctr.evicted++
			d.emit(Event{Kind: Evicted, Peer: old.id})
			d.log.Debug("evicted peer", "peer", old.id)
			break
		}
		if len(d.peers) >= d.cfg.MaxPeers {
			return nil, false
		}
	}
	st = &peerState{id: id}
	st.elem = d.lru.PushFront(st)
	d.peers[id] = st
	return st, true
}

func (d *Dialer) enqueue(st *peerState) {
	st.queued, st.armed, st.disconnectedAt = true, false, time.Time{}
	d.queue = append(d.queue, st.id)
	d.signal(d.wake)
}

func (d *Dialer) signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// skip reports an announcement that caused no attempt. d.mu is held.
func (d *Dialer) skip(id peer.ID, r Reason) {
	d.log.Debug("skipped peer", "peer", id, "reason", r)
	d.emit(Event{Kind: Skipped, Peer: id, Reason: r})
}

// emit delivers ev without blocking. d.mu is held.
func (d *Dialer) emit(ev Event) {
	if d.closed {
		return
	}
	ev.Time = time.Now()
	select {
	case d.events <- ev:
	default:
		d.ctr.eventsDropped++
	}
}

func (d *Dialer) onConnected(id peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.peers[id]; st != nil {
		st.connected, st.disconnectedAt, st.armed = true, time.Time{}, false
		st.failures, st.identityFail = 0, false
		d.tag(st)
	}
}

func (d *Dialer) onDisconnected(id peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.peers[id]
	if st == nil || !st.connected {
		return
	}
	now := time.Now()
	st.connected, st.disconnectedAt, st.armed = false, now, false
	if !d.closed && !d.netChanged.IsZero() && now.Sub(d.netChanged) < netChangeWindow {
		d.redialNow(st) // lost to the network change, not dropped by the peer
	}
}

// netChangeWindow is how long after NetworkChanged a disconnect counts as
// the network's doing: a connection over an address that went away dies
// when its next keepalive or write fails, some seconds later.
const netChangeWindow = 30 * time.Second

// NetworkChanged tells the Dialer that our interfaces or addresses changed
// (a link went down and up, an address came or went): the connections
// over the old paths may be dead or about to die. Every announced peer
// not connected is dialled again at once, and so is every one whose
// connection drops within netChangeWindow, without waiting for
// RedialAfterDisconnect or a new announcement. Safe for concurrent use.
func (d *Dialer) NetworkChanged() {
	now := time.Now()
	connected := map[peer.ID]bool{}
	for _, id := range d.h.Network().Peers() {
		connected[id] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.netChanged = now
	for id, st := range d.peers {
		if _, inflight := d.inflight[id]; connected[id] || st.queued || inflight || st.identityFail {
			continue
		}
		d.redialNow(st)
	}
}

// redialNow queues st with its backoff and redial wait cleared. d.mu is
// held.
func (d *Dialer) redialNow(st *peerState) {
	st.failures, st.retryAt = 0, time.Time{}
	if !st.queued {
		d.enqueue(st)
	}
}

func normalize(in []ma.Multiaddr) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(in))
	for _, a := range in {
		if len(a) > 0 {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b ma.Multiaddr) int { return strings.Compare(a.String(), b.String()) })
	return slices.CompactFunc(out, func(a, b ma.Multiaddr) bool { return a.Equal(b) })
}

func addrKey(addrs []ma.Multiaddr) string {
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(a.String())
		b.WriteByte(' ')
	}
	return b.String()
}

// removed returns the addresses of old that are not in cur.
func removed(old, cur []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range old {
		if !slices.ContainsFunc(cur, a.Equal) {
			out = append(out, a)
		}
	}
	return out
}
