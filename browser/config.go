package browser

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/chorus-services/discovery/internal/defaults"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Defaults of the Config limits (used when the field is 0).
const (
	DefaultMaxPeers     = 1024
	DefaultMaxAddrs     = 64
	DefaultMaxRecords   = 8192
	DefaultEventQueue   = 256
	DefaultReceiveQueue = 128
)

// Query schedule constants (RFC 6762 §5.2).
const (
	firstQueryMin   = 20 * time.Millisecond
	firstQueryMax   = 120 * time.Millisecond
	initialInterval = time.Second
	maxInterval     = 60 * time.Minute
	// goodbyeDelay is how long a record lives after a goodbye or a cache
	// flush (RFC 6762 §10.1, §10.2).
	goodbyeDelay = time.Second
	// poofWindow is the POOF observation window (RFC 6762 §10.5).
	poofWindow = 10 * time.Second
)

// Config configures a Browser. New copies and validates it.
type Config struct {
	// Conn is the socket (bound to port 5353) to query and listen on
	// (required). Run reads it through a View of its own, which also
	// brings the interface changes (IfaceDown keeps the interface's records
	// a few seconds, IfaceUp / AddrAdded restart its queries); the Conn
	// may be shared (with a Responder) and is never closed by the Browser.
	Conn transport.Conn
	// Service is a service tag ("" for "_p2p._udp", see mdns.ServiceName)
	// or a fully qualified service name ending in ".local" or ".local.".
	Service string
	// Self is our own peer ID; packets naming it are ignored.
	Self peer.ID

	// MaxPeers bounds the peer set (0: DefaultMaxPeers); the peer refreshed
	// least recently is evicted (and reported Lost) to make room.
	MaxPeers int
	// MaxAddrs bounds the addresses of one peer (0: DefaultMaxAddrs); the
	// addresses of the oldest records are left out.
	MaxAddrs int
	// MaxRecords bounds the record cache (0: DefaultMaxRecords); the record
	// received longest ago is evicted.
	MaxRecords int
	// EventQueue bounds the dispatcher's queue of undelivered events
	// (0: DefaultEventQueue).
	EventQueue int
	// ReceiveQueue bounds the Browser's View of the Conn: packets received
	// and not yet handled (0: DefaultReceiveQueue); overflow is dropped and
	// counted (QueueFull).
	ReceiveQueue int

	// DisableEphemeralPort makes the Browser follow RFC 6762 §6 strictly and
	// ignore every response whose source port is not 5353. By default such
	// responses are accepted, because rust-libp2p answers from an ephemeral
	// port; they are used only for the candidates of our service (never as
	// answers to anything else: no other record, no POOF, no suppression).
	DisableEphemeralPort bool
	// ProbeHints reports peers seen only in the authority section of a
	// probe (RFC 6762 §8.2) as Probing events. Off by default: a probe is a
	// proposal that may lose its tie-break or be abandoned, so a Probing
	// peer may never answer; the gain is learning of a starting peer ~250 ms
	// before its first announcement.
	ProbeHints bool
	// AddrFilter, when set, keeps only the multiaddrs for which it returns
	// true (after the built-in loopback and foreign-ID filters).
	AddrFilter func(peer.ID, ma.Multiaddr) bool
	// KeepLoopback keeps loopback multiaddrs even from packets that did
	// not arrive from a loopback source or interface.
	KeepLoopback bool
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// Rand drives the query delays and refresh jitter; nil uses a randomly
	// seeded source. It is used under the Browser's lock only.
	Rand *rand.Rand
}

// EventKind says what happened to a peer.
type EventKind uint8

// The event kinds.
const (
	// Found: a peer became known with at least one usable address.
	Found EventKind = iota + 1
	// Updated: the address set of a known peer changed.
	Updated
	// Lost: every record of the peer expired, was withdrawn or was evicted.
	Lost
	// Probing: a peer seen only in a probe's authority section
	// (Config.ProbeHints); it is not part of Peers().
	Probing
)

func (k EventKind) String() string {
	switch k {
	case Found:
		return "found"
	case Updated:
		return "updated"
	case Lost:
		return "lost"
	case Probing:
		return "probing"
	}
	return "unknown"
}

// Event reports a change of one peer.
type Event struct {
	Kind EventKind
	// Peer holds the peer's current addresses (the last known ones for
	// Lost), without /p2p suffix; IPv6 link-local ones carry an
	// /ip6zone/<interface> prefix.
	Peer    peer.AddrInfo
	Flavour mdns.Flavour
	// TTL is the longest remaining lifetime among the peer's records.
	TTL  time.Duration
	Time time.Time
}

