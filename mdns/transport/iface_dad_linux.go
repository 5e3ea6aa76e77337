//go:build linux

package transport

import (
	"encoding/binary"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// dropUnusableV6 removes from the listing the IPv6 addresses that cannot
// be used as a source yet, or at all: tentative ones (duplicate address
// detection still running, RFC 4862 §5.4; sending from them fails with
// EADDRNOTAVAIL, so probes and announcements sent then would be lost) and
// those whose detection failed. An optimistic address (RFC 4429) is usable
// and kept. The kernel notifies the end of detection (RTM_NEWADDR), so the
// Watcher lists the address then and reports it added: the responder
// probes and announces on IPv6 once it can (RFC 6762 §8).
//
// Without the netlink listing (an error) nothing is removed.
func dropUnusableV6(ifs []Interface) {
	bad, err := unusableV6()
	if err != nil || len(bad) == 0 {
		return
	}
	for i := range ifs {
		b := bad[ifs[i].Index]
		if len(b) == 0 {
			continue
		}
		kept := ifs[i].Prefixes[:0]
		for _, p := range ifs[i].Prefixes {
			if !b[p.Addr()] {
				kept = append(kept, p)
			}
		}
		ifs[i].Prefixes = kept
	}
}

// unusableV6 lists the tentative (not optimistic) and DAD-failed IPv6
// addresses of the calling thread's namespace by interface index.
func unusableV6() (map[int]map[netip.Addr]bool, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_INET6)
	if err != nil {
		return nil, err
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, err
	}
	out := map[int]map[netip.Addr]bool{}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		// struct ifaddrmsg: family, prefixlen, flags, scope (one byte
		// each), index (u32). IFA_FLAGS, when present, has all 32 bits.
		flags := uint32(m.Data[2])
		index := int(binary.NativeEndian.Uint32(m.Data[4:8]))
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			continue
		}
		var addr netip.Addr
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFA_ADDRESS:
				addr, _ = netip.AddrFromSlice(a.Value)
			case unix.IFA_FLAGS:
				if len(a.Value) >= 4 {
					flags = binary.NativeEndian.Uint32(a.Value)
				}
			}
		}
		tentative := flags&unix.IFA_F_TENTATIVE != 0 && flags&unix.IFA_F_OPTIMISTIC == 0
		if !addr.IsValid() || (!tentative && flags&unix.IFA_F_DADFAILED == 0) {
			continue
		}
		if out[index] == nil {
			out[index] = map[netip.Addr]bool{}
		}
		out[index][addr.Unmap()] = true
	}
	return out, nil
}
