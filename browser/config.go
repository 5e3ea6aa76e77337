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
	// probeHold is how long a record proposed in a probe lives without an
	// answer confirming it: probing takes 750 ms, a lost tie-break adds
	// 1 s and a new round (RFC 6762 §8.1, §8.2).
	probeHold = 5 * time.Second
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
	// IgnoreProbes finds peers only from answers and announcements (strict
	// RFC 6762 reading). By default a peer is found at its first probe
	// (§8.1), some 750 ms before it may announce: the TXT records a probe
	// proposes are cached provisionally, for probeHold, until the
	// announcement confirms them. A probe is a proposal that may lose its
	// tie-break (§8.2: the peer renames and proposes the same addresses, so
	// nothing reported changes) or be abandoned (the peer is lost when its
	// provisional records expire); a peer's libp2p identity is verified by
	// the connection handshake either way. Nothing sent changes.
	IgnoreProbes bool
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
)

func (k EventKind) String() string {
	switch k {
	case Found:
		return "found"
	case Updated:
		return "updated"
	case Lost:
		return "lost"
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
	QueriesSent       uint64 `json:"queries_sent"`       // query messages sent (continuation packets not counted)
	QueriesSuppressed uint64 `json:"queries_suppressed"` // scheduled queries skipped by §7.3
	RefreshQueries    uint64 `json:"refresh_queries"`    // of QueriesSent, refresh queries (§5.2)
	Packets           uint64 `json:"packets"`            // datagrams read
	Responses         uint64 `json:"responses"`          // responses processed
	Ephemeral         uint64 `json:"ephemeral"`          // of those, from a source port other than 5353
	PeersFound        uint64 `json:"peers_found"`
	PeersLost         uint64 `json:"peers_lost"`
	Expired           uint64 `json:"expired"` // records expired (TTL, goodbye, flush)
	Poofed            uint64 `json:"poofed"`  // records flushed by POOF (§10.5)
	Records           int    `json:"records"`
	Peers             int    `json:"peers"`
	Established       int    `json:"established"` // of Peers, those evicted last (see the package documentation)

	DroppedTTL       uint64 `json:"dropped_ttl"`       // IP TTL not 255 (§11)
	DroppedOffLink   uint64 `json:"dropped_off_link"`  // source not on the receiving link (§11)
	DroppedMalformed uint64 `json:"dropped_malformed"` // unparsable packets, rejected TXT sets, bad strings
	Ignored          uint64 `json:"ignored"`           // not about our service (prefilter, nothing decoded)
	Own              uint64 `json:"own"`               // candidates naming Config.Self
	DroppedPort      uint64 `json:"dropped_port"`      // responses from a port other than 5353 (DisableEphemeralPort)
	FilteredAddrs    uint64 `json:"filtered_addrs"`    // multiaddrs removed by the filters
	QueueFull        uint64 `json:"queue_full"`        // packets dropped because the View's queue was full
	Evicted          uint64 `json:"evicted"`           // records and peers evicted by the bounds
	EventsDropped    uint64 `json:"events_dropped"`    // events dropped because the event queue was full
	EventsCoalesced  uint64 `json:"events_coalesced"`  // events merged into an undelivered one
}

// Dropped returns the packets dropped for a problem: bad TTL, off-link
// source, malformed, a refused source port, a full queue. Ignored packets
// (about other services), our own records and filtered addresses are no
// problem; evictions and event drops are counted apart.
func (s Stats) Dropped() uint64 {
	return s.DroppedTTL + s.DroppedOffLink + s.DroppedMalformed + s.DroppedPort + s.QueueFull
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
		DroppedMalformed: c.dMalformed.Load(), Ignored: c.dIrrelevant.Load(),
		Own: c.dOwn.Load(), DroppedPort: c.dPort.Load(), FilteredAddrs: c.dAddrs.Load(),
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
