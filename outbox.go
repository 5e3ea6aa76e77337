package discovery

import (
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"
)

// outbox is one consumer's pending deliveries, coalesced per peer: the
// browser and dialer put without ever blocking, and one goroutine (pump)
// hands the items to the consumer in the order their peers first became
// pending, blocking on the consumer as long as it takes. A slow consumer
// therefore delays peers but loses none: a peer that changes again before
// its turn keeps its place and carries its latest state (merge decides
// how items combine, e.g. an AddrInfo replaces the older one).
//
// Bound: at most max peers pending (the browser's peer cap); beyond it
// the oldest pending peer is dropped and counted, which only a flood of
// more distinct peers than discovery itself keeps can cause.
type outbox[T any] struct {
	mu      sync.Mutex
	pending map[peer.ID][]T
	order   []peer.ID // FIFO of pending peers; head is the next to deliver
	head    int
	max     int
	merge   func(old []T, v T) []T
	wake    chan struct{} // cap 1: "something is pending"
	drops   atomic.Uint64
}

func newOutbox[T any](max int, merge func(old []T, v T) []T) *outbox[T] {
	return &outbox[T]{pending: map[peer.ID][]T{}, max: max, merge: merge, wake: make(chan struct{}, 1)}
}

// replace is the merge of consumers that want only a peer's latest item.
func replace[T any](_ []T, v T) []T { return []T{v} }

// put records v for id without blocking.
func (o *outbox[T]) put(id peer.ID, v T) {
	o.mu.Lock()
	old, had := o.pending[id]
	if !had {
		if len(o.pending) >= o.max {
			o.evictLocked()
		}
		o.order = append(o.order, id)
	}
	if items := o.merge(old, v); len(items) > 0 {
		o.pending[id] = items
	} else {
		delete(o.pending, id) // merged to nothing; its place in order is skipped
	}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox[T]) evictLocked() {
	for o.head < len(o.order) {
		id := o.order[o.head]
		o.head++
		if n := len(o.pending[id]); n > 0 {
			delete(o.pending, id)
			o.drops.Add(uint64(n))
			return
		}
	}
}

// next removes and returns the first item of the first pending peer.
func (o *outbox[T]) next() (peer.ID, T, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.head < len(o.order) {
		id := o.order[o.head]
		items := o.pending[id]
		if len(items) == 0 {
			o.head++
			continue
		}
		v := items[0]
		if len(items) == 1 {
			delete(o.pending, id)
			o.head++
		} else {
			o.pending[id] = items[1:]
		}
		o.compactLocked()
		return id, v, true
	}
	o.order, o.head = o.order[:0], 0
	var zero T
	return "", zero, false
}

// compactLocked drops the delivered part of order once it is the larger.
func (o *outbox[T]) compactLocked() {
	if o.head > 32 && o.head*2 > len(o.order) {
		o.order = append(o.order[:0], o.order[o.head:]...)
		o.head = 0
	}
}

// pump delivers every pending item through deliver until stop or also is
// closed (a nil channel never is) or deliver returns false.
func (o *outbox[T]) pump(stop, also <-chan struct{}, deliver func(peer.ID, T) bool) {
	for {
		for {
			id, v, ok := o.next()
			if !ok {
				break
			}
			if !deliver(id, v) {
				return
			}
		}
		select {
		case <-o.wake:
		case <-stop:
			return
		case <-also:
			return
		}
	}
}
