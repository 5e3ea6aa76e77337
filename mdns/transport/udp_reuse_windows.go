//go:build windows

package transport

import "syscall"

// reuseControl sets SO_REUSEADDR before bind, so that several mDNS stacks
// share UDP port 5353 (RFC 6762 §15.1). Windows has no SO_REUSEPORT; its
// SO_REUSEADDR already allows the sharing.
func reuseControl(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
