package memnet

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// maxUDPPayload is the largest payload a UDP datagram can carry.
const maxUDPPayload = 65507

// ListenOptions configure a Conn.
type ListenOptions struct {
	// Port is the local UDP port; 0 means 5353. A Conn on 5353 joins the
	// mDNS groups; a Conn on another port (a legacy unicast querier, RFC
	// 6762 §6.7) joins none and only receives unicast sent to its port.
	// Sent packets carry this port as source port.
	Port uint16
	// Ifaces restricts the Conn to the named interfaces (also ones added
	// later); nil means every interface of the host, present and future.
	Ifaces []string
	// NoV4 / NoV6 leave out one family: no group membership, no sending
	// and no receiving of that family (like opening only one socket).
	NoV4, NoV6 bool
	// NoLoopback disables multicast loopback: group packets this Conn sends
	// are not delivered back to the sending interface (Conns of other
	// interfaces of the host on the segment still receive them).
	NoLoopback bool
	// QueueLen is the packet queue of each View of the Conn whose
	// ViewConfig.QueueLen is 0; 0 means Config.QueueLen.
	QueueLen int
}

// ConnStats are a Conn's cumulative counters.
type ConnStats struct {
	Sent          uint64
	SentBytes     uint64
	Received      uint64 // packets queued to at least one View
	ReceivedBytes uint64
	Overflow      uint64 // copies dropped because a View's queue was full
	Queued        int    // packets waiting in the Views' queues now
}

// Conn is a host's mDNS socket on the LAN; it implements transport.Conn.
// Create it with Host.Listen. Its readers are Views (transport.View): the
// LAN's delivery hands each packet to every View whose filter accepts it,
// sharing the sender's immutable copy.
type Conn struct {
	lan   *LAN
	host  *Host
	port  uint16
	joins bool
	v4    bool
	v6    bool
	loop  bool
	names []string
	hub   transport.Hub

	// Guarded by lan.mu.
	lclosed   bool
	sent      uint64
	sentBytes uint64
	rstats    ConnStats
}

var _ transport.Conn = (*Conn)(nil)

// Listen opens a Conn on the host.
func (h *Host) Listen(opts ListenOptions) (*Conn, error) {
	l := h.lan
	if opts.QueueLen < 0 {
		return nil, errors.New("memnet: negative queue length")
	}
	if opts.NoV4 && opts.NoV6 {
		return nil, errors.New("memnet: NoV4 and NoV6 leave no family")
	}
	if opts.Port == 0 {
		opts.Port = mdns.Port
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, transport.ErrClosed
	}
	c := &Conn{
		lan: l, host: h, port: opts.Port, joins: opts.Port == mdns.Port,
		v4: !opts.NoV4, v6: !opts.NoV6, loop: !opts.NoLoopback,
		names: slices.Clone(opts.Ifaces),
	}
	c.hub.QueueLen = opts.QueueLen
	if c.hub.QueueLen == 0 {
		c.hub.QueueLen = l.cfg.QueueLen
	}
	h.conns = append(h.conns, c)
	for _, ifc := range h.ifaces {
		if c.wants(ifc.name) {
			ifc.conns = append(ifc.conns, c)
		}
	}
	return c, nil
}

func (c *Conn) wants(name string) bool {
	return c.names == nil || slices.Contains(c.names, name)
}

func (c *Conn) family(v4 bool) bool {
	if v4 {
		return c.v4
	}
	return c.v6
}

// deliver hands m, received on ifc, to the Views (called with lan.mu):
// the message is immutable, so the Views share it without a copy. It
// reports whether a View queued it and how many copies were dropped on
// full queues.
func (c *Conn) deliver(m *message, ifc *Iface) (queued bool, dropped int) {
	p := transport.Packet{Data: m.data, Src: m.src, Dst: m.dst, IfIndex: ifc.index, TTL: m.ttl, Multicast: m.multicast}
	n, dropped := c.hub.Deliver(&p, true)
	if n > 0 {
		c.rstats.Received++
		c.rstats.ReceivedBytes += uint64(len(m.data))
	}
	c.rstats.Overflow += uint64(dropped)
	return n > 0, dropped
}

// Host returns the host of the Conn.
func (c *Conn) Host() *Host { return c.host }

// Port returns the Conn's local port.
func (c *Conn) Port() uint16 { return c.port }

// View attaches a reader (see transport.View).
func (c *Conn) View(cfg transport.ViewConfig) (*transport.View, error) { return c.hub.Attach(c, cfg) }

