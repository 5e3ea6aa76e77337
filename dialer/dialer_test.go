package dialer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
)

func TestConnect(t *testing.T) {
	a, b := newHostWithConnMgr(t), newHost(t)
	d := start(t, Config{Host: a}, true)
	d.Found(info(b), 2*time.Minute, true)
	ev := nextEvent(t, d, Connected)
	if ev.Peer != b.ID() || len(ev.Addrs) == 0 || ev.Duration <= 0 {
		t.Fatalf("event %+v", ev)
	}
	if a.Network().Connectedness(b.ID()) != network.Connected {
		t.Fatal("not connected")
	}
	for _, want := range b.Addrs() {
		found := false
		for _, got := range a.Peerstore().Addrs(b.ID()) {
			found = found || got.Equal(want)
		}
		if !found {
			t.Errorf("peerstore lacks %v", want)
		}
	}
	if ti := a.ConnManager().GetTagInfo(b.ID()); ti == nil || ti.Tags[DefaultTag] != DefaultTagWeight {
		t.Errorf("tag info %+v", ti)
	}
	s := d.Stats()
	if s.Attempts != 1 || s.Successes != 1 || len(s.Failures) != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestPeerstoreTTL: addresses get the announced TTL and expire with it; Lost
// removes them. Unconnected peers are not tagged (see Dialer.tag). The Dialer is not run, so nothing is dialled.
func TestPeerstoreTTL(t *testing.T) {
	a := newHostWithConnMgr(t)
	d := start(t, Config{Host: a}, false)
	p1, p2 := testkit.ID(t, 1), testkit.ID(t, 2)
	d.Found(peer.AddrInfo{ID: p1, Addrs: []ma.Multiaddr{refusedAddr(t)}}, 300*time.Millisecond, true)
	d.Found(peer.AddrInfo{ID: p2, Addrs: []ma.Multiaddr{refusedAddr(t)}}, time.Hour, true)
	if len(a.Peerstore().Addrs(p1)) != 1 || len(a.Peerstore().Addrs(p2)) != 1 {
		t.Fatal("addresses not in the peerstore")
	}
	if ti := a.ConnManager().GetTagInfo(p2); ti != nil {
		t.Fatalf("an unconnected peer is tagged: %+v", ti)
	}
	testkit.WaitFor(t, "the TTL to expire", waitLimit, func() bool { return len(a.Peerstore().Addrs(p1)) == 0 })
	d.Lost(p2)
	if n := len(a.Peerstore().Addrs(p2)); n != 0 {
		t.Fatalf("%d addresses left after Lost", n)
	}
	if ti := a.ConnManager().GetTagInfo(p2); ti != nil && ti.Tags[DefaultTag] != 0 {
		t.Fatalf("tag left after Lost: %+v", ti)
	}
	if s := d.Stats(); s.Tracked != 1 || s.Queued != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestChangedAddrsReplaced: addresses no longer announced leave the peerstore.
func TestChangedAddrsReplaced(t *testing.T) {
	a := newHost(t)
	d := start(t, Config{Host: a}, false)
	p := testkit.ID(t, 1)
	old, cur := refusedAddr(t), refusedAddr(t)
	d.Found(peer.AddrInfo{ID: p, Addrs: []ma.Multiaddr{old}}, time.Hour, true)
	d.Found(peer.AddrInfo{ID: p, Addrs: []ma.Multiaddr{cur}}, time.Hour, true)
	if got := a.Peerstore().Addrs(p); len(got) != 1 || !got[0].Equal(cur) {
		t.Fatalf("peerstore has %v, want [%v]", got, cur)
	}
}

func TestSkipSelf(t *testing.T) {
	a := newHost(t)
	d := start(t, Config{Host: a}, true)
	d.Found(info(a), time.Minute, true)
	if ev := nextEvent(t, d, Skipped); ev.Reason != ReasonSelf {
		t.Fatalf("event %+v", ev)
	}
	if s := d.Stats(); s.SkippedSelf != 1 || s.Attempts != 0 || s.Tracked != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSkipConnected(t *testing.T) {
	a, b := newHost(t), newHost(t)
	if err := a.Connect(context.Background(), info(b)); err != nil {
		t.Fatal(err)
	}
	d := start(t, Config{Host: a}, true)
	d.Found(info(b), time.Minute, true)
	if ev := nextEvent(t, d, Skipped); ev.Reason != ReasonConnected {
		t.Fatalf("event %+v", ev)
	}
	if s := d.Stats(); s.SkippedConnected != 1 || s.Attempts != 0 || d.calls.Load() != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestInFlightDedupe: many concurrent announcements of one peer whose
// handshake hangs cause exactly one attempt.
func TestInFlightDedupe(t *testing.T) {
	a := newHost(t)
	d := start(t, Config{Host: a, Timeout: time.Minute}, true)
	ai := peer.AddrInfo{ID: testkit.ID(t, 1), Addrs: []ma.Multiaddr{hangingListener(t)}}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { d.Found(ai, time.Minute, true) })
	}
	wg.Wait()
	testkit.WaitFor(t, "the attempt", waitLimit, func() bool { return d.Stats().InFlight == 1 })
	time.Sleep(100 * time.Millisecond) // room for a wrong second attempt
	s := d.Stats()
	if s.Attempts != 1 || d.calls.Load() != 1 || s.SkippedInFlight != 49 {
		t.Fatalf("calls %d, stats %+v", d.calls.Load(), s)
	}
}

// TestTimeout: a listener that never speaks makes the handshake hang until
// Config.Timeout.
func TestTimeout(t *testing.T) {
	a := newHost(t)
	const timeout = 300 * time.Millisecond
	d := start(t, Config{Host: a, Timeout: timeout}, true)
	ai := peer.AddrInfo{ID: testkit.ID(t, 1), Addrs: []ma.Multiaddr{hangingListener(t)}}
	d.Found(ai, time.Minute, true)
	ev := nextEvent(t, d, DialFailed)
	if ev.Reason != ReasonTimeout || ev.Duration < timeout || ev.Duration > 5*time.Second {
		t.Fatalf("event %+v", ev)
	}
	if s := d.Stats(); s.Failures[ReasonTimeout] != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestBackoff: no attempt during the backoff, not even after a fresh
// announcement; a changed address set resets it.
func TestBackoff(t *testing.T) {
	a, b := newHost(t), newHost(t)
	d := start(t, Config{Host: a, BackoffMin: time.Hour, BackoffMax: time.Hour}, true)
	d.Found(peer.AddrInfo{ID: b.ID(), Addrs: []ma.Multiaddr{refusedAddr(t)}}, time.Minute, true)
	if ev := nextEvent(t, d, DialFailed); ev.Reason != ReasonUnreachable {
		t.Fatalf("event %+v (%v)", ev, ev.Err)
	}
	d.Found(peer.AddrInfo{ID: b.ID(), Addrs: []ma.Multiaddr{refusedAddr(t)}}, time.Minute, false)
	// Changed set: resets the backoff, fails again.
	if ev := nextEvent(t, d, DialFailed); ev.Reason != ReasonUnreachable {
		t.Fatalf("event %+v", ev)
	}
	last := peer.AddrInfo{ID: b.ID(), Addrs: d.trackedAddrs(b.ID())}
	d.Found(last, time.Minute, false)
	d.Found(last, time.Minute, true)
	for range 2 {
		if ev := nextEvent(t, d, Skipped); ev.Reason != ReasonBackoff {
			t.Fatalf("event %+v", ev)
		}
	}
	d.Found(info(b), time.Minute, true) // the real addresses
	nextEvent(t, d, Connected)
	if s := d.Stats(); s.Attempts != 3 || s.SkippedBackoff != 2 || s.Failures[ReasonUnreachable] != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// trackedAddrs returns the tracked addresses of id (tests only).
func (d *Dialer) trackedAddrs(id peer.ID) []ma.Multiaddr {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peers[id].addrs
}

// TestAutomaticRetry: a failed peer is retried with growing backoff without
// further announcements.
func TestAutomaticRetry(t *testing.T) {
	a := newHost(t)
	d := start(t, Config{Host: a, BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, true)
	d.Found(peer.AddrInfo{ID: testkit.ID(t, 1), Addrs: []ma.Multiaddr{refusedAddr(t)}}, time.Minute, true)
	testkit.WaitFor(t, "three attempts", waitLimit, func() bool { return d.Stats().Attempts >= 3 })
}

// TestConcurrencyCap: 20 hanging peers, 3 workers: never more than 3
// attempts at once, and every peer is attempted.
func TestConcurrencyCap(t *testing.T) {
	a := newHost(t)
	d := start(t, Config{Host: a, Concurrency: 3, Timeout: 200 * time.Millisecond, BackoffMin: time.Hour, BackoffMax: time.Hour}, true)
	for i := range 20 {
		d.Found(peer.AddrInfo{ID: testkit.ID(t, i), Addrs: []ma.Multiaddr{hangingListener(t)}}, time.Minute, true)
	}
	testkit.WaitFor(t, "20 failures", waitLimit, func() bool { return d.Stats().Failures[ReasonTimeout] == 20 })
	if m := d.max.Load(); m != 3 {
		t.Fatalf("max concurrent attempts %d, want 3", m)
	}
	if s := d.Stats(); s.Attempts != 20 || s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestIdentityMismatch: host B's address announced under host C's ID fails
// the handshake with ReasonIdentity and is not retried, even after fresh
// announcements, until the address set changes.
func TestIdentityMismatch(t *testing.T) {
	a, b, c := newHost(t), newHost(t), newHost(t)
	d := start(t, Config{Host: a, BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond}, true)
	liar := peer.AddrInfo{ID: c.ID(), Addrs: b.Addrs()}
	d.Found(liar, time.Minute, true)
	if ev := nextEvent(t, d, DialFailed); ev.Reason != ReasonIdentity {
		t.Fatalf("event %+v (%v)", ev, ev.Err)
	}
	for range 10 {
		d.Found(liar, time.Minute, true)
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if s := d.Stats(); s.Attempts != 1 || s.Failures[ReasonIdentity] != 1 || s.SkippedBackoff != 10 {
		t.Fatalf("stats %+v", s)
	}
	d.Found(info(c), time.Minute, true) // C's real addresses
	nextEvent(t, d, Connected)
}

// TestRedialAfterDisconnect: a disconnected peer is redialled only after a
// fresh announcement and RedialAfterDisconnect.
func TestRedialAfterDisconnect(t *testing.T) {
	a, b := newHost(t), newHost(t)
	const wait = 400 * time.Millisecond
	d := start(t, Config{Host: a, RedialAfterDisconnect: wait}, true)
	d.Found(info(b), time.Minute, true)
	nextEvent(t, d, Connected)
	d.disconnect(t, a, b)
	disconnected := time.Now()
	d.Found(info(b), time.Minute, false) // a repeated sighting: never
	d.Found(info(b), time.Minute, true)  // fresh: at the end of the wait
	for range 2 {
		if ev := nextEvent(t, d, Skipped); ev.Reason != ReasonRedialWait {
			t.Fatalf("event %+v", ev)
		}
	}
	nextEvent(t, d, Connected)
	if since := time.Since(disconnected); since < wait-50*time.Millisecond {
		t.Fatalf("redialled after %v, want ≥ %v", since, wait)
	}
	if s := d.Stats(); s.Attempts != 2 || s.SkippedRedial != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// TestRedialChangedAddrs: a disconnected peer that announces changed
// addresses (a link flap took the old ones and the connection) is
// redialled at once, without the RedialAfterDisconnect wait.
func TestRedialChangedAddrs(t *testing.T) {
	a, b := newHost(t), newHost(t)
	d := start(t, Config{Host: a, RedialAfterDisconnect: time.Hour}, true)
	ai := info(b)
	gone := ma.StringCast("/ip4/127.0.0.1/tcp/1") // an address the flap took away
	d.Found(peer.AddrInfo{ID: ai.ID, Addrs: append([]ma.Multiaddr{gone}, ai.Addrs...)}, time.Minute, true)
	nextEvent(t, d, Connected)
	d.disconnect(t, a, b)
	d.Found(ai, time.Minute, true) // without the one gone: a changed set
	nextEvent(t, d, Connected)
	if s := d.Stats(); s.Attempts != 2 || s.SkippedRedial != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestNetworkChanged: after NetworkChanged, a peer whose connection drops
// (a link flap took its path) is redialled at once, and one already
// disconnected and waiting is dialled again, without RedialAfterDisconnect
// or a new announcement.
func TestNetworkChanged(t *testing.T) {
	a, b := newHost(t), newHost(t)
	d := start(t, Config{Host: a, RedialAfterDisconnect: time.Hour}, true)
	d.Found(info(b), time.Minute, true)
	nextEvent(t, d, Connected)
	// Disconnected before the change: waiting, until NetworkChanged.
	d.disconnect(t, a, b)
	d.NetworkChanged()
	nextEvent(t, d, Connected)
	// Dropped after the change: redialled at once.
	if err := a.Network().ClosePeer(b.ID()); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, d, Connected)
	if s := d.Stats(); s.Attempts != 3 {
		t.Fatalf("stats %+v, want 3 attempts", s)
	}
}

// TestEviction: a full state map evicts the least recently announced idle
// peer; when every peer is busy the newcomer is refused.
func TestEviction(t *testing.T) {
	a := newHost(t)
	t.Run("idle", func(t *testing.T) {
		d := start(t, Config{Host: a, MaxPeers: 3, BackoffMin: time.Hour, BackoffMax: time.Hour}, true)
		var ais []peer.AddrInfo
		for i := range 3 {
			ais = append(ais, peer.AddrInfo{ID: testkit.ID(t, i), Addrs: []ma.Multiaddr{refusedAddr(t)}})
			d.Found(ais[len(ais)-1], time.Minute, true)
		}
		testkit.WaitFor(t, "3 failures", waitLimit, func() bool { return d.Stats().Failures[ReasonUnreachable] == 3 })
		d.Found(ais[0], time.Minute, false) // in backoff; ais[0] becomes the most recent
		ids := []peer.ID{ais[0].ID, ais[1].ID, ais[2].ID, testkit.ID(t, 3)}
		d.Found(peer.AddrInfo{ID: ids[3], Addrs: []ma.Multiaddr{refusedAddr(t)}}, time.Minute, true)
		if ev := nextEvent(t, d, Evicted); ev.Peer != ids[1] {
			t.Fatalf("evicted %v, want %v", ev.Peer, ids[1])
		}
		if s := d.Stats(); s.Evicted != 1 || s.Tracked != 3 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("busy", func(t *testing.T) {
		d := start(t, Config{Host: a, MaxPeers: 2}, false) // not run: all stay queued
		for i := range 3 {
			d.Found(peer.AddrInfo{ID: testkit.ID(t, i), Addrs: []ma.Multiaddr{refusedAddr(t)}}, time.Minute, true)
		}
		if ev := nextEvent(t, d, Evicted); ev.Reason != ReasonFull {
			t.Fatalf("event %+v", ev)
		}
		if s := d.Stats(); s.Evicted != 1 || s.Tracked != 2 || s.Queued != 2 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// TestCloseDuringDial: Close cancels hanging attempts and returns promptly.
func TestCloseDuringDial(t *testing.T) {
	a := newHost(t)
	d := start(t, Config{Host: a, Timeout: time.Hour}, true)
	for i := range 5 {
		d.Found(peer.AddrInfo{ID: testkit.ID(t, i), Addrs: []ma.Multiaddr{hangingListener(t)}}, time.Minute, true)
	}
	testkit.WaitFor(t, "5 attempts in flight", waitLimit, func() bool { return d.Stats().InFlight == 5 })
	begin := time.Now()
	d.Close()
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("Close took %v", took)
	}
	select {
	case err := <-d.runErr:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		d.runErr <- nil // for the cleanup
	default:
		t.Fatal("Run still running after Close")
	}
	if s := d.Stats(); s.Failures[ReasonCanceled] != 5 || s.InFlight != 0 {
		t.Fatalf("stats %+v", s)
	}
	if _, ok := <-d.Events(); ok {
		for range d.Events() {
		}
	}
	d.Close() // idempotent
	if err := d.Run(context.Background()); err == nil {
		t.Fatal("Run after Close succeeded")
	}
}

// TestRunContext: Run returns nil when its context ends (the Run contract
// of every layer), and refuses a second Run.
func TestRunContext(t *testing.T) {
	d, err := New(Config{Host: newHost(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after the context ended: %v, want nil", err)
	}
	if err := d.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEventsDropped(t *testing.T) {
	a := newHost(t)
	d := start(t, Config{Host: a, EventBuffer: 1}, false)
	for range 3 {
		d.Found(info(a), time.Minute, true)
	}
	if s := d.Stats(); s.EventsDropped != 2 || s.SkippedSelf != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNoTag(t *testing.T) {
	a, b := newHostWithConnMgr(t), newHost(t)
	d := start(t, Config{Host: a, NoTag: true}, true)
	d.Found(info(b), time.Minute, true)
	nextEvent(t, d, Connected)
	if ti := a.ConnManager().GetTagInfo(b.ID()); ti != nil && len(ti.Tags) != 0 {
		t.Fatalf("tagged: %+v", ti)
	}
}

// TestAnnouncementFloodLeavesConnMgrAlone: announced peers that never
// connect leave no entry in go-libp2p's connection manager, which keeps
// the entries of peers tagged while unconnected until it trims, i.e.
// forever on a host below its high-water mark (issue #8: a flood of fake
// peers grew the heap without bound).
func TestAnnouncementFloodLeavesConnMgrAlone(t *testing.T) {
	a := newHostWithConnMgr(t)
	d := start(t, Config{Host: a, MaxPeers: 100}, false)
	addr := []ma.Multiaddr{refusedAddr(t)}
	ids := make([]peer.ID, 1000)
	for i := range ids {
		ids[i] = testkit.ID(t, i)
		d.Found(peer.AddrInfo{ID: ids[i], Addrs: addr}, time.Minute, true)
		if i%2 == 0 {
			d.Lost(ids[i])
		}
	}
	for _, id := range ids {
		if ti := a.ConnManager().GetTagInfo(id); ti != nil {
			t.Fatalf("connection manager holds an entry for an unconnected peer: %+v", ti)
		}
	}
}

func TestNewValidates(t *testing.T) {
	h := newHost(t)
	for i, cfg := range []Config{
		{},
		{Host: h, Timeout: -1},
		{Host: h, Concurrency: -1},
		{Host: h, BackoffMin: time.Minute, BackoffMax: time.Second},
		{Host: h, MaxPeers: -5},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}

func TestClassify(t *testing.T) {
	bg := context.Background()
	canceled, cancel := context.WithCancel(bg)
	cancel()
	expired, cancel2 := context.WithTimeout(bg, -1)
	defer cancel2()
	for _, c := range []struct {
		err          error
		run, attempt context.Context
		want         Reason
	}{
		{errors.New("x"), canceled, canceled, ReasonCanceled},
		{fmt.Errorf("dial: %w", sec.ErrPeerIDMismatch{}), bg, bg, ReasonIdentity},
		{context.DeadlineExceeded, bg, expired, ReasonTimeout},
		{fmt.Errorf("w: %w", swarm.ErrDialBackoff), bg, bg, ReasonSwarmBackoff},
		{swarm.ErrNoAddresses, bg, bg, ReasonUnreachable},
		{errors.New("dial tcp: connect: connection refused"), bg, bg, ReasonUnreachable},
		{errors.New("failed to negotiate security protocol: EOF"), bg, bg, ReasonHandshake},
		{errors.New("boom"), bg, bg, ReasonOther},
	} {
		if got := classify(c.err, c.run, c.attempt); got != c.want {
			t.Errorf("classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestChangedDuringAttempt: addresses that change while an attempt is in
// flight are tried right after it, whatever the backoff.
func TestChangedDuringAttempt(t *testing.T) {
	a, b := newHost(t), newHost(t)
	d := start(t, Config{Host: a, Timeout: 300 * time.Millisecond, BackoffMin: time.Hour, BackoffMax: time.Hour}, true)
	hang, accepted := hangingListenerCount(t)
	d.Found(peer.AddrInfo{ID: b.ID(), Addrs: []ma.Multiaddr{hang}}, time.Minute, true)
	testkit.WaitFor(t, "the attempt to reach the listener", waitLimit, func() bool { return accepted() == 1 })
	d.Found(info(b), time.Minute, false)
	nextEvent(t, d, Connected)
	if s := d.Stats(); s.Attempts != 2 || s.Failures[ReasonTimeout] != 1 || s.SkippedInFlight != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestFreshResetsBackoff: a fresh announcement cuts a long backoff down to
// BackoffMin after the last attempt; a repeated sighting does not.
func TestFreshResetsBackoff(t *testing.T) {
	a := newHost(t)
	d := start(t, Config{Host: a, BackoffMin: 50 * time.Millisecond, BackoffMax: time.Hour}, true)
	ai := peer.AddrInfo{ID: testkit.ID(t, 1), Addrs: []ma.Multiaddr{refusedAddr(t)}}
	d.Found(ai, time.Minute, true)
	nextEvent(t, d, DialFailed)
	d.mu.Lock() // as after many failures
	st := d.peers[ai.ID]
	st.failures, st.retryAt = 20, time.Now().Add(time.Hour)
	d.mu.Unlock()
	d.Found(ai, time.Minute, false)
	if ev := nextEvent(t, d, Skipped); ev.Reason != ReasonBackoff {
		t.Fatalf("event %+v", ev)
	}
	// Within 50 ms of the last attempt this is skipped too, and the retry
	// comes from the scheduler at the end of the 50 ms.
	d.Found(ai, time.Minute, true)
	nextEvent(t, d, DialFailed)
	if s := d.Stats(); s.Attempts != 2 || s.SkippedBackoff < 1 || s.SkippedBackoff > 2 {
		t.Fatalf("stats %+v", s)
	}
}
