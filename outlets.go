package discovery

import (
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"
)

// outlets are the four ways a discovered peer leaves discovery, one
// outbox each, so that no consumer can delay another and a slow one loses
// no peer (see outbox):
//
//   - PeersChan: every peer found or updated, its latest addresses;
//   - Events (WithEvents): found / updated / lost / connected /
//     dial_failed, coalesced per peer (mergeEvent);
//   - FindPeers: the same as PeersChan, per call (routing.go);
//   - the drop-in's Notifee: HandlePeerFound, called on one goroutine.
//
// Which to pick: PeersChan for the plain "tell me who is here" loop;
// Events to show or log what happens (with lost and connection outcomes);
// FindPeers to plug into go-libp2p's discovery interfaces; the Notifee when
// switching from go-libp2p's mdns.
type outlets struct {
	peersCh chan peer.AddrInfo
	peers   *outbox[peer.AddrInfo]
	// peersOn is set by the first PeersChan call: until then nothing
	// waits for a reader that may never come (the drop-in has none).
	peersOn   atomic.Bool
	peersOnce sync.Once
	evCh      chan Event // nil without WithEvents
	events    *outbox[Event]
	notify    *notifier // nil unless set by the drop-in
	subs      subscribers

	stop chan struct{}
	wg   sync.WaitGroup
}

func (o *outlets) init(opts options) {
	o.stop = make(chan struct{})
	o.peersCh = make(chan peer.AddrInfo, opts.peersChanSize)
	o.peers = newOutbox(pendingMax, replace[peer.AddrInfo])
	if opts.eventsSize > 0 {
		o.evCh = make(chan Event, opts.eventsSize)
		o.events = newOutbox(pendingMax, mergeEvent)
	}
	if opts.notifee != nil {
		o.notify = newNotifier(opts.notifee)
	}
}

// start runs one pump per outlet.
func (o *outlets) start(d *MDNSDiscovery) {
	o.wg.Go(func() { o.peers.pump(o.stop, nil, sendTo(o.peersCh, o.stop)) })
	if o.events != nil {
		o.wg.Go(func() { o.events.pump(o.stop, nil, sendTo(o.evCh, o.stop)) })
	}
	if o.notify != nil {
		o.notify.start(o.stop)
	}
}

// sendTo returns a deliver func that blocks on ch until stop.
func sendTo[T any](ch chan<- T, stop <-chan struct{}) func(peer.ID, T) bool {
	return func(_ peer.ID, v T) bool {
		select {
		case ch <- v:
			return true
		case <-stop:
			return false
		}
	}
}

// found hands a peer found or updated to every outlet of peers.
func (o *outlets) found(ai peer.AddrInfo) {
	if o.peersOn.Load() {
		o.peers.put(ai.ID, ai)
	}
	o.subs.put(ai)
	if o.notify != nil {
		o.notify.box.put(ai.ID, ai)
	}
}

// peersChan turns PeersChan on (once), starting with the peers known now.
func (o *outlets) peersChan(known func() []peer.AddrInfo) chan peer.AddrInfo {
	o.peersOnce.Do(func() {
		o.peersOn.Store(true)
		for _, ai := range known() {
			o.peers.put(ai.ID, ai)
		}
	})
	return o.peersCh
}

// event hands ev to Events, when enabled.
func (o *outlets) event(ev Event) {
	if o.events != nil {
		o.events.put(ev.Peer.ID, ev)
	}
}

func (o *outlets) stopSubscribers() { o.subs.stop() }

// close stops the pumps, waits for them (not for a Notifee call in
// progress) and closes the channels.
func (o *outlets) close() {
	close(o.stop)
	o.wg.Wait()
	if o.notify != nil {
		o.notify.close()
	}
	o.subs.closeAll()
	close(o.peersCh)
	if o.evCh != nil {
		close(o.evCh)
	}
}

func (o *outlets) drops() (peers, events, notify uint64) {
	peers = o.peers.drops.Load()
	if o.events != nil {
		events = o.events.drops.Load()
	}
	if o.notify != nil {
		notify = o.notify.box.drops.Load()
	}
	return peers, events, notify
}

// mergeEvent coalesces a peer's pending events: its presence (found,
// updated) collapses to the latest addresses under the kind the
// consumer has to see (found when it has not seen the peer, updated
// otherwise); lost is kept after the presence it ends, and a peer found
// again after a lost its consumer never saw the first finding of becomes
// one found; of the connection outcomes only the latest is kept.
func mergeEvent(old []Event, e Event) []Event {
	switch e.Kind {
	case Connected, DialFailed:
		out := old[:0:0]
		for _, o := range old {
			if o.Kind != Connected && o.Kind != DialFailed {
				out = append(out, o)
			}
		}
		return append(out, e)
	case PeerLost:
		if i := lastPresence(old); i >= 0 && old[i].Kind == PeerLost {
			return old
		}
		return append(old, e)
	}
	i := lastPresence(old)
	switch {
	case i < 0:
		return append(old, e)
	case old[i].Kind != PeerLost:
		merged := e
		if old[i].Kind == PeerFound {
			merged.Kind = PeerFound
		}
		out := append(old[:0:0], old...)
		out[i] = merged
		return out
	case i > 0 && old[i-1].Kind == PeerFound:
		// found, lost, found again, none of it seen: one found.
		out := append(append(old[:0:0], old[:i-1]...), old[i+1:]...)
		if e.Kind == PeerUpdated {
			e.Kind = PeerFound
		}
		return append(out, e)
	default:
		return append(old, e)
	}
}

// lastPresence is the index of the last presence or lost event, or -1.
func lastPresence(evs []Event) int {
	for i := len(evs) - 1; i >= 0; i-- {
		if k := evs[i].Kind; k != Connected && k != DialFailed {
			return i
		}
	}
	return -1
}

// notifier calls the drop-in's Notifee on one goroutine. Close does not
// wait for a call in progress (a blocked HandlePeerFound cannot be
// interrupted), but no call starts once Close has begun.
type notifier struct {
	n    Notifee
	box  *outbox[peer.AddrInfo]
	done chan struct{}

	mu      sync.Mutex
	closed  bool
	calling bool
}

func newNotifier(n Notifee) *notifier {
	return &notifier{n: n, box: newOutbox(pendingMax, replace[peer.AddrInfo]), done: make(chan struct{})}
}

func (nt *notifier) start(stop <-chan struct{}) {
	go func() {
		defer close(nt.done)
		nt.box.pump(stop, nil, func(_ peer.ID, ai peer.AddrInfo) bool {
			nt.mu.Lock()
			if nt.closed {
				nt.mu.Unlock()
				return false
			}
			nt.calling = true
			nt.mu.Unlock()
			nt.n.HandlePeerFound(ai)
			nt.mu.Lock()
			nt.calling = false
			nt.mu.Unlock()
			return true
		})
	}()
}

// close refuses further calls and waits for the goroutine unless it is
// inside HandlePeerFound (it then ends when the call returns).
func (nt *notifier) close() {
	nt.mu.Lock()
	nt.closed = true
	busy := nt.calling
	nt.mu.Unlock()
	if !busy {
		<-nt.done
	}
}
