//go:build !linux

package transport

import "net"

// pktinfoSelectsV4MulticastIf: outside Linux we do not rely on IP_PKTINFO
// to pick the interface of an IPv4 multicast send and set IP_MULTICAST_IF
// instead (under a lock).
const pktinfoSelectsV4MulticastIf = false

// setMulticastAll: only Linux has IP_MULTICAST_ALL; elsewhere a socket
// receives only the groups it joined.
func setMulticastAll(_ *net.UDPConn, _ bool) error { return nil }
