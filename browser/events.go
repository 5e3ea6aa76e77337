package browser

import (
	"sync"
)

// dispatcher is the one bounded queue between the protocol loop and the
// consumer of Events(). emit never blocks: an Updated event for a peer that
// already has an undelivered Found or Updated replaces its addresses
// (coalescing), a Lost event cancels an undelivered Found, and when the
// queue is full the new event is dropped and counted. Peers() always has the
// current state, whatever was dropped.
type dispatcher struct {
	mu      sync.Mutex
	pending []Event
	max     int
	wake    chan struct{}
	out     chan Event
	ctr     *counters
}

func newDispatcher(max int, ctr *counters) *dispatcher {
	return &dispatcher{max: max, wake: make(chan struct{}, 1), out: make(chan Event), ctr: ctr}
}

func (b *Browser) emit(ev Event) {
	b.cfg.Logger.Debug("event", "kind", ev.Kind.String(), "peer", ev.Peer.ID, "addrs", len(ev.Peer.Addrs))
	b.disp.push(ev)
}

func (d *dispatcher) push(ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.pending) - 1; i >= 0; i-- {
		q := &d.pending[i]
		if q.Peer.ID != ev.Peer.ID {
			continue
		}
		switch {
		case ev.Kind == Updated && (q.Kind == Found || q.Kind == Updated):
			q.Peer, q.TTL, q.Time, q.Flavour = ev.Peer, ev.TTL, ev.Time, ev.Flavour
			d.ctr.eventsCoalesced.Add(1)
			return
		case ev.Kind == Lost && q.Kind == Found:
			d.pending = append(d.pending[:i], d.pending[i+1:]...)
			d.ctr.eventsCoalesced.Add(1)
			return
		}
		break // only the latest undelivered event of a peer may merge
	}
	if len(d.pending) >= d.max {
		d.ctr.eventsDropped.Add(1)
		return
	}
	d.pending = append(d.pending, ev)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run delivers events until done is closed, then closes out. The event
// being delivered is taken off the queue first, so it is never merged after
// the consumer may have seen it.
func (d *dispatcher) run(done <-chan struct{}) {
	defer close(d.out)
	for {
		d.mu.Lock()
		var ev Event
		have := len(d.pending) > 0
		if have {
			ev = d.pending[0]
			d.pending[0] = Event{}
			d.pending = d.pending[1:]
		}
		d.mu.Unlock()
		if !have {
			select {
			case <-d.wake:
				continue
			case <-done:
				return
			}
		}
		select {
		case d.out <- ev:
		case <-done:
			return
		}
	}
}
