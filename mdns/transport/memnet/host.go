package memnet

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// Family selects the automatic addresses of an interface.
type Family int

// The address families of IfaceConfig.Family.
const (
	FamilyDual Family = iota // an IPv4 and an IPv6 link-local address
	FamilyV4                 // an IPv4 address only
	FamilyV6                 // an IPv6 link-local address only
	FamilyNone               // no address (add some later with AddPrefix)
)

// IfaceConfig describes one interface of a host.
type IfaceConfig struct {
	// Segment is the segment the interface is attached to; "" means the
	// first segment of the LAN.
	Segment string
	// Name defaults to "eth<k>" (k = number of the host's interfaces).
	Name string
	// Index defaults to the host's highest index + 1 (starting at 1).
	Index int
	// MTU defaults to 1500; otherwise it must be at least 576.
	MTU int
	// Prefixes, when non-empty, are the interface's addresses and disable
	// automatic addressing.
	Prefixes []netip.Prefix
	// Family selects the automatic addresses (see the package doc).
	Family Family
	// GlobalV6 adds an automatic 2001:db8:s::n/64 address to the IPv6
	// link-local one.
	GlobalV6 bool
	// Down creates the interface administratively down.
	Down bool
	// NoMulticast clears the multicast flag: no group traffic in or out.
	NoMulticast bool
	// Loopback sets the (informational) loopback flag.
	Loopback bool
	// Link, when set, replaces the segment's impairments for packets this
	// interface receives.
	Link *Link
}

// HostStats are cumulative per-host counters (copies count once per Conn).
type HostStats struct {
	Sent          uint64 // packets written by the host's Conns
	SentBytes     uint64
	Oversize      uint64 // of which larger than the interface's MaxPayload
	Received      uint64 // copies queued to the host's Conns
	ReceivedBytes uint64
	Overflow      uint64 // copies dropped on full View queues
}

// Host is a machine on the LAN. Create it with LAN.AddHost.
type Host struct {
	lan    *LAN
	name   string
	ifaces []*Iface
	conns  []*Conn
	events chan transport.Event
	stats  HostStats
}

// Iface is one interface of a host, attached to one segment.
type Iface struct {
	host      *Host
	seg       *segment
	index     int
	name      string
	mtu       int
	up        bool
	multicast bool
	loopback  bool
	prefixes  []netip.Prefix
	link      *Link
	conns     []*Conn // open Conns using this interface, in open order
}

// AddHost adds a host with the given interfaces; with none, it gets one
// dual-stack interface "eth0" on the first segment.
func (l *LAN) AddHost(name string, ifaces ...IfaceConfig) (*Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, transport.ErrClosed
	}
	if name == "" {
		return nil, errors.New("memnet: empty host name")
	}
	if _, ok := l.hosts[name]; ok {
		return nil, fmt.Errorf("memnet: duplicate host %q", name)
	}
	if len(ifaces) == 0 {
		ifaces = []IfaceConfig{{}}
	}
	h := &Host{lan: l, name: name}
	for _, ic := range ifaces {
		ifc, err := l.newIfaceLocked(h, ic)
		if err != nil {
			return nil, err
		}
		h.ifaces = append(h.ifaces, ifc)
	}
	// Attach only once every interface validated.
	for _, ifc := range h.ifaces {
		l.attachLocked(ifc)
	}
	l.hosts[name] = h
	l.hostList = append(l.hostList, h)
	return h, nil
}

// AddIface adds an interface at run time. Open Conns that listen on all
// interfaces (or name this one) start using it; watchers get IfaceUp (when
// up) and AddrAdded for each address.
func (h *Host) AddIface(ic IfaceConfig) (*Iface, error) {
	l := h.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, transport.ErrClosed
	}
	ifc, err := l.newIfaceLocked(h, ic)
	if err != nil {
		return nil, err
	}
	h.ifaces = append(h.ifaces, ifc)
	l.attachLocked(ifc)
	for _, c := range h.conns {
		if c.wants(ifc.name) {
			ifc.conns = append(ifc.conns, c)
		}
	}
	if ifc.up {
		l.emitLocked(ifc, transport.Event{Kind: transport.IfaceUp})
	}
	for _, p := range ifc.prefixes {
		l.emitLocked(ifc, transport.Event{Kind: transport.AddrAdded, Prefix: p})
	}
	return ifc, nil
}

