//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package transport

import "syscall"

// reuseControl does nothing on platforms without a known way to share the
// port; binding 5353 then fails when another mDNS stack holds it.
func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }
