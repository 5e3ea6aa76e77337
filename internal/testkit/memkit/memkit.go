// Package memkit is the one in-memory LAN test kit of this module: a
// memnet LAN closed at the end of the test, hosts, Conns the test reads
// through a View, a capture of every packet put on the LAN, and packets
// injected from a foreign host. It sits at the transport layer (it
// imports mdns/transport and memnet), so the tests of every layer from
// the transport up may use it. Under testing/synctest, build everything
// inside the bubble.
package memkit

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

// NewLAN builds a memnet LAN of cfg (optional: one segment, the defaults;
// Seed 1 unless set) closed at the end of the test.
func NewLAN(t testing.TB, cfgs ...memnet.Config) *memnet.LAN {
	t.Helper()
	var cfg memnet.Config
	if len(cfgs) > 0 {
		cfg = cfgs[0]
	}
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

// Open opens a plain Conn on h with options o (optional): the one a
// protocol layer under test reads through its own View.
func Open(t testing.TB, h *memnet.Host, o ...memnet.ListenOptions) *memnet.Conn {
	t.Helper()
	var opts memnet.ListenOptions
	if len(o) > 0 {
		opts = o[0]
	}
	c, err := h.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Conn is a memnet Conn with a View opened at Listen: the reader a test
// looks through. Every packet reaching the Conn from then on is queued on
// it (up to the View's bound).
type Conn struct {
	*memnet.Conn
	Reader *transport.View
}

// Listen opens a Conn on h (options o optional) with a View of it.
func Listen(t testing.TB, h *memnet.Host, o ...memnet.ListenOptions) Conn {
	t.Helper()
	c := Open(t, h, o...)
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
func (c Conn) Drain() []transport.Packet {
	var out []transport.Packet
	for {
		select {
		case p, ok := <-c.Reader.Packets():
			if !ok {
				return out
			}
			out = append(out, *p)
		default:
			return out
		}
	}
}

// Write sends p and fails the test on an error.
func (c Conn) Write(t testing.TB, p transport.Packet) {
	t.Helper()
	if err := c.WritePacket(&p); err != nil {
		t.Fatal(err)
	}
}

// Capture records every packet the LAN's hosts send (see memnet.LAN.Tap);
// injected packets are left out, so that a flood a test injects costs it
// no memory.
type Capture struct {
	mu   sync.Mutex
	recs []memnet.TapRecord
}

// Tap starts a Capture of lan.
func Tap(lan *memnet.LAN) *Capture {
	c := &Capture{}
	lan.Tap(func(r memnet.TapRecord) {
		if r.Injected {
			return
		}
		c.mu.Lock()
		c.recs = append(c.recs, r)
		c.mu.Unlock()
	})
	return c
}

// Sent returns the packets sent by host ("*": every host) at or after
// since, in the order they were put on the LAN.
func (c *Capture) Sent(host string, since time.Time) []memnet.TapRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []memnet.TapRecord
	for _, r := range c.recs {
		if (host == "*" || r.Host == host) && !r.Time.Before(since) {
			out = append(out, r)
		}
	}
	return out
}

// Inject puts data on the LAN as a multicast from a foreign host: src is
// "addr:port" or an address (port 5353), the group is the one of src's
// family, ttl the IP TTL (0: 255). With iface set only that interface
// receives it (seg may then be ""), else every member of segment seg.
func Inject(t testing.TB, lan *memnet.LAN, seg string, iface *memnet.Iface, src string, ttl int, data []byte) {
	t.Helper()
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		ap = netip.AddrPortFrom(netip.MustParseAddr(src), mdns.Port)
	}
	dst := transport.GroupV4
	if ap.Addr().Is6() {
		dst = transport.GroupV6
	}
	if err := lan.Inject(seg, iface, transport.Packet{Data: data, Src: ap, Dst: dst, TTL: ttl}); err != nil {
		t.Fatal(err)
	}
}

// Bed is a LAN (closed at the end of the test) with a Capture running
// from T0, its creation: the fixture of the protocol layers' tests.
type Bed struct {
	T   testing.TB
	LAN *memnet.LAN
	Cap *Capture
	T0  time.Time
}

// NewBed builds a Bed on a LAN of cfg (optional; see NewLAN).
func NewBed(t testing.TB, cfg ...memnet.Config) *Bed {
	t.Helper()
	lan := NewLAN(t, cfg...)
	return &Bed{T: t, LAN: lan, Cap: Tap(lan), T0: time.Now()}
}

// Host adds a host (see AddHost).
func (b *Bed) Host(name string, ifs ...memnet.IfaceConfig) *memnet.Host {
	b.T.Helper()
	return AddHost(b.T, b.LAN, name, ifs...)
}

// Listen opens a Conn with a View on h (see Listen).
func (b *Bed) Listen(h *memnet.Host, o ...memnet.ListenOptions) Conn {
	b.T.Helper()
	return Listen(b.T, h, o...)
}

// Inject puts data on the LAN from a foreign host (see Inject).
func (b *Bed) Inject(seg string, iface *memnet.Iface, src string, ttl int, data []byte) {
	b.T.Helper()
	Inject(b.T, b.LAN, seg, iface, src, ttl, data)
}