func (l *LAN) newIfaceLocked(h *Host, ic IfaceConfig) (*Iface, error) {
	seg := l.segList[0]
	if ic.Segment != "" {
		if seg = l.segs[ic.Segment]; seg == nil {
			return nil, fmt.Errorf("memnet: unknown segment %q", ic.Segment)
		}
	}
	if err := h.ifaceDefaults(&ic); err != nil {
		return nil, err
	}
	ifc := &Iface{
		host: h, seg: seg, index: ic.Index, name: ic.Name, mtu: ic.MTU,
		up: !ic.Down, multicast: !ic.NoMulticast, loopback: ic.Loopback,
		link: ic.Link,
	}
	if len(ic.Prefixes) > 0 {
		for _, p := range ic.Prefixes {
			p, err := normPrefix(p)
			if err != nil {
				return nil, err
			}
			if slices.ContainsFunc(ifc.prefixes, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
				return nil, fmt.Errorf("memnet: duplicate address %v", p.Addr())
			}
			ifc.prefixes = append(ifc.prefixes, p)
		}
		return ifc, nil
	}
	if ic.Family == FamilyNone {
		return ifc, nil
	}
	return ifc, seg.autoAddrs(ifc, ic)
}

// ifaceDefaults checks ic against the host's interfaces and fills its
// zero fields (MTU, name, index) and copies its Link.
func (h *Host) ifaceDefaults(ic *IfaceConfig) error {
	if ic.MTU == 0 {
		ic.MTU = mdns.DefaultMTU
	} else if ic.MTU < 576 {
		return fmt.Errorf("memnet: MTU %d below 576", ic.MTU)
	}
	if ic.Name == "" {
		ic.Name = fmt.Sprintf("eth%d", len(h.ifaces))
	}
	maxIdx := 0
	for _, o := range h.ifaces {
		if o.name == ic.Name {
			return fmt.Errorf("memnet: host %s: duplicate interface %q", h.name, ic.Name)
		}
		if ic.Index != 0 && o.index == ic.Index {
			return fmt.Errorf("memnet: host %s: duplicate interface index %d", h.name, ic.Index)
		}
		maxIdx = max(maxIdx, o.index)
	}
	if ic.Index < 0 {
		return fmt.Errorf("memnet: negative interface index %d", ic.Index)
	}
	if ic.Index == 0 {
		ic.Index = maxIdx + 1
	}
	if ic.Link != nil {
		if err := ic.Link.validate(); err != nil {
			return err
		}
		k := *ic.Link
		ic.Link = &k
	}
	return nil
}

// autoAddrs gives ifc the segment's next automatic addresses of ic's
// family: 10.<seg>.<n>/16, fe80::<seg+1>:<n>/64 and, with GlobalV6,
// 2001:db8:<seg>::<n>/64.
func (seg *segment) autoAddrs(ifc *Iface, ic IfaceConfig) error {
	n := seg.nextAuto + 1
	if n > 0xfffe {
		return fmt.Errorf("memnet: segment %q: automatic addresses exhausted", seg.name)
	}
	seg.nextAuto = n
	s := seg.num
	if ic.Family != FamilyV6 {
		a := netip.AddrFrom4([4]byte{10, byte(s), byte(n >> 8), byte(n)})
		ifc.prefixes = append(ifc.prefixes, netip.PrefixFrom(a, 16))
	}
	if ic.Family != FamilyV4 {
		ll := [16]byte{0: 0xfe, 1: 0x80, 12: byte((s + 1) >> 8), 13: byte(s + 1), 14: byte(n >> 8), 15: byte(n)}
		ifc.prefixes = append(ifc.prefixes, netip.PrefixFrom(netip.AddrFrom16(ll), 64))
		if ic.GlobalV6 {
			g := [16]byte{0: 0x20, 1: 0x01, 2: 0x0d, 3: 0xb8, 4: byte(s >> 8), 5: byte(s), 14: byte(n >> 8), 15: byte(n)}
			ifc.prefixes = append(ifc.prefixes, netip.PrefixFrom(netip.AddrFrom16(g), 64))
		}
	}
	return nil
}

func normPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, fmt.Errorf("memnet: invalid prefix %v", p)
	}
	a := p.Addr()
	if a.Is4In6() || a.IsMulticast() || a.IsUnspecified() {
		return p, fmt.Errorf("memnet: unusable interface address %v", p)
	}
	return p, nil
}

func (l *LAN) attachLocked(ifc *Iface) {
	s := ifc.seg
	s.ifaces = append(s.ifaces, ifc)
	for _, p := range ifc.prefixes {
		s.byAddr[p.Addr()] = append(s.byAddr[p.Addr()], ifc)
	}
}

func (s *segment) unindex(ifc *Iface, a netip.Addr) {
	list := slices.DeleteFunc(s.byAddr[a], func(o *Iface) bool { return o == ifc })
	if len(list) == 0 {
		delete(s.byAddr, a)
	} else {
		s.byAddr[a] = list
	}
}

// Name returns the host name.
func (h *Host) Name() string { return h.name }

// LAN returns the LAN the host belongs to.
func (h *Host) LAN() *LAN { return h.lan }

// Ifaces returns the host's interfaces in creation order.
func (h *Host) Ifaces() []*Iface {
	h.lan.mu.Lock()
	defer h.lan.mu.Unlock()
	return append([]*Iface(nil), h.ifaces...)
}

// Iface returns the interface called name, or nil.
func (h *Host) Iface(name string) *Iface {
	h.lan.mu.Lock()
	defer h.lan.mu.Unlock()
	for _, ifc := range h.ifaces {
		if ifc.name == name {
			return ifc
		}
	}
	return nil
}

// Stats returns the host's cumulative counters.
func (h *Host) Stats() HostStats {
	h.lan.mu.Lock()
	defer h.lan.mu.Unlock()
	return h.stats
}

// Events returns the host's interface watcher: every later change of any
// of its interfaces (SetUp, AddPrefix, RemovePrefix, AddIface) is sent on
// it. The channel is created on the first call (changes before it are not
// reported), is bounded by Config.EventQueueLen (overflow is dropped and
// counted in Stats.EventsDropped) and is closed by LAN.Close. All callers
// share the one channel; each View of a Conn gets its own (View.Events).
func (h *Host) Events() <-chan transport.Event {
	l := h.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	if h.events == nil {
		h.events = make(chan transport.Event, l.cfg.EventQueueLen)
		if l.closed {
			close(h.events)
		}
	}
	return h.events
}

func (l *LAN) emitLocked(ifc *Iface, ev transport.Event) {
	ev.IfIndex, ev.IfName = ifc.index, ifc.name
	h := ifc.host
	if h.events != nil {
		l.sendEvent(h.events, ev)
	}
	for _, c := range ifc.conns {
		c.hub.Broadcast(ev)
	}
}

func (l *LAN) sendEvent(ch chan transport.Event, ev transport.Event) {
	select {
	case ch <- ev:
	default:
		l.stats.EventsDropped++
	}
}

// Index returns the interface index.
func (ifc *Iface) Index() int { return ifc.index }

// Name returns the interface name.
func (ifc *Iface) Name() string { return ifc.name }

// Host returns the host the interface belongs to.
func (ifc *Iface) Host() *Host { return ifc.host }

// Segment returns the name of the segment the interface is attached to.
func (ifc *Iface) Segment() string { return ifc.seg.name }

// MTU returns the interface MTU.
func (ifc *Iface) MTU() int { return ifc.mtu }

// Up reports whether the interface is up.
func (ifc *Iface) Up() bool {
	ifc.host.lan.mu.Lock()
	defer ifc.host.lan.mu.Unlock()
	return ifc.up
}

