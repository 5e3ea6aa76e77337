package transport

import (
	"errors"
	"net/netip"

	"github.com/chorus-services/discovery/mdns"
)

// Packet is the one family-agnostic seam between the protocol layers
// (responder, browser) and the sockets (UDP or the in-memory LAN).
//
// On receive: Data is the UDP payload, Src the sender, Dst the destination
// address the datagram was sent to (the group, or our unicast address),
// IfIndex the receiving interface, TTL the received IP TTL / hop limit
// (-1 when the platform cannot report it) and Multicast whether Dst is a
// multicast group.
//
// On send: Data, Dst and IfIndex are used. Dst is either the mDNS group of
// one family (see GroupV4 / GroupV6) or a unicast address; IfIndex names the
// interface to send on (required for the group and for IPv6 link-local
// destinations). TTL 0 means the RFC 6762 §11 default of 255.
type Packet struct {
	Data      []byte
	Src       netip.AddrPort
	Dst       netip.AddrPort
	IfIndex   int
	TTL       int
	Multicast bool
}

// The mDNS group destinations (RFC 6762 §3, §5).
var (
	GroupV4 = netip.AddrPortFrom(mdns.GroupV4, mdns.Port)
	GroupV6 = netip.AddrPortFrom(mdns.GroupV6, mdns.Port)
)

// Group returns the mDNS group destination of the family of a.
func Group(a netip.Addr) netip.AddrPort {
	if a.Unmap().Is4() {
		return GroupV4
	}
	return GroupV6
}

// IsV4 reports whether the packet travels over IPv4 (by its destination,
// or by its source when no destination is known).
func (p *Packet) IsV4() bool {
	if p.Dst.IsValid() {
		return p.Dst.Addr().Unmap().Is4()
	}
	return p.Src.Addr().Unmap().Is4()
}

// Interface describes one interface a Conn sends and receives on.
type Interface struct {
	Index int
	Name  string
	MTU   int
	// Flags as reported by the OS, reduced to what mDNS needs.
	Up, Multicast, Loopback bool
	// Prefixes are the interface's addresses with their prefix length.
	// IPv6 link-local addresses carry no zone.
	Prefixes []netip.Prefix
	// V4 and V6 report whether this Conn joined the group of that family on
	// this interface.
	V4, V6 bool
}

// OnLink reports whether a is on one of the interface's subnets
// (RFC 6762 §11: responses are only accepted from, and unicast replies only
// sent to, on-link sources). IPv6 link-local addresses are always on-link,
// and so is every source on a loopback interface: only this host sends on
// it, and the kernel gives its packets the address of another interface
// (a LAN address) as often as a loopback one.
func (ifc *Interface) OnLink(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if a.Is6() && a.IsLinkLocalUnicast() {
		return true
	}
	if ifc.Loopback {
		return true
	}
	for _, p := range ifc.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addrs returns the interface's addresses of one family.
func (ifc *Interface) Addrs(v4 bool) []netip.Addr {
	var out []netip.Addr
	for _, p := range ifc.Prefixes {
		if p.Addr().Unmap().Is4() == v4 {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// MaxPayload is the largest UDP payload that fits the interface MTU without
// IP fragmentation: MTU − 20 (IPv4) − 8 (UDP), or MTU − 40 (IPv6) − 8
// (RFC 6762 §17). An unknown MTU is taken as 1500.
func (ifc *Interface) MaxPayload(v4 bool) int {
	return mdns.MaxPayload(ifc.MTU, v4)
}

// Conn sends and receives mDNS datagrams on a set of interfaces.
// Implementations: the UDP sockets of this package (Listen) and the in-memory
// LAN (package memnet). Its readers are Views: one per protocol layer, each
// with its own prefilter and bounded queue, all fed by the Conn's receiving
// goroutine. A Conn is safe for concurrent use.
type Conn interface {
	// View attaches a reader: every later packet its Filter accepts, and
	// every later interface event (see View). It fails with ErrClosed
	// after Close.
	View(cfg ViewConfig) (*View, error)
	// WritePacket sends p.Data to p.Dst on interface p.IfIndex.
	WritePacket(p *Packet) error
	// Interfaces returns a snapshot of the interfaces this Conn uses.
	Interfaces() []Interface
	// Close releases the sockets and closes every View. Safe to call
	// twice. Only whoever opened the Conn closes it.
	Close() error
}

// ErrClosed is returned by a Conn after Close.
var ErrClosed = errors.New("transport: connection closed")

// ErrNoInterface is returned when a packet names an interface the Conn does
// not use, or when no usable interface is found.
var ErrNoInterface = errors.New("transport: no such interface")

// EventKind says what changed on an interface.
type EventKind int

// The interface event kinds.
const (
	IfaceUp EventKind = iota + 1
	IfaceDown
	AddrAdded
	AddrRemoved
)

func (k EventKind) String() string {
	switch k {
	case IfaceUp:
		return "up"
	case IfaceDown:
		return "down"
	case AddrAdded:
		return "addr-added"
	case AddrRemoved:
		return "addr-removed"
	}
	return "unknown"
}

// Event reports one change of an interface or of one of its addresses.
type Event struct {
	Kind    EventKind
	IfIndex int
	IfName  string
	Prefix  netip.Prefix // for AddrAdded / AddrRemoved
}
