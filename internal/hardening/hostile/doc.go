// Package hostile holds the hardening tests against hostile input (issue
// #8, first half). Every test runs real sockets inside network namespaces
// built by internal/netns (never on the machine's real interfaces), needs
// root, skips under -short or without root, and fails instead of skipping
// when DISCOVERY_REQUIRE_NETNS=1. The nodes under test are `p2p-mdns run
// --json --stats 250ms` processes, read through their stats events (Go
// heap, goroutines, discovery.Metrics() with every layer's drop counters
// per reason, Peers(), connected peers). The traffic generator is the
// non-test package flood.
//
//   - TestFlood: a node connected to one real peer is flooded from a third
//     host with 100,000 distinct fake go-libp2p peers per second
//     (-flood.rate), plus random garbage (10 %), irrelevant but
//     well-formed mDNS chatter (10 %), TTL-64 and off-link packets (2 %
//     each), for 10 s (-flood.duration=60s or DISCOVERY_FLOOD_DURATION=60s
//     for the full run). Proves: Go heap in use stays below 64 MB
//     with no growth from the first half of the flood to the second; the
//     goroutine count stays flat; the real peer stays in Peers() and
//     connected at every sample and afterwards; the dialer never has more
//     attempts in flight than its cap while it is saturated with fake
//     peers; drops are counted per reason (TTL, off-link, malformed,
//     irrelevant, queue full, evicted) in the browser and the responder,
//     each non-zero where the traffic calls for it and never above what
//     the traffic belonging to it could cause. The achieved rate is
//     logged.
//   - TestSpoof/StolenID: an impostor (a libp2p host with its own key)
//     announces the real peer's ID with its own address before the real
//     peer exists: the node dials it once, the security handshake fails
//     (peer ID mismatch), which is reported as dial_failed and not retried
//     while the impostor keeps answering; when the real peer starts, and
//     after the impostor re-announces, the node's addresses for the ID
//     still include the real peer's and the node is connected to it.
//   - TestSpoof/TTL, /OffLink, /MismatchedID: announcements with IP TTL
//     64, from an off-link source address, or whose dnsaddrs name two
//     different peer IDs are dropped and counted (DroppedTTL,
//     DroppedOffLink, DroppedMalformed rise by exactly the packets sent)
//     and yield no peer, while the same announcement sent correctly is
//     accepted (so the drops are due to the spoofed property).
//   - TestAmplification/OffLink: a unicast query to port 5353 from an
//     off-link address gets no answer (VU#550620), although the node has
//     a route back, and is counted as dropped.
//   - TestAmplification/OnLink: a legacy unicast query from an on-link
//     random port, as dig sends it, gets exactly one answer: ID and
//     question echoed, TTLs ≤ 10 s, within dig's 1232 bytes.
//   - TestCloseDuringFlood: the facade with auto-connect runs in a child
//     process inside a namespace (so that its libp2p dials stay there too)
//     and is flooded; Close returns within 3 s and, once the host is
//     closed as well, goleak finds no goroutine that was not there before.
//
// "Nothing lost": after every test above the real peer, which still
// exists, is checked to be in Peers() and connected.
//
// Known limits (measured, not asserted): the node reads about 5 % of a
// 124,000 datagram/s flood (the kernel drops the rest at the socket); a
// peer that first appears during a flood of distinct peers is evicted
// before its records are refreshed, so it is found (established) only once
// the flood subsides, although it connects if it dials the node itself;
// and the dialer's queue fills with fake peers (up to its MaxPeers), each
// dialled until it fails.
package hostile