// SetUp brings the interface up or down, reporting IfaceUp / IfaceDown when
// the state changes. A down interface neither sends (WritePacket returns
// ErrInterfaceDown) nor receives (packets in flight to it are dropped).
func (ifc *Iface) SetUp(up bool) {
	l := ifc.host.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	if ifc.up == up || l.closed {
		return
	}
	ifc.up = up
	kind := transport.IfaceDown
	if up {
		kind = transport.IfaceUp
	}
	l.emitLocked(ifc, transport.Event{Kind: kind})
}

// SetLink replaces the impairments of packets this interface receives;
// nil restores the segment's Link.
func (ifc *Iface) SetLink(link *Link) error {
	if link != nil {
		if err := link.validate(); err != nil {
			return err
		}
		k := *link
		link = &k
	}
	l := ifc.host.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	ifc.link = link
	return nil
}

// Prefixes returns a copy of the interface's addresses.
func (ifc *Iface) Prefixes() []netip.Prefix {
	l := ifc.host.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(ifc.prefixes)
}

// Addr returns the source address the interface uses for a family (IPv6:
// link-local preferred), or the zero Addr when it has none.
func (ifc *Iface) Addr(v4 bool) netip.Addr {
	l := ifc.host.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	return ifc.src(v4)
}

func (ifc *Iface) src(v4 bool) netip.Addr {
	var first netip.Addr
	for _, p := range ifc.prefixes {
		a := p.Addr()
		if a.Is4() != v4 {
			continue
		}
		if v4 || a.IsLinkLocalUnicast() {
			return a
		}
		if !first.IsValid() {
			first = a
		}
	}
	return first
}

func (ifc *Iface) hasFamily(v4 bool) bool {
	for _, p := range ifc.prefixes {
		if p.Addr().Is4() == v4 {
			return true
		}
	}
	return false
}

// member reports whether group traffic of the family can reach ifc.
func (ifc *Iface) member(v4 bool) bool {
	return ifc.multicast && ifc.hasFamily(v4)
}

// AddPrefix adds an address and reports AddrAdded.
func (ifc *Iface) AddPrefix(p netip.Prefix) error {
	p, err := normPrefix(p)
	if err != nil {
		return err
	}
	l := ifc.host.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return transport.ErrClosed
	}
	if slices.ContainsFunc(ifc.prefixes, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
		return fmt.Errorf("memnet: %s already has address %v", ifc.name, p.Addr())
	}
	ifc.prefixes = append(ifc.prefixes, p)
	ifc.seg.byAddr[p.Addr()] = append(ifc.seg.byAddr[p.Addr()], ifc)
	l.emitLocked(ifc, transport.Event{Kind: transport.AddrAdded, Prefix: p})
	return nil
}

// RemovePrefix removes the address of p (its prefix length is ignored) and
// reports AddrRemoved with the prefix that was removed.
func (ifc *Iface) RemovePrefix(p netip.Prefix) error {
	l := ifc.host.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return transport.ErrClosed
	}
	i := slices.IndexFunc(ifc.prefixes, func(q netip.Prefix) bool { return q.Addr() == p.Addr() })
	if i < 0 {
		return fmt.Errorf("memnet: %s has no address %v", ifc.name, p.Addr())
	}
	old := ifc.prefixes[i]
	ifc.prefixes = slices.Delete(ifc.prefixes, i, i+1)
	ifc.seg.unindex(ifc, old.Addr())
	l.emitLocked(ifc, transport.Event{Kind: transport.AddrRemoved, Prefix: old})
	return nil
}

func (ifc *Iface) snapshot(c *Conn) transport.Interface {
	return transport.Interface{
		Index:     ifc.index,
		Name:      ifc.name,
		MTU:       ifc.mtu,
		Up:        ifc.up,
		Multicast: ifc.multicast,
		Loopback:  ifc.loopback,
		Prefixes:  slices.Clone(ifc.prefixes),
		V4:        c.joins && c.v4 && ifc.member(true),
		V6:        c.joins && c.v6 && ifc.member(false),
	}
}
