package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
)

// SelectInterfaces enumerates the interfaces of the calling thread's network
// namespace and returns those a Conn would use:
//
//   - names empty: every interface that is up and multicast-capable and not
//     a loopback interface, plus the up loopback interfaces when
//     includeLoopback is set;
//   - names given: exactly those interfaces, whatever their state (a Conn
//     joins the group on them once they are up and have an address of the
//     family). A name that does not exist is an error wrapping
//     ErrNoInterface.
//
// The result is sorted by interface index; V4 and V6 are false (nothing has
// been joined).
func SelectInterfaces(names []string, includeLoopback bool) ([]Interface, error) {
	if err := validateNames(names); err != nil {
		return nil, err
	}
	all, err := systemInterfaces()
	if err != nil {
		return nil, err
	}
	return selectInterfaces(all, names, includeLoopback, true)
}

// interfacesIn lists the interfaces (systemInterfaces) of the network
// namespace ns remembers.
func interfacesIn(ns *nsRef) ([]Interface, error) {
	var all []Interface
	err := ns.do(func() error {
		var err error
		all, err = systemInterfaces()
		return err
	})
	return all, err
}

// systemInterfaces lists every interface of the calling thread's network
// namespace with its usable addresses (on Linux, IPv6 addresses still under
// duplicate address detection are left out: see dropUnusableV6).
func systemInterfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("transport: list interfaces: %w", err)
	}
	out := make([]Interface, 0, len(ifs))
	for i := range ifs {
		addrs, err := ifs[i].Addrs()
		if err != nil {
			// The interface may have vanished between the two calls; keep
			// it without addresses rather than failing the whole listing.
			addrs = nil
		}
		out = append(out, toInterface(&ifs[i], addrs))
	}
	slices.SortFunc(out, func(a, b Interface) int { return a.Index - b.Index })
	dropUnusableV6(out)
	return out, nil
}

// toInterface converts what the net package reports. IPv4-mapped addresses
// are unmapped and zones dropped (IPv6 link-local prefixes carry no zone).
func toInterface(ifi *net.Interface, addrs []net.Addr) Interface {
	ifc := Interface{
		Index:     ifi.Index,
		Name:      ifi.Name,
		MTU:       ifi.MTU,
		Up:        ifi.Flags&net.FlagUp != 0,
		Multicast: ifi.Flags&net.FlagMulticast != 0,
		Loopback:  ifi.Flags&net.FlagLoopback != 0,
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a); ok {
			ifc.Prefixes = append(ifc.Prefixes, p)
		}
	}
	sortPrefixes(ifc.Prefixes)
	return ifc
}

func prefixOf(a net.Addr) (netip.Prefix, bool) {
	var ip net.IP
	var ones int
	switch v := a.(type) {
	case *net.IPNet:
		ip = v.IP
		ones, _ = v.Mask.Size()
	case *net.IPAddr:
		ip = v.IP
		ones = len(v.IP) * 8
		if ip.To4() != nil {
			ones = 32
		}
	default:
		return netip.Prefix{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, false
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() && ones > 32 {
		ones -= 96
	}
	p := netip.PrefixFrom(addr, ones)
	return p, p.IsValid()
}

func sortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}

func validateNames(names []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" {
			return errors.New("transport: Config.Interfaces has an empty name")
		}
		if seen[n] {
			return fmt.Errorf("transport: Config.Interfaces names %q twice", n)
		}
		seen[n] = true
	}
	return nil
}

// candidate reports whether ifc belongs to the selection, whatever its
// up/down state: named explicitly, or (no names) multicast-capable and not
// loopback, or loopback when includeLoopback.
func candidate(ifc *Interface, names []string, includeLoopback bool) bool {
	if len(names) > 0 {
		return slices.Contains(names, ifc.Name)
	}
	if ifc.Loopback {
		return includeLoopback
	}
	return ifc.Multicast
}

// selectInterfaces applies the selection to a listing (see
// SelectInterfaces). With strict, a named interface missing from all is an
// error.
func selectInterfaces(all []Interface, names []string, includeLoopback, strict bool) ([]Interface, error) {
	if strict {
		for _, n := range names {
			if !slices.ContainsFunc(all, func(ifc Interface) bool { return ifc.Name == n }) {
				return nil, fmt.Errorf("%w: unknown interface %q", ErrNoInterface, n)
			}
		}
	}
	var out []Interface
	for i := range all {
		ifc := &all[i]
		if !candidate(ifc, names, includeLoopback) {
			continue
		}
		if len(names) == 0 && !ifc.Up {
			continue
		}
		c := *ifc
		c.Prefixes = slices.Clone(ifc.Prefixes)
		c.V4, c.V6 = false, false
		out = append(out, c)
	}
	return out, nil
}

// hasFamily reports whether the interface has an address of the family.
func hasFamily(ifc *Interface, v4 bool) bool {
	for _, p := range ifc.Prefixes {
		if p.Addr().Is4() == v4 {
			return true
		}
	}
	return false
}

// wantJoin reports whether the group of the family should be joined on ifc
// (RFC 6762 §5: a responder listens on every interface it answers on). It
// needs the interface up and holding an address of the family: without one
// we could not answer with a source address of that interface. It also
// needs the multicast flag, except on explicitly named interfaces (tried
// regardless) and for IPv4 on a loopback interface: Linux's lo lacks the
// flag yet loops IPv4 multicast back, while IPv6 multicast sends on it fail
// with "network is unreachable".
func wantJoin(ifc *Interface, v4, named bool) bool {
	if !ifc.Up || !hasFamily(ifc, v4) {
		return false
	}
	return ifc.Multicast || named || (ifc.Loopback && v4)
}

// netInterface is the *net.Interface the ipv4/ipv6 packages need for joins
// and IP_MULTICAST_IF.
func netInterface(ifc *Interface) *net.Interface {
	var fl net.Flags
	if ifc.Up {
		fl |= net.FlagUp
	}
	if ifc.Multicast {
		fl |= net.FlagMulticast
	}
	if ifc.Loopback {
		fl |= net.FlagLoopback
	}
	return &net.Interface{Index: ifc.Index, Name: ifc.Name, MTU: ifc.MTU, Flags: fl}
}

// cloneInterface deep-copies ifc.
func cloneInterface(ifc *Interface) Interface {
	c := *ifc
	c.Prefixes = slices.Clone(ifc.Prefixes)
	return c
}

// zoneIndex turns the zone of a received IPv6 address into an interface
// index ("" → 0). Numeric zones are taken as they are.
func zoneIndex(zone string) int {
	if zone == "" {
		return 0
	}
	if n, err := strconv.Atoi(zone); err == nil {
		return n
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return ifi.Index
	}
	return 0
}
