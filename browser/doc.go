// Package browser is an RFC 6762 continuous querier that finds the libp2p
// peers of one service on every interface of a transport.Conn and reports
// them as peer.AddrInfo events (Found, Updated, Lost, and optionally
// Probing). It reads every record layout the mdns package decodes:
// go-libp2p, rust-libp2p, js-libp2p and DNS-SD announcers (Avahi, Bonjour,
// python-zeroconf), from responses to our queries, unsolicited
// announcements and answers to other hosts' queries (passive learning).
//
// Packet flow:
//
//	Conn.ReadPacket ── read loop (one goroutine, never blocks on the protocol)
//	   │ IP TTL ≠ 255 → drop (§11)       mdns.Filter miss → drop (no alloc)
//	   ▼
//	bounded receive queue (full → drop, counted)
//	   ▼
//	protocol loop (one goroutine, owns the state under one mutex)
//	   │ source not on the receiving link → drop (§11)
//	   │ mdns.Parse / Classify (malformed → drop, counted)
//	   ├─ query/probe of another host → §7.3 duplicate suppression, §10.5 POOF
//	   └─ response/goodbye (port 5353; or ephemeral for rust-libp2p)
//	        → Decoder.Decode → own ID? drop
//	        → cache (§10): PTR + TXT records keyed by iface/name/type/rdata,
//	          cache-flush 1 s rule (§10.2), goodbye → 1 s (§10.1)
//	        → address filters (loopback, foreign /p2p, /ip6zone, AddrFilter)
//	        → peer model: one entry per peer ID, union of its live records
//	   ▼
//	dispatcher: bounded queue, coalescing, drops counted → Events()
//	Peers(): the current peer set, always readable
//
//	timers (same loop): browse queries at 20–120 ms, then 1 s doubling to
//	60 min (§5.2), QU on an interface's first (§5.4), known answers with
//	more than half their TTL left (§7.1) over TC-linked packets (§7.2);
//	refresh queries at 80/85/90/95 % (+0–2 %) of a record's TTL (§5.2);
//	expiry; POOF deadlines (§10.5).
//
// # Choices
//
// Only the records a browse needs are cached: the service's PTR records
// (the known answers of our question) and the TXT records of its instances
// (they carry the dnsaddr multiaddrs). SRV and A/AAAA records are used by
// the decoder within one packet only.
//
// rust-libp2p answers from an ephemeral source port, which RFC 6762 §6 says
// to ignore. Such responses are accepted by default for our service only:
// their TXT records feed the peer model, but their other records are never
// cached, and queries from ports other than 5353 (legacy queries, §6.7) do
// not count for duplicate suppression or POOF. Set
// Config.DisableEphemeralPort for strict §6 behaviour. rust-libp2p points
// its PTR at a new random label in every response, so its TXT records are
// cached per peer ID and rdata, and its PTRs are not cached (it ignores known
// answers anyway).
//
// rust-libp2p also leaves the multicast TTL at the OS default of 1, while
// §11 has responders send TTL 255 and the Browser drops other TTLs; with
// ephemeral-port responses accepted, packets from a port other than 5353
// are exempt from the TTL check (a TTL-1 multicast cannot have crossed a
// router; the on-link source check still applies).
//
// Duplicate question suppression (§7.3) treats our scheduled query as sent
// when another host asked the same QM question since our last query, with
// only known answers we would also send; a query with the TC bit is not used
// (its known answers continue elsewhere).
//
// Loopback multiaddrs are dropped unless the packet came from a loopback
// source or interface: announced by a peer on another host they would
// dial ourselves. Addresses containing a /p2p component of another peer
// (other than a relay hop before /p2p-circuit) are dropped. IPv6
// link-local addresses get /ip6zone/<receiving interface name> in front.
//
// The bounds evict scan-resistantly: a peer becomes established when one
// of its records is received again at least 500 ms after it was first
// cached (it answered a query or re-announced), and established peers and
// their records are evicted only when no other peer or record is left. A
// flood of distinct peers, each seen once, churns through the rest and
// never displaces them (issue #8).
//
// Feed processes a packet at a given time without Run, for captures and
// benchmarks.
package browser
