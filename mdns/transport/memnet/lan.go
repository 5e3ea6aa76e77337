package memnet

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/chorus-services/discovery/mdns/transport"
)

// Defaults used when the corresponding Config / ListenOptions field is 0.
const (
	// DefaultSegment is the segment created when Config.Segments is empty.
	DefaultSegment = "lan"
	// DefaultQueueLen is the default per-Conn receive queue bound (packets).
	DefaultQueueLen = 256
	// DefaultEventQueueLen is the default bound of an event channel.
	DefaultEventQueueLen = 64
	// DefaultTTL is the IP TTL / hop limit of mDNS packets (RFC 6762 §11).
	DefaultTTL = 255
)

// ErrInterfaceDown is returned by WritePacket on an interface that is down.
var ErrInterfaceDown = errors.New("memnet: interface is down")

// Link describes the impairments of a link. Every field's zero value means
// "none"; the zero Link is a perfect, instantaneous wire.
//
// Impairments are drawn independently per receiving interface (all Conns on
// one interface see the same fate and timing of a packet).
type Link struct {
	// Latency is the fixed one-way delay.
	Latency time.Duration
	// Jitter adds a uniform random delay in [0, Jitter).
	Jitter time.Duration
	// Loss is the probability in [0, 1] that a packet is dropped.
	Loss float64
	// Duplicate is the probability in [0, 1] that a packet that was not lost
	// is delivered twice (each copy draws its own jitter and reordering).
	Duplicate float64
	// Reorder is the probability in [0, 1] that a copy is held back by an
	// extra uniform random delay in (0, ReorderDelay], which lets later
	// packets overtake it.
	Reorder float64
	// ReorderDelay bounds the extra delay of a reordered copy; it must be
	// positive when Reorder is.
	ReorderDelay time.Duration
}

func (k Link) validate() error {
	if k.Latency < 0 || k.Jitter < 0 || k.ReorderDelay < 0 {
		return errors.New("memnet: negative link delay")
	}
	for _, p := range [...]float64{k.Loss, k.Duplicate, k.Reorder} {
		if !(p >= 0 && p <= 1) { // also rejects NaN
			return fmt.Errorf("memnet: link probability %v not in [0, 1]", p)
		}
	}
	if k.Reorder > 0 && k.ReorderDelay == 0 {
		return errors.New("memnet: Link.Reorder needs a positive ReorderDelay")
	}
	return nil
}

// SegmentConfig names a segment and its default link impairments.
type SegmentConfig struct {
	Name string
	Link Link
}

// Config configures a LAN. It is copied by New.
type Config struct {
	// Seed seeds every segment's math/rand/v2 source: the same topology,
	// seed and send sequence give the same losses, duplicates and delays.
	Seed uint64
	// Segments are created in order; segment numbers (used for automatic
	// addresses) follow this order. Empty means one DefaultSegment.
	Segments []SegmentConfig
	// QueueLen is the default receive-queue bound of a Conn
	// (0 means DefaultQueueLen).
	QueueLen int
	// EventQueueLen bounds each event channel (0 means
	// DefaultEventQueueLen). Events that do not fit are dropped and counted.
	EventQueueLen int
	// UnicastToAll delivers a unicast packet to every Conn bound to the
	// destination port on the receiving interface. By default only the most
	// recently opened such Conn receives it, as with SO_REUSEADDR /
	// SO_REUSEPORT sockets (RFC 6762 §15.1).
	UnicastToAll bool
}

// Stats are cumulative LAN-wide counters. Delivered and Overflow count one
// copy per receiving Conn; Lost, Duplicated, Reordered and DroppedDown one
// per receiving interface; the others count packets.
type Stats struct {
	Sent       uint64 // packets accepted by Conn.WritePacket
	SentBytes  uint64 // their payload bytes
	Injected   uint64 // packets injected with LAN.Inject
	Oversize   uint64 // sent packets larger than the sending interface's MaxPayload
	Delivered  uint64 // copies queued to a Conn
	Overflow   uint64 // copies dropped because a View's queue was full
	Lost       uint64 // per-interface copies dropped by Link.Loss
	Duplicated uint64 // per-interface extra copies made by Link.Duplicate
	Reordered  uint64 // per-interface copies delayed by Link.Reorder
	// DroppedDown counts per-interface copies dropped because the receiving
	// interface was down at send or delivery time.
	DroppedDown uint64
	// Unroutable counts unicast packets whose destination no interface on
	// the segment holds.
	Unroutable    uint64
	EventsDropped uint64 // events dropped on full event channels
}

// TapRecord describes one packet put on a segment (by WritePacket or
// Inject), as seen by a tap.
type TapRecord struct {
	Time    time.Time
	Segment string
	Host    string // sending host; "" for injected packets
	// Packet is the packet as sent: Src, Dst, TTL, Multicast filled in,
	// IfIndex the sending interface (0 when injected). Data is shared with
	// the receivers and must not be modified.
	Packet   transport.Packet
	Injected bool
	Oversize bool
}

type tap struct {
	id int
	fn func(TapRecord)
}

// LAN is an in-memory network of segments and hosts. Create it with New.
type LAN struct {
	mu       sync.Mutex
	cfg      Config
	closed   bool
	segs     map[string]*segment
	segList  []*segment
	hosts    map[string]*Host
	hostList []*Host
	taps     []tap
	tapID    int
	stats    Stats
	sched    scheduler
}

type segment struct {
	name     string
	num      int
	link     Link
	rng      *rand.Rand
	ifaces   []*Iface
	byAddr   map[netip.Addr][]*Iface
	nextAuto int
}

