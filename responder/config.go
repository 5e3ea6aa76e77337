package responder

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/chorus-services/discovery/internal/defaults"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Config configures a Responder. New copies it.
type Config struct {
	// Conn is the transport the Responder sends and receives on
	// (required). Run reads it through a View of its own, which also
	// brings the interface changes; the Conn may be shared (with a
	// Browser) and is never closed by the Responder.
	Conn transport.Conn
	// Service is a service tag ("_p2p._udp", "CHORUS-peer-discovery", mapped
	// by mdns.ServiceName) or a fully qualified name ending in ".local."; ""
	// means mdns.SpecService.
	Service string
	// PeerID is the libp2p peer announced (required).
	PeerID peer.ID
	// Addrs are the multiaddrs announced (see SetAddrs).
	Addrs []ma.Multiaddr
	// PeerName is the initial instance label; "" picks a random one
	// (mdns.NewPeerName). A conflict replaces it with a random one.
	PeerName string
	// Port is the SRV port; 0 derives it from Addrs (mdns.Peer.Port).
	Port uint16
	// TTLHost (SRV, A, AAAA) and TTLOther (PTR, TXT) override the RFC 6762
	// §10 defaults of 120 s and 4500 s when non-zero.
	TTLHost, TTLOther uint32
	// Announcements is the number of unsolicited announcements (RFC 6762
	// §8.3: at least 2, 1 s apart, then doubling; 0: DefaultAnnouncements).
	Announcements int
	// QueueLen bounds the Responder's View of the Conn: packets received
	// and not yet handled (0: DefaultQueueLen); packets that do not fit
	// are dropped and counted (DroppedQueueFull).
	QueueLen int
	// MaxTCSources bounds the queries held for multi-packet known-answer
	// lists (RFC 6762 §7.2; 0: DefaultMaxTCSources). Each holds only the
	// questions and which of our own records the list named, whatever its
	// length.
	MaxTCSources int
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger
	// Rand is the random source for delays and peer names (deterministic
	// in tests); nil means a randomly seeded one. It is used only by the
	// Responder's own goroutines after New returns.
	Rand *rand.Rand
}

// Errors returned by New and Run (see Run for the contract every Run of
// this module shares).
var (
	ErrNoConn  = errors.New("responder: Config.Conn is required")
	ErrRunning = errors.New("responder: Run already called")
	ErrClosed  = errors.New("responder: closed")
)

// Stats are cumulative counters (packets unless noted).
type Stats struct {
	Received      uint64 `json:"received"`      // datagrams read from the Conn
	Probes        uint64 `json:"probes"`        // probe packets sent (§8.1)
	Conflicts     uint64 `json:"conflicts"`     // conflicting probes lost or responses seen (§8.2, §9)
	Renames       uint64 `json:"renames"`       // new peer names chosen after a conflict
	Announcements uint64 `json:"announcements"` // unsolicited announcement packets (§8.3)
	Goodbyes      uint64 `json:"goodbyes"`      // goodbye packets (§10.1)

	AnswersMulticast uint64 `json:"answers_multicast"` // multicast response packets (§6)
	AnswersUnicast   uint64 `json:"answers_unicast"`   // unicast response packets to port 5353 (§5.4)
	AnswersLegacy    uint64 `json:"answers_legacy"`    // legacy unicast response packets (§6.7)

	SuppressedKnown     uint64 `json:"suppressed_known"`     // records left out by known-answer suppression (§7.1)
	SuppressedDuplicate uint64 `json:"suppressed_duplicate"` // records left out by duplicate-answer suppression (§7.4)
	SuppressedRate      uint64 `json:"suppressed_rate"`      // records left out by the 1 s multicast rate limit (§6)

	DroppedTTL       uint64 `json:"dropped_ttl"`        // IP TTL not 255 (§11)
	DroppedOffLink   uint64 `json:"dropped_off_link"`   // source not on the receiving link (§11)
	DroppedMalformed uint64 `json:"dropped_malformed"`  // did not parse
	Ignored          uint64 `json:"ignored"`            // not about us, or to be ignored (§6, §18)
	DroppedQueueFull uint64 `json:"dropped_queue_full"` // reader-to-scheduler queue full

	SendErrors uint64 `json:"send_errors"` // WritePacket or packing failures
}

