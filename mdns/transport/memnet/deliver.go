package memnet

import (
	"net/netip"
	"time"

	"github.com/chorus-services/discovery/mdns"
)

func mdnsGroup(v4 bool) netip.Addr {
	if v4 {
		return mdns.GroupV4
	}
	return mdns.GroupV6
}

// message is one packet on the wire. It is immutable once built and shared
// by every receiver (one allocation per send, not per receiver).
type message struct {
	data      []byte
	src, dst  netip.AddrPort
	ttl       int
	multicast bool
	v4        bool
}

// transmit puts m on segment s. from is the sending interface (nil when
// injected), loop enables multicast loopback to from, only restricts
// delivery to one interface. Called with l.mu held.
func (l *LAN) transmit(s *segment, from *Iface, m *message, loop bool, only *Iface) {
	tx := tx{l: l, s: s, m: m}
	if m.multicast {
		if only != nil {
			tx.send1(only)
		} else {
			for _, ifc := range s.ifaces {
				if ifc == from {
					if loop {
						l.deliverIface(ifc, m)
					}
					continue
				}
				if ifc.member(m.v4) {
					tx.send1(ifc)
				}
			}
		}
	} else {
		var targets []*Iface
		if only != nil {
			targets = []*Iface{only}
		} else {
			targets = s.byAddr[m.dst.Addr()]
		}
		if len(targets) == 0 {
			l.stats.Unroutable++
		}
		for _, ifc := range targets {
			if ifc == from {
				l.deliverIface(ifc, m) // local delivery never touches the wire
				continue
			}
			tx.send1(ifc)
		}
	}
	if len(tx.batch) > 0 {
		l.sched.push(l, event{at: tx.batchAt, m: m, batch: tx.batch})
	}
}

// tx is the state of one transmission: the send instant (read once) and
// the receivers that share the segment's fixed delay, so a multicast on a
// latency-only link costs one heap entry.
type tx struct {
	l       *LAN
	s       *segment
	m       *message
	now     int64
	haveNow bool
	batchAt int64
	batch   []*Iface
}

func (t *tx) clock() int64 {
	if !t.haveNow {
		t.now, t.haveNow = t.l.sched.clock(), true
	}
	return t.now
}

// send1 applies the receiving link's impairments to one interface.
func (t *tx) send1(ifc *Iface) {
	l, s := t.l, t.s
	if !ifc.up {
		l.stats.DroppedDown++
		return
	}
	link := &s.link
	if ifc.link != nil {
		link = ifc.link
	}
	if link.Loss > 0 && s.rng.Float64() < link.Loss {
		l.stats.Lost++
		return
	}
	copies := 1
	if link.Duplicate > 0 && s.rng.Float64() < link.Duplicate {
		l.stats.Duplicated++
		copies = 2
	}
	for range copies {
		d := int64(link.Latency)
		if link.Jitter > 0 {
			d += s.rng.Int64N(int64(link.Jitter))
		}
		if link.Reorder > 0 && s.rng.Float64() < link.Reorder {
			l.stats.Reordered++
			d += 1 + s.rng.Int64N(int64(link.ReorderDelay))
		}
		switch {
		case d == 0:
			l.deliverIface(ifc, t.m)
		case ifc.link == nil && link.Jitter == 0 && link.Reorder == 0:
			if t.batch == nil {
				t.batchAt = t.clock() + d
				t.batch = l.sched.newBatch()
			}
			t.batch = append(t.batch, ifc)
		default:
			l.sched.push(l, event{at: t.clock() + d, m: t.m, ifc: ifc})
		}
	}
}

// deliverIface queues m to the Conns of ifc that accept it.
func (l *LAN) deliverIface(ifc *Iface, m *message) {
	if !ifc.up {
		l.stats.DroppedDown++
		return
	}
	port := m.dst.Port()
	if m.multicast {
		// Conns join only the mDNS group of each family.
		if !ifc.member(m.v4) || m.dst.Addr() != mdnsGroup(m.v4) {
			return
		}
		for _, c := range ifc.conns {
			if c.port == port && c.joins && c.family(m.v4) {
				l.enqueue(c, ifc, m)
			}
		}
		return
	}
	// Unicast: the most recently opened matching Conn, or all of them.
	for i := len(ifc.conns) - 1; i >= 0; i-- {
		c := ifc.conns[i]
		if c.port == port && c.family(m.v4) {
			l.enqueue(c, ifc, m)
			if !l.cfg.UnicastToAll {
				return
			}
		}
	}
}

