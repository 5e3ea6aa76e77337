package transport

import (
	"fmt"
	"net"
	"time"
)

// BreakSocket breaks the real socket of one family under u, as a fault
// would, without u knowing (the fault-injection seam of the namespace
// tests):
//
//   - "close" closes the socket: reads fail with net.ErrClosed although
//     the Conn is open (a socket that is gone, reopened at once);
//   - "deadline" sets a read deadline in the past: every read fails with a
//     timeout, an error that does not say the socket is gone (retried with
//     backoff, then reopened).
func BreakSocket(u *UDP, v4 bool, how string) error {
	var uc *net.UDPConn
	switch s := u.sock(v4).(type) {
	case *sock4:
		uc = s.uc
	case *sock6:
		uc = s.uc
	default:
		return fmt.Errorf("no real %s socket (%T)", familyName(v4), s)
	}
	switch how {
	case "close":
		return uc.Close()
	case "deadline":
		return uc.SetReadDeadline(time.Unix(1, 0))
	}
	return fmt.Errorf("unknown fault %q", how)
}
