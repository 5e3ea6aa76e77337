package browser

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/internal/testkit/memkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// env is a browser on host "b" of a memkit bed (the LAN and its capture);
// create it inside a synctest bubble.
type env struct {
	*memkit.Bed
	t     testing.TB
	host  *memnet.Host
	iface *memnet.Iface
	conn  *memnet.Conn
	b     *Browser

	mu     sync.Mutex
	events []Event
	wg     sync.WaitGroup
	runErr chan error
}

type envOpt struct {
	cfg      func(*Config)
	segments []memnet.SegmentConfig
	ifaces   []memnet.IfaceConfig
	noRead   bool
	noRun    bool
}

func newEnv(t testing.TB, o envOpt) *env {
	t.Helper()
	bed := memkit.NewBed(t, memnet.Config{QueueLen: 1024, Segments: o.segments})
	h := bed.Host("b", o.ifaces...)
	c := memkit.Open(t, h)
	e := &env{Bed: bed, t: t, host: h, iface: h.Ifaces()[0], conn: c, runErr: make(chan error, 1)}
	cfg := Config{Conn: c, Rand: rand.New(rand.NewPCG(1, 2)), Self: testkit.ID(t, -1)}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	var err error
	e.b, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !o.noRun {
		go func() { e.runErr <- e.b.Run(context.Background()) }()
	}
	if !o.noRead {
		e.wg.Go(func() {
			for ev := range e.b.Events() {
				e.mu.Lock()
				e.events = append(e.events, ev)
				e.mu.Unlock()
			}
		})
	}
	t.Cleanup(e.stop)
	syncWait()
	return e
}

// stop closes the browser and the LAN (at the end of the test unless
// called before; idempotent).
func (e *env) stop() {
	e.b.Close()
	e.wg.Wait()
	e.LAN.Close()
}

func (e *env) evs() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.events...)
}

// inject puts data on the LAN from src (port 5353 unless given) to the
// IPv4 group, received by the browser's interface.
func (e *env) inject(data []byte, src string) { e.injectTTL(data, src, 0) }

// injectTTL is inject with an IP TTL (0 means 255).
func (e *env) injectTTL(data []byte, src string, ttl int) {
	e.t.Helper()
	e.Inject("", e.iface, src, ttl, data)
	syncWait()
}

// injectNoWait injects without waiting for the browser.
func (e *env) injectNoWait(data []byte, src string) { e.Inject("", e.iface, src, 0, data) }

func (e *env) since() time.Duration { return time.Since(e.T0) }

// goResponse packs a go-libp2p style response (PTR, SRV, one TXT) for a
// peer with the given instance label, TTL (PTR/TXT) and addresses.
func goResponse(t testing.TB, id peer.ID, name string, ttl uint32, addrs ...string) []byte {
	t.Helper()
	var mas []ma.Multiaddr
	for _, a := range addrs {
		mas = append(mas, ma.StringCast(a))
	}
	rs, err := mdns.NewRecordSet(mdns.Peer{Service: mdns.SpecService, PeerName: name, ID: id, Addrs: mas, TTLOther: ttl, TTLHost: ttl})
	if err != nil {
		t.Fatal(err)
	}
	r := &mdns.Response{Answers: []dns.RR{rs.PTR}, Additional: []dns.RR{rs.SRV}, TXT: rs.TXT, MaxSize: 9000}
	if ttl == 0 { // a goodbye (§10.1)
		r.Answers, r.Additional = mdns.WithTTL(r.Answers, 0), mdns.WithTTL(r.Additional, 0)
		r.TXT = mdns.WithTTL([]dns.RR{rs.TXT}, 0)[0].(*dns.TXT)
	}
	pkts, _, err := mdns.PackResponse(r)
	if err != nil {
		t.Fatal(err)
	}
	return pkts[0]
}

