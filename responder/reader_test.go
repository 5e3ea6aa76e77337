package responder

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
)

// BCT: none (robustness). The View's prefilter drops by IP TTL, size and
// label without parsing, the View counts what does not fit its bounded
// queue, and a Conn closed under Run ends it with transport.ErrClosed.
func TestReaderDrops(t *testing.T) {
	src := netip.MustParseAddrPort("10.0.0.2:5353")
	ours := ptrQuery()
	other := query(0, false, nil, q("_googlecast._tcp.local.", dns.TypePTR))
	c := &nullConn{}
	r, err := New(Config{Conn: c, PeerID: testkit.ID(t, 1), QueueLen: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []transport.Packet{
		{Data: ours, Src: src, TTL: 1},
		{Data: ours, Src: src, TTL: -1}, // unknown TTL: accepted
		{Data: other, Src: src, TTL: 255},
		{Data: ours[:5], Src: src, TTL: 255},
		{Data: ours, Src: src, TTL: 255},
		{Data: ours, Src: src, TTL: 255},
	} {
		c.hub.Deliver(&p, false)
	}
	s := r.Stats()
	want := Stats{Received: 6, DroppedTTL: 1, Ignored: 1, DroppedMalformed: 1, DroppedQueueFull: 2}
	if s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
	if n := len(r.view.Packets()); n != 1 {
		t.Errorf("%d queued", n)
	}
	c.Close()
	if err := r.Run(context.Background()); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Run on a closed Conn: %v", err)
	}
}
