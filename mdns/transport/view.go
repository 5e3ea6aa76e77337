package transport

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
)

// Filter decides whether a View wants a received packet. It runs on the
// Conn's receiving goroutine (one per socket family, or memnet's sender)
// before anything is copied or queued, so a packet no View wants costs no
// allocation. p.Data is only valid during the call. A Filter must be fast,
// must not block and must be safe for concurrent use; it may count what it
// rejects (the protocol layers keep their drop reasons this way).
type Filter func(p *Packet) bool

// NoPackets is the Filter of a View that only wants interface events.
func NoPackets(*Packet) bool { return false }

// DefaultViewQueue is the packet queue of a View whose ViewConfig.QueueLen
// is 0.
const DefaultViewQueue = 64

// ViewConfig configures one View of a Conn.
type ViewConfig struct {
	// Name says who reads the View ("responder", "browser"); it appears in
	// logs and metrics.
	Name string
	// QueueLen bounds the packets delivered and not yet read (0:
	// DefaultViewQueue, or the Conn's own default). A packet that finds the
	// queue full is dropped for this View and counted (ViewStats.Dropped).
	QueueLen int
	// Accept is the View's prefilter; nil takes every packet.
	Accept Filter
}

// ViewStats are a View's cumulative counters.
type ViewStats struct {
	Delivered     uint64 // packets queued for the reader
	Dropped       uint64 // packets accepted but dropped: the queue was full
	EventsDropped uint64 // interface events dropped (the oldest) from a full Events queue
}

// View is one reader's share of a Conn: every received packet its Filter
// accepts, in its own bounded queue, and every interface event of the
// Conn, after the Conn has applied it (Interfaces already reflects the
// change when the event is read). It is the one queue between the sockets
// and a protocol layer: the Conn's receiving goroutine fills it, the
// layer's Run loop drains it, and nothing else runs in between.
//
// Packets are shared by every View that accepted them and must be treated
// as read-only. Writes and Interfaces go straight to the Conn.
//
// Who closes what: the reader closes its View (Close detaches it; the
// Conn stays open); whoever opened the Conn closes the Conn, which closes
// every View still attached. Either way Packets and Events are closed.
type View struct {
	conn   Conn
	hub    *Hub
	name   string
	accept Filter

	mu     sync.RWMutex // write-held only to close; read-held to send
	closed bool
	pkts   chan *Packet
	events chan Event

	delivered, dropped, evDropped atomic.Uint64
}

// Name returns ViewConfig.Name.
func (v *View) Name() string { return v.name }

// Packets returns the queue of accepted packets. It is closed when the View
// or its Conn is closed.
func (v *View) Packets() <-chan *Packet { return v.pkts }

// Events returns the interface events (bounded by EventQueueLen; when full
// the oldest is dropped and counted: the reader re-reads Interfaces on any
// event, so a dropped one loses no state). It is closed with Packets.
func (v *View) Events() <-chan Event { return v.events }

// ReadPacket blocks until a packet is queued and copies it into buf and p,
// p.Data being a slice of buf: the blocking form of Packets, for tools and
// tests. A packet longer than buf is cut and io.ErrShortBuffer returned with
// p filled. It returns ErrClosed once the View or the Conn is closed.
func (v *View) ReadPacket(buf []byte, p *Packet) error {
	sp, ok := <-v.pkts
	if !ok {
		return ErrClosed
	}
	*p = *sp
	p.Data = buf[:copy(buf, sp.Data)]
	if len(p.Data) < len(sp.Data) {
		return io.ErrShortBuffer
	}
	return nil
}

// WritePacket sends through the Conn (see Conn.WritePacket).
func (v *View) WritePacket(p *Packet) error { return v.conn.WritePacket(p) }

// Interfaces returns the Conn's interfaces (see Conn.Interfaces).
func (v *View) Interfaces() []Interface { return v.conn.Interfaces() }

// Stats returns the View's counters.
func (v *View) Stats() ViewStats {
	return ViewStats{Delivered: v.delivered.Load(), Dropped: v.dropped.Load(), EventsDropped: v.evDropped.Load()}
}

