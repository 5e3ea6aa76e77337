package responder

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
)

// sliceConn serves a fixed list of packets, then ErrClosed.
type sliceConn struct {
	nullConn
	pkts []transport.Packet
}

func (c *sliceConn) ReadPacket(buf []byte, p *transport.Packet) error {
	if len(c.pkts) == 0 {
		return transport.ErrClosed
	}
	*p = c.pkts[0]
	p.Data = buf[:copy(buf, c.pkts[0].Data)]
	c.pkts = c.pkts[1:]
	return nil
}

// BCT: none (robustness). The reader drops by IP TTL, size and prefilter
// without parsing, and counts what does not fit the bounded queue; a Conn
// closed under it ends it with ErrClosed.
func TestReaderDrops(t *testing.T) {
	src := netip.MustParseAddrPort("10.0.0.2:5353")
	ours := query(0, false, nil, q(mdns.DefaultService, dns.TypePTR))
	other := query(0, false, nil, q("_googlecast._tcp.local.", dns.TypePTR))
	c := &sliceConn{pkts: []transport.Packet{
		{Data: ours, Src: src, TTL: 1},
		{Data: ours, Src: src, TTL: -1}, // unknown TTL: accepted
		{Data: other, Src: src, TTL: 255},
		{Data: ours[:5], Src: src, TTL: 255},
		{Data: ours, Src: src, TTL: 255},
		{Data: ours, Src: src, TTL: 255},
	}}
	r, err := New(Config{Conn: c, PeerID: testID(t, 1), QueueLen: 1})
	if err != nil {
		t.Fatal(err)
	}
	var errp atomic.Pointer[error]
	r.readLoop(&errp)
	if e := errp.Load(); e == nil || !errors.Is(*e, transport.ErrClosed) {
		t.Errorf("reader error %v", e)
	}
	s := r.Stats()
	want := Stats{Received: 6, DroppedTTL: 1, DroppedIrrelevant: 1, DroppedMalformed: 1, DroppedQueueFull: 2}
	if s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
	if len(r.rx) != 1 {
		t.Errorf("%d queued", len(r.rx))
	}
}
