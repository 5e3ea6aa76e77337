// Package dialer connects a libp2p host to peers found by mDNS.
//
// It does not depend on the browser: the facade calls Found and Lost for
// the browser's events, and the Dialer decides whether and when to dial.
//
//	Found(ai, ttl, fresh) ──► state map (≤ MaxPeers, LRU eviction)
//	   │  peerstore.AddAddrs(ttl) (ConnManager.TagPeer once connected)
//	   │  skip: self, connected, in flight, backoff, redial wait
//	   ▼
//	queue (FIFO, one entry per peer) ◄── scheduler (backoff / redial timers)
//	   ▼
//	Concurrency workers ──► host.Connect(ctx with Timeout)
//	   ▼
//	Events() (bounded, drops counted) + Stats() counters + slog
//
// # Rules
//
//   - Self and peers the host is already connected to are skipped. A peer
//     is dialled by at most one worker at a time; announcements arriving
//     while it is queued or in flight are counted as SkippedInFlight.
//   - Each attempt is bounded by Config.Timeout; at most Config.Concurrency
//     attempts run at once (a fixed pool of workers started by Run).
//   - After a failure the peer is retried automatically after an
//     exponential backoff (BackoffMin·2^(n-1), capped at BackoffMax, ±20 %
//     jitter). Announcements during the backoff are SkippedBackoff. A changed
//     address set resets the backoff at once; a fresh announcement resets it
//     to BackoffMin after the last attempt, so a flood of announcements
//     cannot drive a flood of dials.
//   - An identity failure (the remote key does not match the announced peer
//     ID, e.g. a peer announcing another peer's ID) is never retried
//     automatically, nor after a fresh announcement: only a changed address
//     set clears it.
//   - Connection-manager trimming is not fought: once a tracked peer has
//     been connected (dialled by us or inbound) and is disconnected, it is
//     redialled only after a fresh announcement (or a changed address set)
//     AND RedialAfterDisconnect since the disconnect. A fresh announcement
//     before then schedules the redial for the end of that interval;
//     repeated sightings never redial. Discovered peers are tagged with
//     Config.Tag (weight TagWeight) once connected, so the manager prefers
//     keeping them; the tag is removed on Lost or eviction. (Not before:
//     the manager keeps an entry for every peer tagged while unconnected
//     until it trims, which a flood of fake announcements would grow.)
//   - Announced addresses are added to the peerstore with the mDNS record
//     TTL (addresses no longer announced are removed); Lost removes them.
//     Attempts dial by peer ID only, so the host does not extend that TTL.
//   - go-libp2p's swarm keeps its own per-peer dial backoff. The Dialer's
//     backoff is the one that decides, so the swarm backoff of a peer is
//     cleared before each attempt; a failed attempt therefore always
//     reflects the network, not a cached failure. (ReasonSwarmBackoff is
//     still reported if another dial races it.)
//   - Failures are classified (ReasonTimeout, ReasonUnreachable,
//     ReasonIdentity, ReasonHandshake, ReasonSwarmBackoff, ReasonOther,
//     ReasonCanceled) and never stop anything: they are events, counters
//     and slog records on Config.Logger only.
//   - Every map fed by the network is bounded by MaxPeers; when full, the
//     least recently announced peer that is neither queued nor in flight is
//     evicted (Stats.Evicted).
//
// Run owns every goroutine; Close cancels the attempts in flight, waits for
// Run to return, closes Events, and is idempotent.
package dialer
