package responder

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/internal/testkit/memkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testName = "aaaabbbbccccddddeeeeffffgggghhhh" // a valid 32-character peer name

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

// pkt is a parsed captured packet.
type pkt struct {
	memnet.TapRecord
	m *dns.Msg
}

// sent returns the parsed packets sent by host (all when host is "*")
// at or after t0.
func (b bed) sent(t testing.TB, host string, t0 time.Time) []pkt {
	t.Helper()
	var out []pkt
	for _, r := range b.Cap.Sent(host, t0) {
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

// bed is the memkit test bed of these tests (a LAN with a capture, closed
// at the end of the test), made inside a synctest bubble.
type bed struct{ *memkit.Bed }

func newBed(t *testing.T) bed { return bed{memkit.NewBed(t)} }

func newBedOn(t *testing.T, cfg memnet.Config) bed { return bed{memkit.NewBed(t, cfg)} }

// announcedBed is a bed with a responder for host "a" (see start) that
// has probed and announced.
func announcedBed(t *testing.T, cfg Config) (bed, *running) {
	t.Helper()
	b := newBed(t)
	r := b.start(b.Host("a"), cfg)
	announced()
	return b, r
}

// running is a Responder whose Run goroutine is running.
type running struct {
	*Responder
	errc chan error
}

// start runs a responder for host h (with a fresh Conn) with defaults for
// the fields cfg leaves empty.
func (b bed) start(h *memnet.Host, cfg Config) *running {
	b.T.Helper()
	if cfg.Conn == nil {
		cfg.Conn = memkit.Open(b.T, h)
	}
	if cfg.PeerID == "" {
		cfg.PeerID = testkit.ID(b.T, 1)
	}
	if cfg.Addrs == nil {
		cfg.Addrs = maddrs(b.T, "/ip4/10.0.0.1/tcp/4001")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 2))
	}
	r, err := New(cfg)
	if err != nil {
		b.T.Fatal(err)
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
	return pack(&dns.Msg{MsgHdr: dns.MsgHdr{Id: id, Truncated: tc}, Question: qs, Answer: known})
}

// ptrQuery is a QM query for the service's PTR records.
func ptrQuery() []byte { return query(0, false, nil, q(mdns.SpecService, dns.TypePTR)) }

// response builds a response packet with the given answers.
func response(ans ...dns.RR) []byte {
	return pack(&dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Answer: ans})
}

func pack(m *dns.Msg) []byte {
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
func (b bed) inject(data []byte, src string, ttl int) {
	b.T.Helper()
	if src == "" {
		src = "10.0.0.200:5353"
	}
	b.Inject(memnet.DefaultSegment, nil, src, ttl, data)
}

// announced waits (in virtual time) until probing and announcing are over.
func announced() { time.Sleep(5 * time.Second) }
