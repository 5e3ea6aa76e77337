package discovery

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// EventKind says what an Event reports.
type EventKind int

// The event kinds.
const (
	PeerFound   EventKind = iota + 1 // first sighting of a peer ID (or again after PeerLost)
	PeerUpdated                      // its address set changed
	PeerLost                         // every record expired or was withdrawn
	Connected                        // connected to a found peer, either side having dialled (Direction)
	DialFailed                       // our connection attempt failed
)

func (k EventKind) String() string {
	switch k {
	case PeerFound:
		return "found"
	case PeerUpdated:
		return "updated"
	case PeerLost:
		return "lost"
	case Connected:
		return "connected"
	case DialFailed:
		return "dial_failed"
	}
	return "unknown"
}

// Event is one discovery or connection outcome (see WithEvents).
type Event struct {
	Kind EventKind
	Peer peer.AddrInfo
	// Flavour is the implementation the peer's records came from: go, rust,
	// js or dnssd (found and updated only).
	Flavour string
	// Err is the dial error (DialFailed only); Reason its class.
	Err    error
	Reason string
	// Direction is "outbound" when we dialled, "inbound" when the peer
	// did (Connected only).
	Direction string
	Time      time.Time
}

// WithEvents enables Events with a channel of the given capacity. A reader
// that falls behind delays events but loses no peer: a peer's pending
// events are coalesced (its latest addresses, lost after found, the latest
// connection outcome; see Metrics().EventsDropped for the bound). A size
// below 1 is an error.
func WithEvents(size int) Option {
	return positive("WithEvents", size, func(o *options) { o.eventsSize = size })
}

// Events returns the event channel enabled by WithEvents (nil otherwise).
// It is closed by Close.
func (d *MDNSDiscovery) Events() <-chan Event { return d.out.evCh }