// Close detaches the View from its Conn and closes Packets and Events; the
// Conn stays open. Safe to call twice, and after the Conn was closed.
func (v *View) Close() error {
	v.hub.detach(v)
	v.shut()
	return nil
}

func (v *View) shut() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.closed {
		v.closed = true
		close(v.pkts)
		close(v.events)
	}
}

// offer queues p without blocking and reports whether it fit.
func (v *View) offer(p *Packet) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.closed {
		return true // racing Close: not a drop
	}
	select {
	case v.pkts <- p:
		v.delivered.Add(1)
		return true
	default:
		v.dropped.Add(1)
		return false
	}
}

// notify queues ev, dropping the oldest queued event when full.
func (v *View) notify(ev Event) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.closed {
		return
	}
	for range 2 {
		select {
		case v.events <- ev:
			return
		default:
		}
		select {
		case <-v.events:
			v.evDropped.Add(1)
		default:
		}
	}
	v.evDropped.Add(1)
}

// Hub fans a Conn's received packets and interface events out to its
// Views. Conn implementations (UDP, memnet) embed one; its zero value is
// ready. Deliver and Broadcast may run concurrently with each other and
// with Attach, View.Close and Close.
type Hub struct {
	mu     sync.Mutex // serialises changes of views
	views  atomic.Pointer[[]*View]
	closed bool
	// QueueLen is the default packet queue of the Views (0:
	// DefaultViewQueue). Set it before the first Attach.
	QueueLen int
}

// Attach adds a View of parent (the Conn embedding the Hub) configured by
// cfg. It fails with ErrClosed once the Hub is closed.
func (h *Hub) Attach(parent Conn, cfg ViewConfig) (*View, error) {
	n := cfg.QueueLen
	if n < 0 {
		return nil, fmt.Errorf("transport: ViewConfig.QueueLen is negative (%d)", n)
	}
	if n == 0 {
		n = h.QueueLen
	}
	if n <= 0 {
		n = DefaultViewQueue
	}
	v := &View{conn: parent, hub: h, name: cfg.Name, accept: cfg.Accept,
		pkts: make(chan *Packet, n), events: make(chan Event, EventQueueLen)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	var list []*View
	if cur := h.views.Load(); cur != nil {
		list = slices.Clone(*cur)
	}
	list = append(list, v)
	h.views.Store(&list)
	return v, nil
}

func (h *Hub) detach(v *View) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.views.Load()
	if cur == nil || !slices.Contains(*cur, v) {
		return
	}
	list := slices.DeleteFunc(slices.Clone(*cur), func(o *View) bool { return o == v })
	h.views.Store(&list)
}

// Deliver offers a received packet to every View whose Filter accepts it.
// The accepted ones share one copy of the packet; stable says p.Data will
// not change after the call (it is then shared, not copied). It returns
// how many Views queued the packet and how many dropped it on a full
// queue.
func (h *Hub) Deliver(p *Packet, stable bool) (queued, dropped int) {
	views := h.views.Load()
	if views == nil {
		return 0, 0
	}
	var cp *Packet
	for _, v := range *views {
		if v.accept != nil && !v.accept(p) {
			continue
		}
		if cp == nil {
			cp = new(Packet)
			*cp = *p
			if !stable {
				cp.Data = slices.Clone(p.Data)
			}
		}
		if v.offer(cp) {
			queued++
		} else {
			dropped++
		}
	}
	return queued, dropped
}

// Broadcast hands an interface event to every View. The Conn calls it
// after applying the change, so that Interfaces reflects it.
func (h *Hub) Broadcast(ev Event) {
	if views := h.views.Load(); views != nil {
		for _, v := range *views {
			v.notify(ev)
		}
	}
}

// Queued returns how many packets wait in the Views' queues.
func (h *Hub) Queued() int {
	n := 0
	if views := h.views.Load(); views != nil {
		for _, v := range *views {
			n += len(v.pkts)
		}
	}
	return n
}

// Close closes every View and refuses new ones. Safe to call twice.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	cur := h.views.Swap(nil)
	h.mu.Unlock()
	if cur != nil {
		for _, v := range *cur {
			v.shut()
		}
	}
}
