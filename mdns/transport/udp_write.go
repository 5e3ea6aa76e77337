package transport

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

func netipAddrPort(a netip.Addr, port uint16) netip.AddrPort {
	if !a.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, port)
}

// WritePacket sends p.Data to p.Dst. Safe for concurrent use.
//
//   - Dst a multicast group (GroupV4, GroupV6): sent on interface
//     p.IfIndex, which must be joined in that family, else ErrNoInterface.
//   - Dst unicast: sent to it; p.IfIndex, when not 0, must be an interface
//     in use and pins the outgoing interface. An IPv6 link-local Dst needs
//     p.IfIndex (its scope).
//
// The IP TTL / hop limit is 255 (RFC 6762 §11), or p.TTL when it is in
// 1…254. After Close it returns ErrClosed.
func (u *UDP) WritePacket(p *Packet) error {
	if u.closed() {
		return ErrClosed
	}
	dst := netip.AddrPortFrom(p.Dst.Addr().Unmap(), p.Dst.Port())
	a := dst.Addr()
	if !a.IsValid() || dst.Port() == 0 || a.IsUnspecified() {
		return fmt.Errorf("transport: invalid destination %v", p.Dst)
	}
	v4 := a.Is4()
	s := u.sock(v4)
	if s == nil {
		return fmt.Errorf("%w: %s not in use", ErrNoInterface, familyName(v4))
	}
	// The zone of a link-local destination, when the caller gave one and
	// no IfIndex, names the interface.
	ifIndex := p.IfIndex
	if ifIndex == 0 && a.Zone() != "" {
		ifIndex = zoneIndex(a.Zone())
	}
	a = a.WithZone("")
	dst = netip.AddrPortFrom(a, dst.Port())

	needIf := a.IsMulticast() || (!v4 && a.IsLinkLocalUnicast())
	var ifi *net.Interface
	if ifIndex != 0 || needIf {
		u.mu.RLock()
		ifc := u.ifs[ifIndex]
		ok := ifc != nil && (!a.IsMulticast() || (v4 && ifc.V4) || (!v4 && ifc.V6))
		if ok {
			ifi = netInterface(ifc)
		}
		u.mu.RUnlock()
		if !ok {
			return fmt.Errorf("%w: interface %d not in use for %s to %v", ErrNoInterface, ifIndex, familyName(v4), a)
		}
	}
	ttl := p.TTL
	if ttl <= 0 || ttl > defaultTTL {
		ttl = defaultTTL
	}
	if err := s.write(p.Data, dst, ifi, ttl); err != nil {
		if u.closed() {
			return ErrClosed
		}
		// Counted, not acted on: a socket that is gone fails its reads
		// too, and its reader reopens it (udp_recover.go; a send racing
		// with that reopen may find the old socket closed); the other
		// send errors (ENETUNREACH, EADDRNOTAVAIL, ENOBUFS, a firewall's
		// EPERM) are about routes and interfaces, which a new socket would
		// meet just the same.
		u.writeErrs.Add(1)
		err = fmt.Errorf("transport: send to %v: %w", dst, err)
		u.logSendError(ifIndex, err)
		return err
	}
	return nil
}

// sendWarnEvery bounds the send-failure warnings: one per interval, the
// others at debug level (a link in trouble fails every send).
const sendWarnEvery = 10 * time.Second

func (u *UDP) logSendError(ifIndex int, err error) {
	now, last := time.Now().UnixNano(), u.lastWarn.Load()
	if now-last >= int64(sendWarnEvery) && u.lastWarn.CompareAndSwap(last, now) {
		u.log.Warn("send failed", "if", ifIndex, "err", err, "failures", u.writeErrs.Load())
		return
	}
	u.log.Debug("send failed", "if", ifIndex, "err", err)
}
