// Package netns builds throw-away virtual LANs out of Linux network
// namespaces for tests that need real sockets.
//
// New creates a bridge namespace holding br0 and one veth port per host, and
// n host namespaces, each holding the peer end "lan0" with fixed addresses:
//
//	host i: MAC 02:53:00:00:00:0i, 198.51.100.(10+i)/24,
//	        2001:db8:53::(10+i)/64 and the kernel's fe80:: address
//
// The bridge forwards all multicast (mcast_snooping 0) and has IPv6
// disabled on br0 and its ports, so it sends nothing itself. Every name
// starts with a prefix unique to the test (dsc-<pid>-<counter>-), and
// t.Cleanup kills what runs in the namespaces and deletes them; Sweep
// removes namespaces left behind by crashed runs of this harness. Build is
// New for programs (such as cmd/mdns-bench): it returns an error instead of
// skipping, and the caller deletes the LAN with Close.
//
// No traffic ever touches the machine's real interfaces: tests open their
// sockets inside a host namespace (Do) or run commands there (Exec).
//
// The harness needs Linux, root and the ip command (iproute2); otherwise New
// skips the test and Build returns an error wrapping ErrUnavailable.
package netns

import (
	"net"
	"net/netip"
	"strconv"
)

// Prefix starts the name of every namespace this harness creates.
const Prefix = "dsc-"

// LinkName is the name of each host's interface on the LAN.
const LinkName = "lan0"

// Host describes one host namespace of a Net.
type Host struct {
	Index     int              // 1-based
	NS        string           // namespace name
	Link      string           // LinkName
	IfIndex   int              // index of Link inside NS
	MAC       net.HardwareAddr // 02:53:00:00:00:<Index>
	V4        netip.Prefix     // 198.51.100.(10+Index)/24
	V6        netip.Prefix     // 2001:db8:53::(10+Index)/64; invalid without IPv6
	LinkLocal netip.Addr       // the kernel's fe80:: address, no zone; invalid without IPv6
}

// Option changes how New builds the LAN.
type Option func(*options)

type options struct {
	noIPv6 bool
	noDAD  bool
}

// WithoutIPv6 disables IPv6 in the host namespaces: lan0 gets only its
// IPv4 address.
func WithoutIPv6() Option { return func(o *options) { o.noIPv6 = true } }

// WithoutDAD turns IPv6 duplicate address detection off in the host
// namespaces, so that their addresses are usable at once (a LAN of many
// hosts is ready sooner). It has no effect with WithoutIPv6.
func WithoutDAD() Option { return func(o *options) { o.noDAD = true } }

// MaxHosts bounds the hosts of one Net (the addresses are 10+i).
const MaxHosts = 50

func hostV4(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}), 24)
}

func hostV6(i int) netip.Prefix {
	// Written with the same digits as the IPv4 host part (host 1 is
	// 2001:db8:53::11), as in the shared captures' topology.
	return netip.PrefixFrom(netip.MustParseAddr("2001:db8:53::"+strconv.Itoa(10+i)), 64)
}

func hostMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x53, 0, 0, 0, byte(i)}
}

// Open runs open in host i's namespace (see Do) and returns what it
// opened: a socket or a Conn bound to that namespace.
func Open[T any](nt *Net, i int, open func() (T, error)) (T, error) {
	var v T
	err := nt.Do(i, func() error {
		var err error
		v, err = open()
		return err
	})
	return v, err
}
