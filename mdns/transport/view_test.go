package transport

import (
	"errors"
	"io"
	"sync"
	"testing"
)

// nopConn is a Conn with a Hub and nothing else.
type nopConn struct{ hub Hub }

func (c *nopConn) View(cfg ViewConfig) (*View, error) { return c.hub.Attach(c, cfg) }
func (c *nopConn) WritePacket(*Packet) error          { return nil }
func (c *nopConn) Interfaces() []Interface            { return nil }
func (c *nopConn) Close() error                       { c.hub.Close(); return nil }

func TestHubDeliversToAcceptingViews(t *testing.T) {
	c := &nopConn{}
	all, _ := c.View(ViewConfig{Name: "all", QueueLen: 2})
	none, _ := c.View(ViewConfig{Name: "none", Accept: NoPackets})
	big, _ := c.View(ViewConfig{Name: "big", Accept: func(p *Packet) bool { return len(p.Data) > 3 }})

	buf := []byte("abcd")
	q, d := c.hub.Deliver(&Packet{Data: buf, TTL: 255}, false)
	if q != 2 || d != 0 {
		t.Fatalf("queued %d dropped %d, want 2 0", q, d)
	}
	buf[0] = 'X' // not stable: the Views got a copy
	p1, p2 := <-all.Packets(), <-big.Packets()
	if p1 != p2 || string(p1.Data) != "abcd" {
		t.Fatalf("views got %q and %q (shared %v), want one shared copy of abcd", p1.Data, p2.Data, p1 == p2)
	}
	if len(none.Packets()) != 0 {
		t.Fatal("NoPackets view got a packet")
	}
	for range 3 {
		c.hub.Deliver(&Packet{Data: []byte("x")}, true)
	}
	if st := all.Stats(); st.Delivered != 3 || st.Dropped != 1 {
		t.Fatalf("all: %+v, want 3 delivered (1 read + 2 queued), 1 dropped", st)
	}
	short := make([]byte, 0)
	if err := all.ReadPacket(short, &Packet{}); !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("ReadPacket into an empty buffer: %v", err)
	}
}

func TestViewEventsDropOldest(t *testing.T) {
	c := &nopConn{}
	v, _ := c.View(ViewConfig{})
	for i := range EventQueueLen + 3 {
		c.hub.Broadcast(Event{Kind: IfaceUp, IfIndex: i})
	}
	if st := v.Stats(); st.EventsDropped != 3 {
		t.Fatalf("EventsDropped %d, want 3", st.EventsDropped)
	}
	if ev := <-v.Events(); ev.IfIndex != 3 {
		t.Fatalf("first event %d, want 3 (the oldest dropped)", ev.IfIndex)
	}
}

func TestViewClose(t *testing.T) {
	c := &nopConn{}
	v, _ := c.View(ViewConfig{})
	w, _ := c.View(ViewConfig{})
	v.Close()
	v.Close()
	if _, ok := <-v.Packets(); ok {
		t.Fatal("Packets open after Close")
	}
	if q, _ := c.hub.Deliver(&Packet{Data: []byte("x")}, true); q != 1 {
		t.Fatalf("after one View closed, queued %d, want 1", q)
	}
	c.Close()
	if _, ok := <-w.Events(); ok {
		t.Fatal("Events open after the Conn closed")
	}
	if err := w.ReadPacket(make([]byte, 8), &Packet{}); err != nil {
		t.Fatalf("the packet queued before Close: %v", err)
	}
	if err := w.ReadPacket(make([]byte, 8), &Packet{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadPacket after Close: %v", err)
	}
	if _, err := c.View(ViewConfig{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("View after Close: %v", err)
	}
	if _, err := (&nopConn{}).View(ViewConfig{QueueLen: -1}); err == nil {
		t.Fatal("negative QueueLen accepted")
	}
}

// TestHubConcurrentClose: deliveries racing View and Conn closes never
// send on a closed channel (run with -race).
func TestHubConcurrentClose(t *testing.T) {
	c := &nopConn{}
	var views []*View
	for range 4 {
		v, _ := c.View(ViewConfig{QueueLen: 1})
		views = append(views, v)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range 1000 {
				c.hub.Deliver(&Packet{Data: []byte("x")}, true)
				c.hub.Broadcast(Event{Kind: IfaceUp})
			}
		})
	}
	wg.Go(func() {
		for _, v := range views[:2] {
			v.Close()
		}
		c.Close()
	})
	wg.Wait()
}

// BenchmarkHubIrrelevant: a packet that both protocol Views reject costs
// two filter calls and nothing else (no copy, no queue).
func BenchmarkHubIrrelevant(b *testing.B) {
	c := &nopConn{}
	reject := func(p *Packet) bool { return p.Data[0] == 0xff }
	c.View(ViewConfig{Accept: reject})
	c.View(ViewConfig{Accept: reject})
	p := &Packet{Data: make([]byte, 100)}
	b.ReportAllocs()
	for b.Loop() {
		c.hub.Deliver(p, false)
	}
}