// Stats are cumulative counters (Records and Peers are current sizes).
type Stats struct {
	QueriesSent       uint64 // query messages sent (continuation packets not counted)
	QueriesSuppressed uint64 // scheduled queries skipped by §7.3
	RefreshQueries    uint64 // of QueriesSent, refresh queries (§5.2)
	Packets           uint64 // datagrams read
	Responses         uint64 // responses processed
	Ephemeral         uint64 // of those, from a source port other than 5353
	PeersFound        uint64
	PeersLost         uint64
	Expired           uint64 // records expired (TTL, goodbye, flush)
	Poofed            uint64 // records flushed by POOF (§10.5)
	Records           int
	Peers             int
	Established       int // of Peers, those evicted last (see the package documentation)

	DroppedTTL        uint64 // IP TTL not 255 (§11)
	DroppedOffLink    uint64 // source not on the receiving link (§11)
	DroppedMalformed  uint64 // unparsable packets, rejected TXT sets, bad strings
	DroppedIrrelevant uint64 // not about our service (prefilter, nothing decoded)
	DroppedOwn        uint64 // candidates naming Config.Self
	DroppedPort       uint64 // responses from a port other than 5353 (DisableEphemeralPort)
	DroppedAddrs      uint64 // multiaddrs removed by the filters
	QueueFull         uint64 // packets dropped because the View's queue was full
	Evicted           uint64 // records and peers evicted by the bounds
	EventsDropped     uint64 // events dropped because the event queue was full
	EventsCoalesced   uint64 // events merged into an undelivered one
}

type counters struct {
	queriesSent, queriesSuppressed, refreshQueries, packets, responses, ephemeral atomic.Uint64
	peersFound, peersLost, expired, poofed                                        atomic.Uint64
	dTTL, dOffLink, dMalformed, dIrrelevant, dOwn, dPort, dAddrs                  atomic.Uint64
	evicted, eventsDropped, eventsCoalesced                                       atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		QueriesSent: c.queriesSent.Load(), QueriesSuppressed: c.queriesSuppressed.Load(),
		RefreshQueries: c.refreshQueries.Load(), Packets: c.packets.Load(),
		Responses: c.responses.Load(), Ephemeral: c.ephemeral.Load(),
		PeersFound: c.peersFound.Load(), PeersLost: c.peersLost.Load(),
		Expired: c.expired.Load(), Poofed: c.poofed.Load(),
		DroppedTTL: c.dTTL.Load(), DroppedOffLink: c.dOffLink.Load(),
		DroppedMalformed: c.dMalformed.Load(), DroppedIrrelevant: c.dIrrelevant.Load(),
		DroppedOwn: c.dOwn.Load(), DroppedPort: c.dPort.Load(), DroppedAddrs: c.dAddrs.Load(),
		Evicted:       c.evicted.Load(),
		EventsDropped: c.eventsDropped.Load(), EventsCoalesced: c.eventsCoalesced.Load(),
	}
}

// Errors of New and Run (see Run for the contract every Run of this
// module shares).
var (
	ErrNoConn  = errors.New("browser: Config.Conn is required")
	ErrClosed  = errors.New("browser: closed")
	ErrRunning = errors.New("browser: Run already called")
)

// setDefaults checks c and fills its zero fields; errors name the field
// and its value.
func (c *Config) setDefaults() error {
	if c.Conn == nil {
		return ErrNoConn
	}
	if err := defaults.Common("browser", &c.Service, &c.Logger, &c.Rand); err != nil {
		return err
	}
	if err := defaults.Apply("browser",
		defaults.Field[int]{Name: "MaxPeers", V: &c.MaxPeers, Def: DefaultMaxPeers},
		defaults.Field[int]{Name: "MaxAddrs", V: &c.MaxAddrs, Def: DefaultMaxAddrs},
		defaults.Field[int]{Name: "MaxRecords", V: &c.MaxRecords, Def: DefaultMaxRecords},
		defaults.Field[int]{Name: "EventQueue", V: &c.EventQueue, Def: DefaultEventQueue},
		defaults.Field[int]{Name: "ReceiveQueue", V: &c.ReceiveQueue, Def: DefaultReceiveQueue},
	); err != nil {
		return err
	}
	return nil
}