// WritePacket sends p.Data to p.Dst from interface p.IfIndex with source
// port Conn.Port. The data is copied. p.IfIndex is required for a group
// destination and for an IPv6 link-local one without zone; for another
// unicast destination 0 picks the first up interface on its subnet. A TTL
// outside 1..255 means 255. Sending to an address no interface holds is not
// an error (it is counted in Stats.Unroutable), as with UDP.
func (c *Conn) WritePacket(p *transport.Packet) error {
	if p == nil || !p.Dst.IsValid() {
		return errors.New("memnet: invalid destination")
	}
	if len(p.Data) > maxUDPPayload {
		return fmt.Errorf("memnet: payload of %d bytes exceeds UDP maximum", len(p.Data))
	}
	l := c.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.lclosed {
		return transport.ErrClosed
	}
	dst := p.Dst.Addr().Unmap()
	zone := dst.Zone()
	dst = dst.WithZone("")
	v4 := dst.Is4()
	if !c.family(v4) {
		return fmt.Errorf("%w: Conn has no IPv%s socket", transport.ErrNoInterface, ipv(v4))
	}
	multicast := dst.IsMulticast()
	ifc, err := c.route(p.IfIndex, zone, dst, multicast)
	if err != nil {
		return err
	}
	if !ifc.up {
		return fmt.Errorf("%w: %s", ErrInterfaceDown, ifc.name)
	}
	if multicast && !ifc.multicast {
		return fmt.Errorf("%w: %s has no multicast", transport.ErrNoInterface, ifc.name)
	}
	src := ifc.src(v4)
	if !src.IsValid() {
		return fmt.Errorf("%w: %s has no IPv%s address", transport.ErrNoInterface, ifc.name, ipv(v4))
	}
	ttl := p.TTL
	if ttl <= 0 || ttl > 255 {
		ttl = DefaultTTL
	}
	m := &message{
		data:      append([]byte(nil), p.Data...),
		src:       netip.AddrPortFrom(src, c.port),
		dst:       netip.AddrPortFrom(dst, p.Dst.Port()),
		ttl:       ttl,
		multicast: multicast,
		v4:        v4,
	}
	n := uint64(len(m.data))
	h := c.host
	c.sent++
	c.sentBytes += n
	h.stats.Sent++
	h.stats.SentBytes += n
	l.stats.Sent++
	l.stats.SentBytes += n
	oversize := len(m.data) > mdns.MaxPayload(ifc.mtu, v4)
	if oversize {
		h.stats.Oversize++
		l.stats.Oversize++
	}
	l.tapLocked(ifc.seg, h.name, ifc.index, m, false, oversize)
	l.transmit(ifc.seg, ifc, m, c.loop, nil)
	return nil
}

func ipv(v4 bool) string {
	if v4 {
		return "4"
	}
	return "6"
}

// route picks the sending interface among the Conn's. Called with lan.mu.
func (c *Conn) route(index int, zone string, dst netip.Addr, multicast bool) (*Iface, error) {
	h := c.host
	if index != 0 {
		for _, ifc := range h.ifaces {
			if ifc.index == index && c.wants(ifc.name) {
				return ifc, nil
			}
		}
		return nil, fmt.Errorf("%w: index %d", transport.ErrNoInterface, index)
	}
	if zone != "" {
		for _, ifc := range h.ifaces {
			if ifc.name == zone && c.wants(ifc.name) {
				return ifc, nil
			}
		}
		return nil, fmt.Errorf("%w: zone %q", transport.ErrNoInterface, zone)
	}
	if multicast || (dst.Is6() && dst.IsLinkLocalUnicast()) {
		return nil, fmt.Errorf("%w: %v needs an interface index", transport.ErrNoInterface, dst)
	}
	var down *Iface
	for _, ifc := range h.ifaces {
		if !c.wants(ifc.name) {
			continue
		}
		for _, pf := range ifc.prefixes {
			if pf.Contains(dst) {
				if ifc.up {
					return ifc, nil
				}
				if down == nil {
					down = ifc
				}
			}
		}
	}
	if down != nil {
		return down, nil // reported as ErrInterfaceDown by the caller
	}
	return nil, fmt.Errorf("%w: no route to %v", transport.ErrNoInterface, dst)
}

// Interfaces returns a snapshot of the Conn's interfaces; V4 / V6 report
// group membership (a Conn on port 5353, the family enabled, the interface
// multicast-capable and holding an address of the family).
func (c *Conn) Interfaces() []transport.Interface {
	l := c.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []transport.Interface
	for _, ifc := range c.host.ifaces {
		if c.wants(ifc.name) {
			out = append(out, ifc.snapshot(c))
		}
	}
	return out
}

// Stats returns the Conn's cumulative counters.
func (c *Conn) Stats() ConnStats {
	l := c.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	s := c.rstats
	s.Sent, s.SentBytes, s.Queued = c.sent, c.sentBytes, c.hub.Queued()
	return s
}

// Close closes the Conn and every View (their queues are closed; packets
// still queued can be read). Safe to call twice.
func (c *Conn) Close() error {
	l := c.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeConnLocked(c)
	return nil
}

func (l *LAN) closeConnLocked(c *Conn) {
	if c.lclosed {
		return
	}
	c.lclosed = true
	h := c.host
	h.conns = slices.DeleteFunc(h.conns, func(o *Conn) bool { return o == c })
	for _, ifc := range h.ifaces {
		ifc.conns = slices.DeleteFunc(ifc.conns, func(o *Conn) bool { return o == c })
	}
	c.hub.Close()
}
