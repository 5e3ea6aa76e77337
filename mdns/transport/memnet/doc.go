// Package memnet is an in-memory multicast LAN that implements
// transport.Conn, so the mDNS responder and browser can be tested
// deterministically (under testing/synctest) and simulated at scale
// (hundreds to thousands of hosts) without sockets.
//
// # Topology
//
// A LAN has named segments (broadcast domains). A Host has one or more
// interfaces (Iface), each attached to one segment, with an index, a name,
// an MTU (default 1500), flags (up, multicast, loopback) and IPv4/IPv6
// prefixes. Unless explicit prefixes are given, an interface gets automatic
// addresses: the n-th auto-addressed interface on segment number s (0-based,
// in creation order; n from 1) gets 10.s.(n/256).(n%256)/16 and
// fe80::(s+1):n/64 (hex groups), plus 2001:db8:s::n/64 with
// IfaceConfig.GlobalV6.
//
// A Host may open several Conns (port sharing, like SO_REUSEPORT): every
// Conn bound to the mDNS port 5353 joins both mDNS groups on all of its
// interfaces and receives its own copy of every group packet. A Conn opened
// on another port (ListenOptions.Port) emulates a legacy unicast querier
// (RFC 6762 §6.7): it joins no group and receives only unicast sent to its
// port.
//
// # Packet flow
//
//	Conn.WritePacket / LAN.Inject
//	  │  validate, copy Data once (shared, immutable), fill Src/TTL,
//	  │  count stats (oversize: payload > MTU−28 / MTU−48), call taps
//	  ▼
//	segment: pick receiving interfaces
//	  │  multicast → every up, multicast interface on the segment that has an
//	  │              address of the family (the sending interface itself only
//	  │              with multicast loopback, immediately and losslessly)
//	  │  unicast   → the interface(s) holding Dst on the segment
//	  ▼
//	impairments of the receiving link (Iface.SetLink, else the segment's
//	Link), drawn per receiving interface from the segment's seeded
//	math/rand/v2 source: loss, duplication, latency + jitter, reordering
//	  │  zero total delay → delivered synchronously, inside WritePacket
//	  │  otherwise       → one LAN-wide min-heap, drained by a single
//	  │                    time.AfterFunc timer re-armed for the earliest
//	  │                    delivery (no goroutine per packet, none when idle)
//	  ▼
//	per-Conn bounded receive queue (ListenOptions.QueueLen, default 256;
//	overflow is dropped and counted) → Conn.ReadPacket copies into buf
//
// Received packets carry Src = sender interface address of the family
// (IPv6: link-local preferred, no zone) with the sender Conn's port, Dst,
// IfIndex of the receiving interface, TTL (255 unless the writer or the
// injector chose another) and Multicast.
//
// # Virtual time
//
// All delays use the time package only (time.Now, time.AfterFunc), so under
// testing/synctest every delivery happens at exactly the virtual instant
// write time + latency (+ jitter/reorder draws). The LAN starts no
// goroutine of its own: the timer's callback runs only while deliveries are
// pending, and a goroutine blocked in ReadPacket is durably blocked on
// channels. Create the LAN, its hosts and Conns inside the bubble that uses
// them (channels and timers are bound to the bubble that creates them), and
// call LAN.Close before the bubble ends: it stops the timer, drops in-flight
// packets and closes every Conn and event channel.
//
// # Concurrency
//
// Everything is safe for concurrent use; a Conn supports one reader and
// many writers. Taps run synchronously under the LAN lock, in send order,
// and must neither block nor call back into the LAN.
package memnet