func (l *LAN) enqueue(c *Conn, ifc *Iface, m *message) {
	h := c.host
	queued, dropped := c.deliver(m, ifc)
	if queued {
		l.stats.Delivered++
		h.stats.Received++
		h.stats.ReceivedBytes += uint64(len(m.data))
	}
	l.stats.Overflow += uint64(dropped)
	h.stats.Overflow += uint64(dropped)
}

// event is one scheduled delivery: of m to ifc, or to every interface of
// batch (same instant). at is in nanoseconds on the scheduler's clock.
type event struct {
	at    int64
	seq   uint64
	m     *message
	ifc   *Iface
	batch []*Iface
}

func (e *event) less(o *event) bool {
	return e.at < o.at || (e.at == o.at && e.seq < o.seq)
}

// scheduler is a min-heap of events ordered by (time, send order), drained
// by one time.AfterFunc timer armed for the earliest event. The clock and
// the timer start lazily, at the first delayed packet, so a LAN that never
// delays a packet uses no timer, and under synctest they belong to the
// bubble that sends.
type scheduler struct {
	heap     []event
	seq      uint64
	inflight int
	epoch    time.Time
	started  bool
	timer    *time.Timer
	armed    bool
	armedAt  int64
	free     [][]*Iface // recycled batch slices
}

// clock returns the nanoseconds elapsed since the first call.
func (s *scheduler) clock() int64 {
	if !s.started {
		s.epoch, s.started = time.Now(), true
	}
	return int64(time.Since(s.epoch))
}

func (s *scheduler) newBatch() []*Iface {
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free = s.free[:n-1]
		return b
	}
	return make([]*Iface, 0, 16)
}

func (s *scheduler) push(l *LAN, e event) {
	e.seq = s.seq
	s.seq++
	if e.batch != nil {
		s.inflight += len(e.batch)
	} else {
		s.inflight++
	}
	s.heap = append(s.heap, e)
	h := s.heap
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].less(&h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	if !s.armed || e.at < s.armedAt {
		s.arm(l, e.at)
	}
}

func (s *scheduler) pop() event {
	h := s.heap
	e := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = event{}
	h = h[:n]
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].less(&h[c]) {
			c++
		}
		if !h[c].less(&h[i]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	s.heap = h
	if e.batch != nil {
		s.inflight -= len(e.batch)
	} else {
		s.inflight--
	}
	return e
}

func (s *scheduler) arm(l *LAN, at int64) {
	d := time.Duration(at - s.clock())
	if s.timer == nil {
		s.timer = time.AfterFunc(d, l.fire)
	} else {
		s.timer.Reset(d)
	}
	s.armed, s.armedAt = true, at
}

func (s *scheduler) stop() {
	if s.timer != nil {
		s.timer.Stop()
	}
	clear(s.heap)
	s.heap, s.free, s.inflight, s.armed = nil, nil, 0, false
}

// fire is the timer callback: deliver everything due, re-arm for the rest.
// A stale or early firing is harmless: it delivers nothing and re-arms.
func (l *LAN) fire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.sched.armed = false
	l.runDue(l.sched.clock())
}

// runDue delivers every event due at or before now and re-arms the timer.
func (l *LAN) runDue(now int64) {
	s := &l.sched
	for len(s.heap) > 0 && s.heap[0].at <= now {
		e := s.pop()
		if e.batch == nil {
			l.deliverIface(e.ifc, e.m)
			continue
		}
		for _, ifc := range e.batch {
			l.deliverIface(ifc, e.m)
		}
		if len(s.free) < 16 {
			clear(e.batch)
			s.free = append(s.free, e.batch[:0])
		}
	}
	if len(s.heap) > 0 {
		s.arm(l, s.heap[0].at)
	}
}