type stats struct {
	Received, Probes, Conflicts, Renames, Announcements, Goodbyes atomic.Uint64
	AnswersMulticast, AnswersUnicast, AnswersLegacy               atomic.Uint64
	SuppressedKnown, SuppressedDuplicate, SuppressedRate          atomic.Uint64
	DroppedTTL, DroppedOffLink, DroppedMalformed, Ignored         atomic.Uint64
	SendErrors                                                    atomic.Uint64
}

func (s *stats) snapshot() Stats {
	return Stats{
		Received: s.Received.Load(), Probes: s.Probes.Load(), Conflicts: s.Conflicts.Load(),
		Renames: s.Renames.Load(), Announcements: s.Announcements.Load(), Goodbyes: s.Goodbyes.Load(),
		AnswersMulticast: s.AnswersMulticast.Load(), AnswersUnicast: s.AnswersUnicast.Load(),
		AnswersLegacy: s.AnswersLegacy.Load(), SuppressedKnown: s.SuppressedKnown.Load(),
		SuppressedDuplicate: s.SuppressedDuplicate.Load(), SuppressedRate: s.SuppressedRate.Load(),
		DroppedTTL: s.DroppedTTL.Load(), DroppedOffLink: s.DroppedOffLink.Load(),
		DroppedMalformed: s.DroppedMalformed.Load(), Ignored: s.Ignored.Load(),
		SendErrors: s.SendErrors.Load(),
	}
}

// Dropped returns the packets dropped for a problem: the sum of the
// Dropped* counters. Ignored packets (about other names) are no problem.
func (s Stats) Dropped() uint64 {
	return s.DroppedTTL + s.DroppedOffLink + s.DroppedMalformed + s.DroppedQueueFull
}

// Defaults applied by New to zero Config fields.
const (
	DefaultAnnouncements = 3   // RFC 6762 §8.3: at least 2
	DefaultQueueLen      = 64  // the View's packet queue
	DefaultMaxTCSources  = 256 // queries held for their known-answer continuation
)

// setDefaults checks c and fills its zero fields; errors name the field
// and its value.
func (c *Config) setDefaults() error {
	if c.Conn == nil {
		return ErrNoConn
	}
	if err := defaults.Common("responder", &c.Service, &c.Logger, &c.Rand); err != nil {
		return err
	}
	if err := defaults.Apply("responder",
		defaults.Field[int]{Name: "Announcements", V: &c.Announcements, Def: DefaultAnnouncements},
		defaults.Field[int]{Name: "QueueLen", V: &c.QueueLen, Def: DefaultQueueLen},
		defaults.Field[int]{Name: "MaxTCSources", V: &c.MaxTCSources, Def: DefaultMaxTCSources},
	); err != nil {
		return err
	}
	if c.Announcements < 2 {
		return fmt.Errorf("responder: Config.Announcements is %d (RFC 6762 §8.3 asks for at least 2)", c.Announcements)
	}
	c.Addrs = append([]ma.Multiaddr(nil), c.Addrs...)
	return nil
}

// Protocol timings (RFC 6762).
const (
	probeWaitMax     = 250 * time.Millisecond // §8.1 initial random wait
	probeInterval    = 250 * time.Millisecond // §8.1
	probeCount       = 3                      // §8.1
	lostTieWait      = time.Second            // §8.2
	conflictWindow   = 10 * time.Second       // §8.1
	conflictLimit    = 15                     // §8.1
	conflictBackoff  = 5 * time.Second        // §8.1
	announceInterval = time.Second            // §8.3
	sharedDelayMin   = 20 * time.Millisecond  // §6
	sharedDelayMax   = 120 * time.Millisecond // §6
	tcDelayMin       = 400 * time.Millisecond // §7.2
	tcDelayMax       = 500 * time.Millisecond // §7.2
	rateLimit        = time.Second            // §6
	legacyTTL        = 10                     // §6.7
	maxHeldQuestions = 64                     // questions held per source (§7.2)
	maxRemembered    = 4096                   // TXT strings / IPs remembered as ours
)
