package flood

import (
	"context"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/net/ipv4"
)

func testRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// TestFakePeersDistinctAndValid: every fake parses and decodes as one
// go-libp2p candidate with a valid peer ID; IDs and instance names are all
// distinct across templates and suffixes.
func TestFakePeersDistinctAndValid(t *testing.T) {
	f, err := NewFakePeers(FakePeerConfig{Templates: 8, Rand: testRand()})
	if err != nil {
		t.Fatal(err)
	}
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	ids := map[peer.ID]bool{}
	insts := map[string]bool{}
	buf := make([]byte, mdns.MaxPacketSize)
	const n = 5000
	for i := range n {
		m, err := mdns.Parse(f.Next(buf))
		if err != nil {
			t.Fatalf("fake %d: %v", i, err)
		}
		res := dec.Decode(m, false)
		if len(res.Candidates) != 1 || len(res.Rejected) != 0 || res.BadStrings != 0 {
			t.Fatalf("fake %d: %+v", i, res)
		}
		c := res.Candidates[0]
		if err := c.ID.Validate(); err != nil || c.Flavour != mdns.FlavourDiscovery || len(c.Addrs) != 1 {
			t.Fatalf("fake %d: %+v (%v)", i, c, err)
		}
		if _, err := c.ID.ExtractPublicKey(); err != nil {
			t.Fatalf("fake %d: ID without an ed25519 key: %v", i, err)
		}
		ids[c.ID], insts[c.Instance] = true, true
	}
	if len(ids) != n || len(insts) != n || f.Made() != n {
		t.Fatalf("%d distinct IDs, %d distinct instances of %d", len(ids), len(insts), n)
	}
	if MaxFakePeers(64) < 60*100_000 {
		t.Errorf("64 templates give only %d distinct peers", MaxFakePeers(64))
	}
}

// TestGarbageAndChatter: garbage never yields a candidate; chatter parses
// and never mentions the libp2p service (the prefilter drops it).
func TestGarbageAndChatter(t *testing.T) {
	rnd := testRand()
	f, err := NewFakePeers(FakePeerConfig{Templates: 4, Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}
	g := Garbage(rnd, f, 400)
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	buf := make([]byte, mdns.MaxPacketSize)
	short, unparsable := 0, 0
	for range 500 {
		b := g.Next(buf)
		if len(b) < 12 {
			short++
		}
		m, err := mdns.Parse(b)
		if err != nil {
			unparsable++
			continue
		}
		if res := dec.Decode(m, false); len(res.Candidates) != 0 {
			t.Fatalf("garbage decoded as %+v", res.Candidates)
		}
	}
	if short == 0 || unparsable < 250 {
		t.Errorf("garbage: %d short, %d unparsable of 500", short, unparsable)
	}
	c, err := Chatter(rnd, 60)
	if err != nil {
		t.Fatal(err)
	}
	filter := mdns.NewFilter(mdns.FilterLabels(mdns.SpecService)...)
	for i := range 60 {
		b := c.Next(buf)
		if _, err := mdns.Parse(b); err != nil {
			t.Fatalf("chatter %d: %v", i, err)
		}
		if filter.Match(b) {
			t.Fatalf("chatter %d mentions the libp2p service", i)
		}
	}
}

// countingWriter accepts every datagram and counts them.
type countingWriter struct{ n int }

func (w *countingWriter) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	w.n += len(ms)
	return len(ms), nil
}

// TestRunBounds: Run never sends more than the schedule allows (rate ×
// elapsed, plus one batch) and stops at MaxPackets.
func TestRunBounds(t *testing.T) {
	rnd := testRand()
	f, err := NewFakePeers(FakePeerConfig{Templates: 2, Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}
	w := &countingWriter{}
	dst := &net.UDPAddr{IP: net.IPv4(198, 51, 100, 11), Port: 5353}
	rep, err := Run(context.Background(), Config{Duration: 300 * time.Millisecond, Streams: []Stream{{Name: "peers", Source: f, Conn: w, Dst: dst, Rate: 20_000}}})
	if err != nil {
		t.Fatal(err)
	}
	if max := 20_000*rep.Elapsed.Seconds() + 64; float64(w.n) > max || uint64(w.n) != rep.Sent() || w.n == 0 {
		t.Errorf("sent %d in %v (report %v), at most %.0f allowed", w.n, rep.Elapsed, rep, max)
	}
	w2 := &countingWriter{}
	rep, err = Run(context.Background(), Config{Duration: time.Minute, MaxPackets: 1000, Streams: []Stream{{Name: "peers", Source: f, Conn: w2, Dst: dst, Rate: 1e6}}})
	if err != nil || w2.n != 1000 || rep.Sent() != 1000 {
		t.Errorf("MaxPackets 1000: sent %d, report %v, %v", w2.n, rep, err)
	}
	if _, err := Run(context.Background(), Config{Streams: []Stream{{Name: "x", Source: f, Conn: w, Rate: 1}}}); err == nil {
		t.Error("no Duration accepted")
	}
}