// New validates and copies cfg and returns an empty LAN with its segments.
func New(cfg Config) (*LAN, error) {
	if cfg.QueueLen < 0 || cfg.EventQueueLen < 0 {
		return nil, errors.New("memnet: negative queue length")
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.EventQueueLen == 0 {
		cfg.EventQueueLen = DefaultEventQueueLen
	}
	segs := cfg.Segments
	if len(segs) == 0 {
		segs = []SegmentConfig{{Name: DefaultSegment}}
	}
	cfg.Segments = nil
	l := &LAN{cfg: cfg, segs: map[string]*segment{}, hosts: map[string]*Host{}}
	for _, sc := range segs {
		if err := l.addSegmentLocked(sc.Name, sc.Link); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// AddSegment adds a segment at run time.
func (l *LAN) AddSegment(name string, link Link) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return transport.ErrClosed
	}
	return l.addSegmentLocked(name, link)
}

func (l *LAN) addSegmentLocked(name string, link Link) error {
	if name == "" {
		return errors.New("memnet: empty segment name")
	}
	if _, ok := l.segs[name]; ok {
		return fmt.Errorf("memnet: duplicate segment %q", name)
	}
	if err := link.validate(); err != nil {
		return err
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	s := &segment{
		name:   name,
		num:    len(l.segList),
		link:   link,
		rng:    rand.New(rand.NewPCG(l.cfg.Seed, h.Sum64())),
		byAddr: map[netip.Addr][]*Iface{},
	}
	l.segs[name] = s
	l.segList = append(l.segList, s)
	return nil
}

// Segments returns the segment names in creation order.
func (l *LAN) Segments() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.segList))
	for i, s := range l.segList {
		out[i] = s.name
	}
	return out
}

// SetLink replaces the default impairments of a segment. Packets already in
// flight keep their scheduled delivery.
func (l *LAN) SetLink(seg string, link Link) error {
	if err := link.validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.segs[seg]
	if !ok {
		return fmt.Errorf("memnet: unknown segment %q", seg)
	}
	s.link = link
	return nil
}

// Host returns the host called name, or nil.
func (l *LAN) Host(name string) *Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hosts[name]
}

// Hosts returns all hosts in creation order.
func (l *LAN) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Host(nil), l.hostList...)
}

// Tap registers fn to be called for every packet put on any segment, in
// send order, synchronously and under the LAN lock: fn must not block and
// must not call methods of the LAN, its hosts, interfaces or Conns. The
// returned function removes the tap.
func (l *LAN) Tap(fn func(TapRecord)) (remove func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tapID++
	id := l.tapID
	l.taps = append(l.taps, tap{id: id, fn: fn})
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, t := range l.taps {
			if t.id == id {
				l.taps = append(l.taps[:i:i], l.taps[i+1:]...)
				return
			}
		}
	}
}

// Stats returns a snapshot of the cumulative LAN-wide counters.
func (l *LAN) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// ResetStats zeroes the LAN, host and Conn counters.
func (l *LAN) ResetStats() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats = Stats{}
	for _, h := range l.hostList {
		h.stats = HostStats{}
		for _, c := range h.conns {
			c.sent, c.sentBytes = 0, 0
			c.rstats = ConnStats{}
		}
	}
}

// InFlight returns the number of scheduled per-interface deliveries that
// have not happened yet.
func (l *LAN) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sched.inflight
}

// Close closes every Conn and event channel, drops packets in flight and
// stops the delivery timer. It is safe to call twice.
func (l *LAN) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.sched.stop()
	for _, h := range l.hostList {
		for len(h.conns) > 0 {
			l.closeConnLocked(h.conns[len(h.conns)-1])
		}
		if h.events != nil {
			close(h.events)
		}
	}
	return nil
}

// Inject puts an arbitrary packet on a segment, as if sent by a host that
// is not part of the LAN: Src is used verbatim (spoofed, off-link or
// invalid), TTL 0 means DefaultTTL and any other value is delivered as is,
// Multicast is derived from Dst, IfIndex is ignored.
//
// With to == nil the packet goes to segment seg: a multicast Dst to every
// member Conn on the segment, a unicast Dst to the interface(s) holding the
// address. With to != nil only interface to receives it (seg may then be
// ""), whatever the unicast Dst address; Conns still filter on the Dst
// port. The receiving links' impairments apply.
func (l *LAN) Inject(seg string, to *Iface, p transport.Packet) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return transport.ErrClosed
	}
	var s *segment
	if to != nil {
		s = to.seg
		if seg != "" && seg != s.name {
			return fmt.Errorf("memnet: interface %s is not on segment %q", to.name, seg)
		}
	} else if s = l.segs[seg]; s == nil {
		return fmt.Errorf("memnet: unknown segment %q", seg)
	}
	if !p.Dst.IsValid() {
		return errors.New("memnet: invalid destination")
	}
	dst := p.Dst.Addr().Unmap().WithZone("")
	ttl := p.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	m := &message{
		data:      append([]byte(nil), p.Data...),
		src:       p.Src,
		dst:       netip.AddrPortFrom(dst, p.Dst.Port()),
		ttl:       ttl,
		multicast: dst.IsMulticast(),
		v4:        dst.Is4(),
	}
	l.stats.Injected++
	l.tapLocked(s, "", 0, m, true, false)
	l.transmit(s, nil, m, false, to)
	return nil
}

func (l *LAN) tapLocked(s *segment, host string, ifIndex int, m *message, injected, oversize bool) {
	if len(l.taps) == 0 {
		return
	}
	rec := TapRecord{
		Time:    time.Now(),
		Segment: s.name,
		Host:    host,
		Packet: transport.Packet{
			Data: m.data, Src: m.src, Dst: m.dst, IfIndex: ifIndex,
			TTL: m.ttl, Multicast: m.multicast,
		},
		Injected: injected,
		Oversize: oversize,
	}
	for _, t := range l.taps {
		t.fn(rec)
	}
}
