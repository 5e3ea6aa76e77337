package transport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/chorus-services/discovery/mdns"
)

// defaultTTL is the IP TTL / hop limit of every mDNS packet we send
// (RFC 6762 §11: 255, so that receivers can check the packet was not
// forwarded by a router).
const defaultTTL = 255

// rxMeta is what the socket tells about one received datagram.
type rxMeta struct {
	src     netip.AddrPort // unmapped, without zone
	zone    string         // the source's zone, resolved only when ifIndex is 0
	dst     netip.Addr     // invalid when the platform cannot tell
	ifIndex int            // 0 when the platform cannot tell
	ttl     int            // -1 when the platform cannot tell
}

// famSock is the socket of one address family.
type famSock interface {
	v4() bool
	read(b []byte, m *rxMeta) (int, error)
	// write sends b to dst; ifi (nil for a routed unicast) is the interface
	// to send on, ttl the IP TTL / hop limit.
	write(b []byte, dst netip.AddrPort, ifi *net.Interface, ttl int) error
	join(ifi *net.Interface) error
	leave(ifi *net.Interface) error
	close() error
}

func familyName(v4 bool) string {
	if v4 {
		return "ipv4"
	}
	return "ipv6"
}

// listenUDP opens the family's wildcard socket on the mDNS port with
// address and port reuse, so that it coexists with other mDNS stacks on the
// host (avahi-daemon, systemd-resolved, mDNSResponder; RFC 6762 §15.1).
// For "udp6" the Go runtime sets IPV6_V6ONLY, so the two families never
// see each other's packets.
func listenUDP(v4 bool) (*net.UDPConn, error) {
	network, addr := "udp6", net.JoinHostPort("::", strconv.Itoa(mdns.Port))
	if v4 {
		network, addr = "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(mdns.Port))
	}
	lc := net.ListenConfig{Control: reuseControl}
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		_ = pc.Close()
		return nil, fmt.Errorf("transport: unexpected connection type %T", pc)
	}
	return uc, nil
}

// problemf records a socket-level problem of a family.
func problemf(v4 bool, step string, err error) Problem {
	return Problem{Family: familyName(v4), Step: step, Err: err}
}

// sockOpt is the outcome of setting one socket option at open.
type sockOpt struct {
	step string
	err  error
}

// optProblems lists the options of a family that could not be set: a
// socket works without them, less well (the Problems say how).
func optProblems(v4 bool, opts ...sockOpt) []Problem {
	var probs []Problem
	for _, o := range opts {
		if o.err != nil {
			probs = append(probs, problemf(v4, o.step, o.err))
		}
	}
	return probs
}

// fill sets m from a received datagram's source and control message
// (ifIndex 0, dst nil and ttl -1 where the platform gave none).
func (m *rxMeta) fill(src net.Addr, ifIndex int, dst net.IP, ttl int) {
	*m = rxMeta{ifIndex: ifIndex, ttl: ttl}
	m.src, m.zone = addrPortOf(src)
	if a, ok := netip.AddrFromSlice(dst); ok {
		m.dst = a.Unmap()
	}
}

// exclusiveOpts are the setters of the per-socket state a send changes
// where no control message carries it.
type exclusiveOpts struct {
	setIf               func(*net.Interface) error
	setTTL, setMcastTTL func(int) error
}

// set sets the multicast interface (ifi non-nil) and a TTL other than
// defaultTTL (the multicast option for a multicast send), and returns the
// function that restores the TTL. The caller holds the socket's exclusive
// lock until it has sent and restored.
func (o exclusiveOpts) set(ifi *net.Interface, mcast bool, ttl int) (restore func(), err error) {
	if ifi != nil {
		if err := o.setIf(ifi); err != nil {
			return nil, err
		}
	}
	if ttl == defaultTTL {
		return func() {}, nil
	}
	set := o.setTTL
	if mcast {
		set = o.setMcastTTL
	}
	if err := set(ttl); err != nil {
		return nil, err
	}
	return func() { _ = set(defaultTTL) }, nil
}

// sock4 is the IPv4 socket.
type sock4 struct {
	uc *net.UDPConn
	pc *ipv4.PacketConn
	// cmsg says whether control messages work (not on Windows).
	cmsg, haveTTL bool
	// mu: sends that change per-socket state (a TTL other than 255, or
	// IP_MULTICAST_IF where no control message selects the interface) hold
	// it exclusively, all others shared.
	mu sync.RWMutex
}

func openSock4() (*sock4, []Problem, error) {
	uc, err := listenUDP(true)
	if err != nil {
		return nil, nil, err
	}
	s := &sock4{uc: uc, pc: ipv4.NewPacketConn(uc)}
	all := sockOpt{"sockopt IP_MULTICAST_ALL", setMulticastAll(uc, true)}
	if err := s.pc.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err == nil {
		s.cmsg = true
		s.haveTTL = s.pc.SetControlMessage(ipv4.FlagTTL, true) == nil
	}
	return s, optProblems(true, all,
		sockOpt{"sockopt IP_MULTICAST_TTL", s.pc.SetMulticastTTL(defaultTTL)},
		sockOpt{"sockopt IP_TTL", s.pc.SetTTL(defaultTTL)},
		sockOpt{"sockopt IP_MULTICAST_LOOP", s.pc.SetMulticastLoopback(true)}), nil
}

func (s *sock4) v4() bool { return true }

func (s *sock4) read(b []byte, m *rxMeta) (int, error) {
	n, cm, src, err := s.pc.ReadFrom(b)
	if err != nil {
		return 0, err
	}
	if cm == nil {
		cm = &ipv4.ControlMessage{TTL: -1}
	} else if !s.haveTTL {
		cm.TTL = -1
	}
	m.fill(src, cm.IfIndex, cm.Dst, cm.TTL)
	return n, nil
}

