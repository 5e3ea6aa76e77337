// Package testkit is the one set of test fixtures of this module: an
// in-memory LAN (memnet) with Conns the test reads through a View, one
// deterministic peer-ID maker and one bounded wait. It sits at the
// transport layer (it imports mdns/transport and memnet only), so the
// tests of every layer above may use it.
package testkit

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// NewLAN builds a memnet LAN (Seed 1 unless set) closed at the end of the
// test. Under testing/synctest call it inside the bubble.
func NewLAN(t testing.TB, cfg memnet.Config) *memnet.LAN {
	t.Helper()
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	lan, err := memnet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lan.Close() })
	return lan
}

// AddHost adds a host (by default one dual-stack interface "eth0" on the
// default segment; see memnet.LAN.AddHost).
func AddHost(t testing.TB, lan *memnet.LAN, name string, ifs ...memnet.IfaceConfig) *memnet.Host {
	t.Helper()
	h, err := lan.AddHost(name, ifs...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Conn is a memnet Conn with a View opened at Listen: the reader a test
// looks through. Every packet reaching the Conn from then on is queued on
// it (up to the View's bound).
type Conn struct {
	*memnet.Conn
	Reader *transport.View
}

// Listen opens a Conn on h with a View of it.
func Listen(t testing.TB, h *memnet.Host, o memnet.ListenOptions) Conn {
	t.Helper()
	c, err := h.Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.View(transport.ViewConfig{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return Conn{c, v}
}

// ReadPacket reads the View (see transport.View.ReadPacket).
func (c Conn) ReadPacket(buf []byte, p *transport.Packet) error { return c.Reader.ReadPacket(buf, p) }

// Events returns the View's interface events.
func (c Conn) Events() <-chan transport.Event { return c.Reader.Events() }

// Queued returns how many packets wait in the View.
func (c Conn) Queued() int { return len(c.Reader.Packets()) }

// Drain returns every packet queued on the View, without blocking.
func (c Conn) Drain() []*transport.Packet {
	var out []*transport.Packet
	for {
		select {
		case p, ok := <-c.Reader.Packets():
			if !ok {
				return out
			}
			out = append(out, p)
		default:
			return out
		}
	}
}

// WaitFor checks cond every 10 ms until it holds, and fails the test when
// it still does not after limit. Under testing/synctest the time is the
// bubble's.
func WaitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ID returns the peer ID of the ed25519 key made from seed: the same seed
// gives the same ID in every package and run.
func ID(t testing.TB, seed int64) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(Key(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Key returns the ed25519 private key made from seed (see ID).
func Key(t testing.TB, seed int64) crypto.PrivKey {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(fmt.Errorf("testkit: key %d: %w", seed, err))
	}
	return sk
}
