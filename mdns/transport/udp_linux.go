//go:build linux

package transport

import (
	"net"

	"golang.org/x/sys/unix"
)

// pktinfoSelectsV4MulticastIf: on Linux the interface index of IP_PKTINFO
// selects the outgoing interface of a multicast packet, so sends need no
// shared IP_MULTICAST_IF state.
const pktinfoSelectsV4MulticastIf = true

// setMulticastAll turns IP_MULTICAST_ALL / IPV6_MULTICAST_ALL off. With it
// on (the Linux default) a socket bound to the wildcard address receives
// the packets of every group joined by any socket of the host on any
// interface — including interfaces another mDNS stack joined and we did
// not select. Off, only our own memberships deliver to us.
func setMulticastAll(uc *net.UDPConn, v4 bool) error {
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if v4 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
