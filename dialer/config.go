package dialer

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTimeout               = 10 * time.Second
	DefaultConcurrency           = 8
	DefaultBackoffMin            = time.Second
	DefaultBackoffMax            = 5 * time.Minute
	DefaultRedialAfterDisconnect = 30 * time.Second
	DefaultMaxPeers              = 4096
	DefaultTag                   = "mdns"
	DefaultTagWeight             = 10
	DefaultEventBuffer           = 256
	// DefaultAddrTTL is the peerstore TTL used when Found is given a
	// non-positive TTL (the mDNS host-record TTL of RFC 6762 §10).
	DefaultAddrTTL = 120 * time.Second
)

// Config configures a Dialer. Only Host is required; zero values select the
// defaults above.
type Config struct {
	// Host dials peers and holds the peerstore and connection manager.
	Host host.Host
	// Timeout bounds one connection attempt (default 10 s).
	Timeout time.Duration
	// Concurrency is the number of workers, i.e. the maximum number of
	// attempts in flight (default 8).
	Concurrency int
	// BackoffMin and BackoffMax bound the per-peer exponential backoff after
	// failures (default 1 s and 5 min). Each delay is jittered by ±20 %.
	BackoffMin, BackoffMax time.Duration
	// RedialAfterDisconnect is the minimum time between a peer's disconnect
	// and a redial, which also needs a fresh announcement (default 30 s);
	// an announcement with changed addresses is dialled at once.
	RedialAfterDisconnect time.Duration
	// MaxPeers bounds the peers tracked (default 4096). When full, the
	// least recently announced idle peer is evicted and counted.
	MaxPeers int
	// Tag and TagWeight are the connection-manager tag set on discovered
	// peers (default "mdns", 10). NoTag disables tagging.
	Tag       string
	TagWeight int
	NoTag     bool
	// EventBuffer is the capacity of the Events channel (default 256);
	// events that do not fit are dropped and counted.
	EventBuffer int
	// Logger receives debug and info records; nil discards them.
	Logger *slog.Logger
	// Rand draws the backoff jitter; nil seeds a private generator. It is
	// only used under the Dialer's lock.
	Rand *rand.Rand
}

func (c *Config) setDefaults() error {
	if c.Host == nil {
		return errors.New("dialer: Config.Host is required")
	}
	if err := applyDefaults(
		field[time.Duration]{"Timeout", &c.Timeout, DefaultTimeout},
		field[time.Duration]{"BackoffMin", &c.BackoffMin, DefaultBackoffMin},
		field[time.Duration]{"BackoffMax", &c.BackoffMax, DefaultBackoffMax},
		field[time.Duration]{"RedialAfterDisconnect", &c.RedialAfterDisconnect, DefaultRedialAfterDisconnect},
	); err != nil {
		return err
	}
	if c.BackoffMax < c.BackoffMin {
		return fmt.Errorf("dialer: Config.BackoffMax (%v) < BackoffMin (%v)", c.BackoffMax, c.BackoffMin)
	}
	if err := applyDefaults(
		field[int]{"Concurrency", &c.Concurrency, DefaultConcurrency},
		field[int]{"MaxPeers", &c.MaxPeers, DefaultMaxPeers},
		field[int]{"EventBuffer", &c.EventBuffer, DefaultEventBuffer},
		field[int]{"TagWeight", &c.TagWeight, DefaultTagWeight},
	); err != nil {
		return err
	}
	if c.NoTag {
		c.Tag = ""
	} else if c.Tag == "" {
		c.Tag = DefaultTag
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("component", "dialer")
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return nil
}

// field is one numeric Config field: its name, where it is, its default.
// (The rule is internal/defaults', which the responder and browser share;
// the dialer imports nothing of this module.)
type field[T int | time.Duration] struct {
	name string
	v    *T
	def  T
}

// applyDefaults fills the zero fields with their defaults; a negative
// field is an error naming it and its value.
func applyDefaults[T int | time.Duration](fields ...field[T]) error {
	for _, f := range fields {
		if *f.v < 0 {
			return fmt.Errorf("dialer: Config.%s is negative (%v)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return nil
}
