package responder

import (
	"bytes"
	"context"
	mrand "math/rand"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testName = "aaaabbbbccccddddeeeeffffgggghhhh" // a valid 32-character peer name

func testID(t testing.TB, seed int64) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(mrand.New(mrand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func maddrs(t testing.TB, ss ...string) []ma.Multiaddr {
	t.Helper()
	out := make([]ma.Multiaddr, len(ss))
	for i, s := range ss {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = a
	}
	return out
}

// capture records every packet put on the LAN.
type capture struct {
	mu   sync.Mutex
	recs []memnet.TapRecord
}

func (c *capture) tap(r memnet.TapRecord) {
	c.mu.Lock()
	c.recs = append(c.recs, r)
	c.mu.Unlock()
}

// pkt is a parsed captured packet.
type pkt struct {
	memnet.TapRecord
	m *dns.Msg
}

// from returns the parsed packets sent by host (all when host is "*")
// at or after t0.
func (c *capture) from(t testing.TB, host string, t0 time.Time) []pkt {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []pkt
	for _, r := range c.recs {
		if (host != "*" && r.Host != host) || r.Time.Before(t0) {
			continue
		}
		m, err := mdns.Parse(r.Packet.Data)
		if err != nil {
			t.Fatalf("unparseable packet from %q at %v: %v", r.Host, r.Time, err)
		}
		out = append(out, pkt{r, m})
	}
	return out
}

func (p pkt) v4() bool    { return p.Packet.Dst.Addr().Is4() }
func (p pkt) probe() bool { return !p.m.Response && len(p.m.Ns) > 0 }
func (p pkt) ttl0() bool {
	k, _ := mdns.Classify(p.m)
	return k == mdns.KindGoodbye
}

func only(ps []pkt, f func(pkt) bool) []pkt {
	var out []pkt
	for _, p := range ps {
		if f(p) {
			out = append(out, p)
		}
	}
	return out
}

func isV4(p pkt) bool { return p.v4() }

// hasRR reports whether a section holds a record of type t.
func hasRR(sec []dns.RR, t uint16) bool {
	for _, rr := range sec {
		if rr.Header().Rrtype == t {
			return true
		}
	}
	return false
}

// bed is a memnet LAN with a capture, made inside a synctest bubble.
type bed struct {
	t   *testing.T
	lan *memnet.LAN
	cap *capture
	t0  time.Time
}

func newBed(t *testing.T, cfg memnet.Config) *bed {
	t.Helper()
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	lan, err := memnet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &bed{t: t, lan: lan, cap: &capture{}, t0: time.Now()}
	lan.Tap(b.cap.tap)
	return b
}

func (b *bed) host(name string, ifs ...memnet.IfaceConfig) *memnet.Host {
	b.t.Helper()
	h, err := b.lan.AddHost(name, ifs...)
	if err != nil {
		b.t.Fatal(err)
	}
	return h
}

// listen opens a Conn with a View the test reads through (testkit.Conn).
func (b *bed) listen(h *memnet.Host, o memnet.ListenOptions) testkit.Conn {
	b.t.Helper()
	return testkit.Listen(b.t, h, o)
}

// running is a Responder whose Run goroutine is running.
type running struct {
	*Responder
	errc chan error
}

// start runs a responder for host h (with a fresh Conn) with defaults for
// the fields cfg leaves empty.
func (b *bed) start(h *memnet.Host, cfg Config) *running {
	b.t.Helper()
	if cfg.Conn == nil {
		c, err := h.Listen(memnet.ListenOptions{})
		if err != nil {
			b.t.Fatal(err)
		}
		cfg.Conn = c
	}
	if cfg.PeerID == "" {
		cfg.PeerID = testID(b.t, 1)
	}
	if cfg.Addrs == nil {
		cfg.Addrs = maddrs(b.t, "/ip4/10.0.0.1/tcp/4001")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 2))
	}
	r, err := New(cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	run := &running{r, make(chan error, 1)}
	go func() { run.errc <- r.Run(context.Background()) }()
	return run
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-r.errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// query builds a query packet.
func query(id uint16, tc bool, known []dns.RR, qs ...dns.Question) []byte {
	m := new(dns.Msg)
	m.Id = id
	m.Question = qs
	m.Answer = known
	m.Truncated = tc
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

func q(name string, t uint16) dns.Question {
	return dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET}
}

func qu(name string, t uint16) dns.Question {
	return dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET | mdns.CacheFlushBit}
}

// inject puts a packet from a foreign on-link host (10.0.0.200) on the
// first segment.
func (b *bed) inject(data []byte, src string, ttl int) {
	b.t.Helper()
	if src == "" {
		src = "10.0.0.200:5353"
	}
	p := transport.Packet{Data: data, Src: netip.MustParseAddrPort(src), Dst: transport.GroupV4, TTL: ttl}
	if err := b.lan.Inject(memnet.DefaultSegment, nil, p); err != nil {
		b.t.Fatal(err)
	}
}

// response builds a response packet with the given answers.
func response(ans ...dns.RR) []byte {
	m := new(dns.Msg)
	m.Response = true
	m.Authoritative = true
	m.Answer = ans
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

func containsBytes(hay [][]byte, b []byte) bool {
	for _, h := range hay {
		if bytes.Equal(h, b) {
			return true
		}
	}
	return false
}

// announced waits (in virtual time) until probing and announcing are over.
func announced() { time.Sleep(5 * time.Second) }
