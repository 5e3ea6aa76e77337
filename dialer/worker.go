package dialer

import (
	"context"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
)

// worker takes queued peers and dials them, one at a time, until ctx ends.
func (d *Dialer) worker(ctx context.Context) {
	for {
		id, ok := d.take(ctx)
		if !ok {
			return
		}
		d.attempt(ctx, id)
	}
}

// take pops the next queued peer and marks it in flight.
func (d *Dialer) take(ctx context.Context) (peer.ID, bool) {
	for {
		if ctx.Err() != nil {
			return "", false
		}
		d.mu.Lock()
		for len(d.queue) > 0 {
			id := d.queue[0]
			d.queue = d.queue[1:]
			st := d.peers[id]
			if st == nil || !st.queued {
				continue
			}
			st.queued = false
			d.inflight[id] = struct{}{}
			if len(d.queue) > 0 {
				d.signal(d.wake) // pass the wake-up on to the next idle worker
			}
			d.mu.Unlock()
			return id, true
		}
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", false
		case <-d.wake:
		}
	}
}

// attempt dials id once with the per-attempt timeout and records the outcome.
func (d *Dialer) attempt(ctx context.Context, id peer.ID) {
	addrs, ok := d.begin(id)
	if !ok {
		return
	}
	// Our backoff decides when to dial; the swarm's own per-peer backoff
	// would otherwise turn our retries into instant ErrDialBackoff failures.
	if sw, ok := d.h.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(id)
	}
	start := time.Now()
	actx, cancel := context.WithTimeout(network.WithDialPeerTimeout(ctx, d.cfg.Timeout), d.cfg.Timeout)
	// Only the ID: the addresses are in the peerstore with the mDNS TTL,
	// and passing them would extend it to the host's temporary TTL.
	err := d.connect(actx, peer.AddrInfo{ID: id})
	elapsed := time.Since(start)
	var reason Reason
	if err != nil {
		reason = classify(err, ctx, actx)
	}
	cancel()

	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inflight, id)
	st := d.peers[id] // may be gone (Lost) or new (Lost, then Found)
	if err == nil {
		d.succeeded(st, id, addrs, elapsed)
		return
	}
	d.failed(st, id, addrs, err, reason, start, elapsed)
}

// begin starts an attempt on id: it returns the addresses to report, or
// false when there is nothing to do (connected meanwhile, or lost).
func (d *Dialer) begin(id peer.ID) ([]ma.Multiaddr, bool) {
	connected := d.h.Network().Connectedness(id) == network.Connected
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.peers[id]
	switch {
	case connected:
		delete(d.inflight, id)
		if st != nil {
			st.connected, st.disconnectedAt = true, time.Time{}
		}
		d.ctr.skippedConnected++
		d.skip(id, ReasonConnected)
		return nil, false
	case st == nil: // lost after being taken
		delete(d.inflight, id)
		return nil, false
	}
	d.ctr.attempts++
	return st.addrs, true
}

// succeeded records a connection. Called with d.mu held.
func (d *Dialer) succeeded(st *peerState, id peer.ID, addrs []ma.Multiaddr, elapsed time.Duration) {
	d.ctr.successes++
	if st != nil {
		st.redo = false
		st.connected, st.disconnectedAt, st.armed = true, time.Time{}, false
		st.failures, st.identityFail, st.retryAt = 0, false, time.Time{}
		d.tag(st)
	}
	d.log.Info("connected to peer", "peer", id, "duration", elapsed)
	d.emit(Event{Kind: Connected, Peer: id, Addrs: addrs, Duration: elapsed})
}

// failed records a failed attempt and schedules the next one. Called with
// d.mu held.
func (d *Dialer) failed(st *peerState, id peer.ID, addrs []ma.Multiaddr, err error, reason Reason, start time.Time, elapsed time.Duration) {
	d.ctr.failures[reason]++
	if reason == ReasonCanceled {
		if st != nil {
			st.redo = false
		}
		return
	}
	switch {
	case st != nil && st.redo:
		// New addresses arrived during the attempt: try them at once.
		st.redo, st.failures, st.identityFail = false, 0, false
		d.enqueue(st)
	case st != nil:
		st.failures++
		st.lastAttempt = start
		st.retryAt = time.Now().Add(d.backoff(st.failures))
		// An identity mismatch is not retried until the address set
		// changes: the same addresses will present the same wrong key.
		st.identityFail = reason == ReasonIdentity
		st.armed = !st.identityFail
		d.signal(d.resched)
	}
	lvl := slog.LevelDebug
	if reason == ReasonIdentity {
		lvl = slog.LevelWarn
	}
	d.log.Log(context.Background(), lvl, "dial failed", "peer", id, "reason", reason, "err", err, "duration", elapsed)
	d.emit(Event{Kind: DialFailed, Peer: id, Addrs: addrs, Err: err, Reason: reason, Duration: elapsed})
}

// backoff returns the delay after n consecutive failures:
// BackoffMin·2^(n-1), capped at BackoffMax, jittered by ±20 %. d.mu is held.
func (d *Dialer) backoff(n int) time.Duration {
	b := d.cfg.BackoffMin
	for i := 1; i < n && b < d.cfg.BackoffMax; i++ {
		b *= 2
	}
	b = min(b, d.cfg.BackoffMax)
	return time.Duration(float64(b) * (0.8 + 0.4*d.cfg.Rand.Float64()))
}

// schedule enqueues armed peers whose retry time has come, sleeping until
// the earliest one, until ctx ends. It runs on Run's goroutine.
func (d *Dialer) schedule(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		d.mu.Lock()
		now := time.Now()
		var next time.Time
		for _, st := range d.peers {
			if !st.armed {
				continue
			}
			if now.Before(st.retryAt) {
				if next.IsZero() || st.retryAt.Before(next) {
					next = st.retryAt
				}
				continue
			}
			st.armed = false
			if _, busy := d.inflight[st.id]; !busy && !st.queued && !st.connected {
				d.enqueue(st)
			}
		}
		d.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(now)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-d.resched:
		case <-t.C:
		}
	}
}
