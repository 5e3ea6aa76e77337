// Package transport moves mDNS datagrams between the protocol layers
// (responder, browser) and the network.
//
// Everything crosses one seam, Packet, through the Conn interface:
//
//	receive:  UDP sockets (IPv4 0.0.0.0:5353, IPv6 [::]:5353)
//	            └─ one reader goroutine per family, control messages give
//	               interface index, destination and received TTL
//	               └─ bounded queue (full → drop and count)
//	                  └─ ReadPacket → Packet{Data, Src, Dst, IfIndex, TTL, Multicast}
//	                     └─ protocol (checks TTL 255 and on-link source, RFC 6762 §11)
//
//	send:     protocol → WritePacket(Packet{Data, Dst, IfIndex})
//	            ├─ Dst = GroupV4 / GroupV6: sent on interface IfIndex
//	            │  (IP_PKTINFO / IPV6_PKTINFO per packet, or IP_MULTICAST_IF)
//	            └─ Dst unicast: sent to it (IfIndex pins the interface and is
//	               the scope of an IPv6 link-local address)
//	            all with TTL / hop limit 255 (RFC 6762 §11)
//
// Two Conns exist: UDP (Listen), over the host's sockets, and the in-memory
// LAN of package memnet for tests. UDP shares port 5353 with other mDNS
// stacks on the host (SO_REUSEADDR, SO_REUSEPORT; RFC 6762 §15.1), joins
// 224.0.0.251 and ff02::fb on each selected interface (RFC 6762 §5) and
// keeps multicast loopback on, so that several stacks on one host hear each
// other.
//
// Interfaces come and go: a Watcher reports changes (netlink on Linux,
// polling elsewhere), on which the owner calls UDP.Refresh to join and
// leave groups, and re-announces (RFC 6762 §13). On Linux an IPv6 address
// still under duplicate address detection is not listed (sends from it
// fail) until the detection ends, when the Watcher reports it added.
// Failures that do not stop the Conn — an unavailable family, a group that
// cannot be joined on one interface, a socket failing — are logged and
// listed by UDP.Problems.
//
// Sockets fail and recover (udp_recover.go): a family's reader retries a
// failed read with exponential backoff (50 ms doubling to 5 s) and closes
// and reopens the socket — port 5353, same options, the group joined again
// on every interface the family used — when the error says the socket is
// gone (closed under us, EBADF, ENOTSOCK, ECONNABORTED from SOCK_DESTROY)
// or after four failed reads in a row. The other family is untouched and
// Close stops a reader that is backing off or reopening. UDP.Stats counts
// ReadErrors, WriteErrors, Reopens and ReopenFailures; the current failure
// is in Problems (step "read" or "reopen"); each episode is logged once at
// Warn. A failed send is counted and returned, never acted on: a socket
// that is gone fails its reads too, and the other send errors (no route,
// address gone, no buffer space) would meet a new socket just the same.
//
// Platform notes: Windows has no control messages in golang.org/x/net, so
// there the receiving interface is inferred from the source address, Dst is
// taken to be the group and TTL is -1; IPv4 multicast sends outside Linux
// set IP_MULTICAST_IF under a lock.
package transport