func (s *sock4) write(b []byte, dst netip.AddrPort, ifi *net.Interface, ttl int) error {
	ua := net.UDPAddrFromAddrPort(dst)
	mcast := dst.Addr().IsMulticast()
	// Where IP_PKTINFO selects the outgoing interface of a multicast
	// packet (Linux), the control message does it per packet; elsewhere we
	// set IP_MULTICAST_IF under the exclusive lock.
	var cm *ipv4.ControlMessage
	if ifi != nil && s.cmsg && (!mcast || pktinfoSelectsV4MulticastIf) {
		cm = &ipv4.ControlMessage{IfIndex: ifi.Index}
	}
	setIf := ifi != nil && mcast && cm == nil
	if ttl == defaultTTL && !setIf {
		s.mu.RLock()
		defer s.mu.RUnlock()
		_, err := s.pc.WriteTo(b, cm, ua)
		return err
	}
	if !setIf {
		ifi = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	restore, err := exclusiveOpts{s.pc.SetMulticastInterface, s.pc.SetTTL, s.pc.SetMulticastTTL}.set(ifi, mcast, ttl)
	if err != nil {
		return err
	}
	defer restore()
	_, err = s.pc.WriteTo(b, cm, ua)
	return err
}

func (s *sock4) join(ifi *net.Interface) error {
	return s.pc.JoinGroup(ifi, &net.UDPAddr{IP: mdns.GroupV4.AsSlice()})
}

func (s *sock4) leave(ifi *net.Interface) error {
	return s.pc.LeaveGroup(ifi, &net.UDPAddr{IP: mdns.GroupV4.AsSlice()})
}

func (s *sock4) close() error { return s.uc.Close() }

// sock6 is the IPv6 socket.
type sock6 struct {
	uc            *net.UDPConn
	pc            *ipv6.PacketConn
	cmsg, haveHop bool
	mu            sync.RWMutex // as in sock4
}

func openSock6() (*sock6, []Problem, error) {
	uc, err := listenUDP(false)
	if err != nil {
		return nil, nil, err
	}
	s := &sock6{uc: uc, pc: ipv6.NewPacketConn(uc)}
	all := sockOpt{"sockopt IPV6_MULTICAST_ALL", setMulticastAll(uc, false)}
	if err := s.pc.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true); err == nil {
		s.cmsg = true
		s.haveHop = s.pc.SetControlMessage(ipv6.FlagHopLimit, true) == nil
	}
	return s, optProblems(false, all,
		sockOpt{"sockopt IPV6_MULTICAST_HOPS", s.pc.SetMulticastHopLimit(defaultTTL)},
		sockOpt{"sockopt IPV6_UNICAST_HOPS", s.pc.SetHopLimit(defaultTTL)},
		sockOpt{"sockopt IPV6_MULTICAST_LOOP", s.pc.SetMulticastLoopback(true)}), nil
}

func (s *sock6) v4() bool { return false }

func (s *sock6) read(b []byte, m *rxMeta) (int, error) {
	n, cm, src, err := s.pc.ReadFrom(b)
	if err != nil {
		return 0, err
	}
	if cm == nil {
		cm = &ipv6.ControlMessage{HopLimit: -1}
	} else if !s.haveHop {
		cm.HopLimit = -1
	}
	m.fill(src, cm.IfIndex, cm.Dst, cm.HopLimit)
	return n, nil
}

func (s *sock6) write(b []byte, dst netip.AddrPort, ifi *net.Interface, ttl int) error {
	ua := net.UDPAddrFromAddrPort(dst)
	mcast := dst.Addr().IsMulticast()
	if ifi != nil && (dst.Addr().IsLinkLocalUnicast() || mcast) {
		// The scope of a link-local destination (RFC 4007 §6).
		ua.Zone = strconv.Itoa(ifi.Index)
	}
	// IPV6_PKTINFO and IPV6_HOPLIMIT select interface and hop limit per
	// packet (RFC 3542 §6); without control messages (Windows) we set the
	// socket options under the exclusive lock.
	if s.cmsg {
		var cm *ipv6.ControlMessage
		if ifi != nil || ttl != defaultTTL {
			cm = &ipv6.ControlMessage{HopLimit: ttl}
			if ifi != nil {
				cm.IfIndex = ifi.Index
			}
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		_, err := s.pc.WriteTo(b, cm, ua)
		return err
	}
	if !mcast {
		ifi = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	restore, err := exclusiveOpts{s.pc.SetMulticastInterface, s.pc.SetHopLimit, s.pc.SetMulticastHopLimit}.set(ifi, mcast, ttl)
	if err != nil {
		return err
	}
	defer restore()
	_, err = s.pc.WriteTo(b, nil, ua)
	return err
}

func (s *sock6) join(ifi *net.Interface) error {
	return s.pc.JoinGroup(ifi, &net.UDPAddr{IP: mdns.GroupV6.AsSlice()})
}

func (s *sock6) leave(ifi *net.Interface) error {
	return s.pc.LeaveGroup(ifi, &net.UDPAddr{IP: mdns.GroupV6.AsSlice()})
}

func (s *sock6) close() error { return s.uc.Close() }

// addrPortOf converts a received source address: IPv4-mapped addresses are
// unmapped and the zone is dropped (returned separately).
func addrPortOf(a net.Addr) (netip.AddrPort, string) {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}, ""
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), ua.Zone
}