// rustResponse packs a rust-libp2p style response: PTR to a single random
// label, one TXT per address in the additional section (cache-flush).
func rustResponse(t testing.TB, id peer.ID, label string, ttl uint32, addrs ...string) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.Response, m.Authoritative = true, true
	m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: mdns.SpecService, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}, Ptr: label + "."}}
	for _, a := range addrs {
		m.Extra = append(m.Extra, &dns.TXT{Hdr: dns.RR_Header{Name: label + ".", Rrtype: dns.TypeTXT, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: ttl},
			Txt: []string{"dnsaddr=" + a + "/p2p/" + id.String()}})
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// txtResponse packs a response with one TXT record for an instance of the
// service, with or without the cache-flush bit.
func txtResponse(t testing.TB, id peer.ID, name string, ttl uint32, flush bool, addrs ...string) []byte {
	t.Helper()
	class := uint16(dns.ClassINET)
	if flush {
		class |= mdns.CacheFlushBit
	}
	inst := name + "." + mdns.SpecService
	txt := &dns.TXT{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeTXT, Class: class, Ttl: ttl}}
	for _, a := range addrs {
		txt.Txt = append(txt.Txt, "dnsaddr="+a+"/p2p/"+id.String())
	}
	m := new(dns.Msg)
	m.Response, m.Authoritative = true, true
	m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: mdns.SpecService, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}, Ptr: inst}}
	m.Extra = []dns.RR{txt}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ptrQuery packs a QM query for the service with the given known answers.
func ptrQuery(t testing.TB, known ...dns.RR) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.Question = []dns.Question{{Name: mdns.SpecService, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
	m.Answer = known
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kaPTR is the service PTR of an instance label, as a known answer.
func kaPTR(label string) dns.RR {
	return &dns.PTR{Hdr: dns.RR_Header{Name: mdns.SpecService, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4500}, Ptr: label + "." + mdns.SpecService}
}

// kaQuery packs a query packet with known answers: the first packet of a
// query (question) or a continuation (none), with or without TC (§7.2).
func kaQuery(t testing.TB, question, tc bool, known ...dns.RR) []byte {
	t.Helper()
	m := new(dns.Msg)
	if question {
		m.Question = []dns.Question{{Name: mdns.SpecService, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
	}
	m.Truncated, m.Answer = tc, known
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func peerName(i int) string { return fmt.Sprintf("k3v9q0b7x2m4n8p1r5t6w0y3z7a%05d", i) }

func addrStrings(as []ma.Multiaddr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func kinds(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Kind.String())
	}
	return out
}

// queriesWithin runs a browser for d and returns it and the queries it
// sent.
func queriesWithin(t testing.TB, d time.Duration) (*env, []sentQuery) {
	t.Helper()
	e := newEnv(t, envOpt{})
	time.Sleep(d)
	syncWait()
	return e, e.queries()
}

// queries returns the parsed queries the browser sent.
// round returns when the k-th browse query (k = 0 the first) goes out,
// since the env started: the first after 20–120 ms, then after intervals
// doubling from the schedule's random first one (§5.2). Call it once the
// first query is sent.
func (e *env) round(k int) time.Duration {
	e.t.Helper()
	qs := e.queries()
	if len(qs) == 0 {
		e.t.Fatal("round: no query sent yet")
	}
	e.b.mu.Lock()
	unit := e.b.ifaces[e.iface.Index()].unit
	e.b.mu.Unlock()
	return qs[0].at + time.Duration(1<<k-1)*unit
}

func (e *env) queries() []sentQuery {
	var out []sentQuery
	for _, r := range e.Cap.Sent("b", e.T0) {
		m, err := mdns.Parse(r.Packet.Data)
		if err != nil || m.Response {
			continue
		}
		out = append(out, sentQuery{at: r.Time.Sub(e.T0), m: m, v4: r.Packet.Dst.Addr().Is4()})
	}
	return out
}

type sentQuery struct {
	at time.Duration
	m  *dns.Msg
	v4 bool
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
