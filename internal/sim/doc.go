// Package sim simulates large mDNS LANs (GitHub issue #7): N nodes, each
// running the protocol stack under test, on one in-memory memnet segment
// under testing/synctest virtual time, measuring how long discovery takes
// and how many packets it costs.
//
// # Model
//
// Run builds a memnet LAN with one segment (Params.Latency one-way delay,
// optional Jitter and per-receiver Loss drawn from the seeded segment
// source) and N hosts n0000…, each with one interface (IPv4 only, or IPv4
// plus IPv6 link-local with FamilyDual) and one Conn on port 5353. Every
// node gets a reproducible Ed25519 peer ID ("12D3KooW…") and 2–4 libp2p
// multiaddrs (IPv4 TCP and QUIC-v1 on port 4001, plus IPv6 TCP and/or QUIC
// with probability 1/2 each). Params.Stack starts the node's protocol
// stack on its Conn; the tests use the repository's responder and browser
// sharing the Conn (a View each), exactly as the facade wires them, without
// a libp2p host. (The stack is injected because
// internal/archtest forbids internal helper packages from importing the
// responder and browser; the wiring lives in this package's tests.)
//
// Every node starts at t0 (the virtual instant Run begins) plus a seeded
// uniform jitter in [0, StartJitter). The run then has three windows:
//
//	startup   [t0, t0+Startup)                  default 10 s
//	steady    [t0+Startup, t0+Startup+Steady)    default 5 min
//	shutdown  every node closed in turn (goodbyes, RFC 6762 §10.1)
//
// Run must be called inside a synctest bubble (RunTest makes one); all
// times it reports are virtual, so a run is reproducible for a seed apart
// from the order in which goroutines handle packets that arrive at the same
// virtual instant. Receive queues are sized by Params.QueueLen so that the
// simulation's own CPU limits never drop a packet; any drop is reported in
// Health.QueueDrops and makes the run unrepresentative.
//
// # Measurements
//
// A LAN tap sees every packet a node sends (once, not per receiver), parses
// it and classifies it with mdns.Classify into probe, query, response and
// goodbye; responses whose answer section holds the DNS-SD meta PTR and an
// SRV record are announcements (our responder announces everything in the
// answer section and answers browse queries with the PTR alone there).
// Query packets are further counted as messages (with questions), packets
// with the TC bit and known-answer continuation packets (RFC 6762 §7.2),
// with the number of known-answer records they carry (§7.1).
//
// Convergence: the stack reports each browser Found and Lost event with its
// virtual time. A node has converged when its browser has found all N-1
// others; Node*MS are the median, 99th percentile (nearest rank) and
// maximum over nodes of that instant (since t0), GlobalMS the instant the
// last node converged. Pair*MS are per ordered pair (i finds j), measured
// from the later of the two start instants. MissedPairs counts ordered
// pairs never found (by the end of the startup window, and by the end of
// the run); Lost and Refound count flapping peers.
//
// Traffic: per window, total packets and bytes, packets and bytes by kind,
// and per node the distribution (mean, min, median, p99, max) of packets
// sent, in total and by kind. ToConvergence covers [t0, t0+GlobalMS] (the
// issue's "packets sent per node during convergence"), ToTarget
// [t0, t0+2 s]. Steady.PerNodePerMinute scales the per-node steady packets
// to one minute. Counters are the stacks' own counters (responder and
// browser Stats) summed over nodes per window, LAN the memnet counters;
// the timelines give packets by kind per Params.Bin (startup) and per 10 s
// (steady) for plots. Result is JSON-serialisable.
//
// # Running
//
//	go test ./internal/sim                       # N=20 sanity run, a few seconds
//	go test ./internal/sim -run TestSimulate -sim.n=100,300,1000 \
//	    -sim.out=results.json -sim.steady=5m -timeout 60m
//
// Other flags: -sim.startup, -sim.loss (comma list), -sim.family (v4,dual),
// -sim.jitter, -sim.seed, -sim.ttlother, -sim.ttlhost, -sim.strict
// (browsers report probing peers, counted as found, as the facade's
// WithProbeHints acts on them; nothing sent changes); -sim.steady=0 runs
// no steady window. TestSimulate logs the wall-clock time of each window. The cost of a run grows with the packets delivered
// (every multicast is parsed by the responder and the browser of every
// other node), so with multi-packet known-answer lists it grows roughly as
// N³ per query round; for N=1000 measure convergence alone with
// -sim.startup=1015ms -sim.steady=0 (the browsers' second query round
// starts at 1.02 s).
package sim
