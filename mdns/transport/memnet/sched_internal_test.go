package memnet

import (
	"fmt"
	"testing"
	"time"

	"github.com/chorus-services/discovery/mdns/transport"
)

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
			l, err := New(Config{Segments: []SegmentConfig{{Name: "lan", Link: tc.link}}})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			conns := make([]*Conn, 1000)
			views := make([]*transport.View, 1000)
			for i := range conns {
				h, _ := l.AddHost(fmt.Sprintf("h%d", i))
				conns[i], _ = h.Listen(ListenOptions{NoLoopback: true})
				views[i], _ = conns[i].View(transport.ViewConfig{})
			}
			pkt := &transport.Packet{Data: make([]byte, 300), Dst: transport.GroupV4, IfIndex: 1}
			buf := make([]byte, 9000)
			var p transport.Packet
			b.ReportAllocs()
			for b.Loop() {
				if err := conns[0].WritePacket(pkt); err != nil {
					b.Fatal(err)
				}
				l.mu.Lock()
				l.runDue(l.sched.clock() + int64(2*time.Hour))
				l.mu.Unlock()
				for _, v := range views[1:] {
					if err := v.ReadPacket(buf, &p); err != nil {
						b.Fatal(err)
					}
				}
			}
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
