package responder

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Config configures a Responder. New copies it.
type Config struct {
	// Conn is the transport the Responder sends and receives on (required).
	// The Responder becomes its only reader and closes it when Run returns
	// (or on Close when Run never ran): a blocked ReadPacket can only be
	// released by closing the Conn.
	Conn transport.Conn
	// Service is a service tag ("_p2p._udp", "CHORUS-peer-discovery", mapped
	// by mdns.ServiceName) or a fully qualified name ending in ".local."; ""
	// means mdns.DefaultService.
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
	// Events, when set, reports interface changes (transport watcher or
	// memnet Conn.Events); each one makes the Responder re-read
	// Conn.Interfaces and re-probe / re-announce / say goodbye as needed.
	Events <-chan transport.Event
	// TTLHost (SRV, A, AAAA) and TTLOther (PTR, TXT) override the RFC 6762
	// §10 defaults of 120 s and 4500 s when non-zero.
	TTLHost, TTLOther uint32
	// Announcements is the number of unsolicited announcements (RFC 6762
	// §8.3: at least 2, 1 s apart, then doubling); 0 means 3.
	Announcements int
	// QueueLen bounds the channel from the reader to the scheduler
	// (0 means 64); packets that do not fit are dropped and counted.
	QueueLen int
	// MaxTCSources bounds the queries held for multi-packet known-answer
	// lists (RFC 6762 §7.2); 0 means 256. Each holds only the questions
	// and which of our own records the list named, whatever its length.
	MaxTCSources int
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger
	// Rand is the random source for delays and peer names (deterministic
	// in tests); nil means a randomly seeded one. It is used only by the
	// Responder's own goroutines after New returns.
	Rand *rand.Rand
	// Metrics, when set, is called with the name of a Stats counter (as in
	// the Stats field, e.g. "Probes") and its increment each time one
	// changes. It must be fast and safe for concurrent use.
	Metrics func(counter string, delta uint64)
}

// Errors returned by New and Run.
var (
	ErrNoConn  = errors.New("responder: Config.Conn is required")
	ErrRunning = errors.New("responder: Run already called")
	ErrClosed  = errors.New("responder: closed")
)

// Stats are cumulative counters (packets unless noted).
type Stats struct {
	Received      uint64 // datagrams read from the Conn
	Probes        uint64 // probe packets sent (§8.1)
	Conflicts     uint64 // conflicting probes lost or responses seen (§8.2, §9)
	Renames       uint64 // new peer names chosen after a conflict
	Announcements uint64 // unsolicited announcement packets (§8.3)
	Goodbyes      uint64 // goodbye packets (§10.1)

	AnswersMulticast uint64 // multicast response packets (§6)
	AnswersUnicast   uint64 // unicast response packets to port 5353 (§5.4)
	AnswersLegacy    uint64 // legacy unicast response packets (§6.7)

	SuppressedKnown     uint64 // records left out by known-answer suppression (§7.1)
	SuppressedDuplicate uint64 // records left out by duplicate-answer suppression (§7.4)
	SuppressedRate      uint64 // records left out by the 1 s multicast rate limit (§6)

	DroppedTTL        uint64 // IP TTL not 255 (§11)
	DroppedOffLink    uint64 // source not on the receiving link (§11)
	DroppedMalformed  uint64 // did not parse
	DroppedIrrelevant uint64 // not about us, or to be ignored (§6, §18)
	DroppedQueueFull  uint64 // reader-to-scheduler queue full

	SendErrors uint64 // WritePacket or packing failures
}

type stats struct {
	Received, Probes, Conflicts, Renames, Announcements, Goodbyes   atomic.Uint64
	AnswersMulticast, AnswersUnicast, AnswersLegacy                 atomic.Uint64
	SuppressedKnown, SuppressedDuplicate, SuppressedRate            atomic.Uint64
	DroppedTTL, DroppedOffLink, DroppedMalformed, DroppedIrrelevant atomic.Uint64
	DroppedQueueFull, SendErrors                                    atomic.Uint64
}

func (s *stats) snapshot() Stats {
	return Stats{
		Received: s.Received.Load(), Probes: s.Probes.Load(), Conflicts: s.Conflicts.Load(),
		Renames: s.Renames.Load(), Announcements: s.Announcements.Load(), Goodbyes: s.Goodbyes.Load(),
		AnswersMulticast: s.AnswersMulticast.Load(), AnswersUnicast: s.AnswersUnicast.Load(),
		AnswersLegacy: s.AnswersLegacy.Load(), SuppressedKnown: s.SuppressedKnown.Load(),
		SuppressedDuplicate: s.SuppressedDuplicate.Load(), SuppressedRate: s.SuppressedRate.Load(),
		DroppedTTL: s.DroppedTTL.Load(), DroppedOffLink: s.DroppedOffLink.Load(),
		DroppedMalformed: s.DroppedMalformed.Load(), DroppedIrrelevant: s.DroppedIrrelevant.Load(),
		DroppedQueueFull: s.DroppedQueueFull.Load(), SendErrors: s.SendErrors.Load(),
	}
}

// Dropped returns the sum of the Dropped* counters.
func (s Stats) Dropped() uint64 {
	return s.DroppedTTL + s.DroppedOffLink + s.DroppedMalformed + s.DroppedIrrelevant + s.DroppedQueueFull
}

func (r *Responder) inc(c *atomic.Uint64, name string, n uint64) {
	if n == 0 {
		return
	}
	c.Add(n)
	if r.cfg.Metrics != nil {
		r.cfg.Metrics(name, n)
	}
}

// serviceFQDN maps a tag or a ".local." FQDN to the service name.
func serviceFQDN(s string) (string, error) {
	l := strings.ToLower(s)
	for _, suf := range []string{".local.", ".local"} {
		if strings.HasSuffix(l, suf) && len(s) > len(suf) {
			return mdns.ServiceName(s[:len(s)-len(suf)])
		}
	}
	return mdns.ServiceName(s)
}

func (c *Config) validate() error {
	if c.Conn == nil {
		return ErrNoConn
	}
	svc, err := serviceFQDN(c.Service)
	if err != nil {
		return fmt.Errorf("responder: %w", err)
	}
	c.Service = svc
	if c.Announcements == 0 {
		c.Announcements = 3
	}
	if c.Announcements < 2 {
		return fmt.Errorf("responder: Announcements %d < 2 (RFC 6762 §8.3)", c.Announcements)
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 64
	}
	if c.MaxTCSources <= 0 {
		c.MaxTCSources = 256
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
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
