//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package transport

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseControl sets SO_REUSEADDR and SO_REUSEPORT before bind, so that
// several mDNS stacks on one host (avahi-daemon, systemd-resolved,
// mDNSResponder, other instances of this package) share UDP port 5353 and
// all receive the multicast traffic (RFC 6762 §15.1).
func reuseControl(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
