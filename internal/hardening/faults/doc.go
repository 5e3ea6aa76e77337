// Package faults holds the fault-hardening tests of issue #8: real
// `p2p-mdns` processes in the network-namespace LANs of internal/netns,
// faults injected from outside them, and the same closing check for every
// test ("nothing lost": every node still running lists every other in
// Peers() and is connected to it, in a stats event emitted after the check
// began; `run --stats` prints them).
//
// The package has no code of its own; its tests (root only, each skips
// without root or under -short, and fails instead under
// DISCOVERY_REQUIRE_NETNS=1; they run in parallel, 25–45 s in all):
//
//   - TestIfaceDownUp: a node's lan0 goes down for 2 s and up. It flushes
//     the peers learnt on lan0 (lost), re-probes and re-announces after
//     link up (RFC 6762 §8) and re-finds them with their full address sets;
//     the others never lose it, and re-find it with the address set Linux
//     left it (its static IPv6 address is flushed on down) and again with
//     the full set once the address is back.
//   - TestAddrAddRemove: an IPv4 and an IPv6 address added to a node's lan0
//     reach the others as an `updated` event; removed, they are withdrawn
//     with goodbyes for their A/AAAA records (TTL 0 on the wire, §10.1)
//     and the others update the node back to its original set. Nobody is
//     lost meanwhile.
//   - TestSocketErrors: `ss -K` destroys a node's mDNS sockets
//     (SOCK_DESTROY) under it. The node logs the failure, counts it in
//     Metrics.Transport (ReadErrors, Reopens), reopens both sockets, and a
//     node started afterwards and it find each other and connect; the
//     existing peer is never lost.
//   - TestAvahiShares5353: avahi-daemon and a node share UDP 5353 in one
//     namespace: the node and a peer elsewhere find each other, avahi-browse
//     through that daemon resolves both, and a service avahi publishes
//     there is found by both nodes.
//   - TestNameConflict: two announcers forced to the same instance name
//     start together; the RFC 6762 §8.2 tie-break makes exactly one (host
//     1, the lexicographically earlier A record) rename; a third node finds
//     both with their full address sets and still lists both at the end.
//
// Socket recovery itself is tested in mdns/transport (a fault-injection
// seam, deterministic under synctest, and real sockets broken in a
// namespace).
package faults
