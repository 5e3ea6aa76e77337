package dialer

import (
	"context"
	"errors"
	"maps"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
)

// EventKind is what an Event reports.
type EventKind int

const (
	// Connected: an attempt succeeded.
	Connected EventKind = iota + 1
	// DialFailed: an attempt failed; Reason classifies Err.
	DialFailed
	// Skipped: an announcement caused no attempt; Reason says why.
	Skipped
	// Evicted: the peer was dropped from the full state map.
	Evicted
)

func (k EventKind) String() string {
	switch k {
	case Connected:
		return "connected"
	case DialFailed:
		return "dial-failed"
	case Skipped:
		return "skipped"
	case Evicted:
		return "evicted"
	}
	return "unknown"
}

// Reason classifies a failure or a skip.
type Reason string

// Failure reasons (Event.Reason of DialFailed, keys of Stats.Failures).
const (
	ReasonTimeout      Reason = "timeout"       // the per-attempt timeout expired
	ReasonUnreachable  Reason = "unreachable"   // refused, no route, no usable address
	ReasonIdentity     Reason = "identity"      // the remote key is not the announced peer ID
	ReasonHandshake    Reason = "handshake"     // security or muxer negotiation failed
	ReasonSwarmBackoff Reason = "swarm-backoff" // go-libp2p's own dial backoff refused
	ReasonCanceled     Reason = "canceled"      // the Dialer was closed during the attempt
	ReasonOther        Reason = "other"
)

// Skip reasons (Event.Reason of Skipped).
const (
	ReasonSelf       Reason = "self"
	ReasonConnected  Reason = "connected"
	ReasonInFlight   Reason = "in-flight"
	ReasonBackoff    Reason = "backoff"
	ReasonRedialWait Reason = "redial-wait"
	ReasonFull       Reason = "full" // Evicted: no idle entry to evict, the newcomer is dropped
)

// Event reports one outcome. Events are delivered on a bounded channel;
// those that do not fit are dropped and counted in Stats.EventsDropped.
type Event struct {
	Kind     EventKind
	Peer     peer.ID
	Addrs    []ma.Multiaddr // the announced addresses (Connected, DialFailed); shared, do not modify
	Err      error          // DialFailed only
	Reason   Reason         // DialFailed, Skipped, Evicted
	Duration time.Duration  // attempt duration (Connected, DialFailed)
	Time     time.Time
}

// Stats is a snapshot of the Dialer's counters.
type Stats struct {
	Attempts  uint64 `json:"attempts"`
	Successes uint64 `json:"successes"`
	// Failures counts failed attempts by reason.
	Failures         map[Reason]uint64 `json:"failures"`
	SkippedSelf      uint64            `json:"skipped_self"`
	SkippedConnected uint64            `json:"skipped_connected"`
	SkippedBackoff   uint64            `json:"skipped_backoff"`   // in backoff, or an identity failure not yet cleared by new addresses
	SkippedInFlight  uint64            `json:"skipped_in_flight"` // queued or being dialled already
	SkippedRedial    uint64            `json:"skipped_redial"`    // disconnected peer without a fresh announcement or before RedialAfterDisconnect
	Evicted          uint64            `json:"evicted"`           // state entries evicted or newcomers refused because MaxPeers was reached
	EventsDropped    uint64            `json:"events_dropped"`
	// Gauges.
	Tracked  int `json:"tracked"`
	Queued   int `json:"queued"`
	InFlight int `json:"in_flight"`
}

type counters struct {
	attempts, successes                                    uint64
	failures                                               map[Reason]uint64
	skippedSelf, skippedConnected, skippedBackoff          uint64
	skippedInFlight, skippedRedial, evicted, eventsDropped uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Attempts: c.attempts, Successes: c.successes, Failures: maps.Collect(maps.All(c.failures)),
		SkippedSelf: c.skippedSelf, SkippedConnected: c.skippedConnected,
		SkippedBackoff: c.skippedBackoff, SkippedInFlight: c.skippedInFlight,
		SkippedRedial: c.skippedRedial, Evicted: c.evicted, EventsDropped: c.eventsDropped,
	}
}

// classify maps an error from host.Connect to a Reason. run is the Run
// context (its cancellation means the Dialer is stopping) and attempt the
// per-attempt context.
func classify(err error, run, attempt context.Context) Reason {
	var mismatch sec.ErrPeerIDMismatch
	var mismatchPtr *sec.ErrPeerIDMismatch
	switch {
	case run.Err() != nil:
		return ReasonCanceled
	case errors.As(err, &mismatch), errors.As(err, &mismatchPtr):
		return ReasonIdentity
	case errors.Is(attempt.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.Is(err, swarm.ErrDialTimeout):
		return ReasonTimeout
	case errors.Is(err, swarm.ErrDialBackoff):
		return ReasonSwarmBackoff
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, swarm.ErrNoAddresses), errors.Is(err, swarm.ErrNoGoodAddresses):
		return ReasonUnreachable
	}
	s := err.Error()
	switch {
	case strings.Contains(s, "peer id mismatch"), strings.Contains(s, "unexpected peer"):
		return ReasonIdentity
	case strings.Contains(s, "connection refused"), strings.Contains(s, "no route to host"),
		strings.Contains(s, "network is unreachable"), strings.Contains(s, "no addresses"):
		return ReasonUnreachable
	case strings.Contains(s, "negotiate"), strings.Contains(s, "handshake"),
		strings.Contains(s, "failed to upgrade"), strings.Contains(s, "security"):
		return ReasonHandshake
	}
	return ReasonOther
}
