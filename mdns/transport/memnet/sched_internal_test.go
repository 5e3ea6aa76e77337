package memnet

import (
	"fmt"
	"testing"
	"time"

	"github.com/chorus-services/discovery/mdns/transport"
)

// benchSegment builds segment "lan" (link) of n single-interface hosts,
// one Conn and one View each; the sender's own copies come back unless
// noLoop.
func benchSegment(b *testing.B, n int, link Link, noLoop bool) ([]*Conn, []*transport.View, *LAN) {
	b.Helper()
	l, err := New(Config{Segments: []SegmentConfig{{Name: DefaultSegment, Link: link}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	conns := make([]*Conn, n)
	views := make([]*transport.View, n)
	for i := range conns {
		h, err := l.AddHost(fmt.Sprintf("h%d", i))
		if err != nil {
			b.Fatal(err)
		}
		if conns[i], err = h.Listen(ListenOptions{NoLoopback: noLoop}); err != nil {
			b.Fatal(err)
		}
		if views[i], err = conns[i].View(transport.ViewConfig{}); err != nil {
			b.Fatal(err)
		}
	}
	return conns, views, l
}

// benchMulticast sends one 300-byte multicast packet from conns[0] per op;
// deliver (if set) runs before every view of read is read once.
func benchMulticast(b *testing.B, conns []*Conn, read []*transport.View, deliver func()) {
	pkt := &transport.Packet{Data: make([]byte, 300), Dst: transport.GroupV4, IfIndex: 1}
	buf := make([]byte, 9000)
	var p transport.Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := conns[0].WritePacket(pkt); err != nil {
			b.Fatal(err)
		}
		if deliver != nil {
			deliver()
		}
		for _, v := range read {
			if err := v.ReadPacket(buf, &p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMulticast1000 sends one 300-byte multicast packet on a
// 1000-host segment and reads every copy (1000 deliveries per op).
func BenchmarkMulticast1000(b *testing.B) {
	conns, views, _ := benchSegment(b, 1000, Link{}, false)
	benchMulticast(b, conns, views, nil)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/delivery")
}

// BenchmarkMulticast1000SendOnly measures the send side alone: the copies
// overflow the receive queues once they are full (counted, not read).
func BenchmarkMulticast1000SendOnly(b *testing.B) {
	conns, _, _ := benchSegment(b, 1000, Link{}, false)
	benchMulticast(b, conns, nil, nil)
}

// BenchmarkScheduled1000 measures the delayed path on a 1000-host segment:
// one multicast send, its heap entries, and their delivery by runDue (called
// directly, in real time, instead of waiting for the timer).
func BenchmarkScheduled1000(b *testing.B) {
	for _, tc := range []struct {
		name string
		link Link
	}{
		{"latency", Link{Latency: time.Hour}},                          // one batched heap entry per send
		{"jitter", Link{Latency: time.Hour, Jitter: time.Millisecond}}, // one heap entry per receiver
	} {
		b.Run(tc.name, func(b *testing.B) {
			conns, views, l := benchSegment(b, 1000, tc.link, true)
			benchMulticast(b, conns, views[1:], func() {
				l.mu.Lock()
				l.runDue(l.sched.clock() + int64(2*time.Hour))
				l.mu.Unlock()
			})
		})
	}
}

// TestSchedulerOrder checks the heap: equal times keep send order, earlier
// times come first, whatever the insertion order.
func TestSchedulerOrder(t *testing.T) {
	var s scheduler
	s.timer = time.AfterFunc(time.Hour, func() {})
	defer s.timer.Stop()
	l := &LAN{}
	base := int64(time.Hour)
	offsets := []int64{5, 3, 9, 3, 0, 7, 5, 1, 9, 2}
	for i, o := range offsets {
		s.push(l, event{at: base + o, m: &message{ttl: i}})
	}
	prevAt, prevSeq := int64(-1), uint64(0)
	for n := 0; len(s.heap) > 0; n++ {
		e := s.pop()
		if e.at < prevAt || (e.at == prevAt && e.seq < prevSeq) {
			t.Fatalf("pop %d out of order: %v/%d after %v/%d", n, e.at, e.seq, prevAt, prevSeq)
		}
		prevAt, prevSeq = e.at, e.seq
	}
	if s.inflight != 0 {
		t.Errorf("inflight = %d", s.inflight)
	}
}
