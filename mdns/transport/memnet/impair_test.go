package memnet_test

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/testkit/memkit"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

type arrival struct {
	seq uint32
	at  time.Duration // since start
	p   transport.Packet
}

// collect reads c in a goroutine until it is closed and returns a function
// that reports what arrived (call it after synctest.Wait or Close).
func collect(c memkit.Conn, start time.Time) func() []arrival {
	var got []arrival
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 9000)
		for {
			var p transport.Packet
			if err := c.ReadPacket(buf, &p); err != nil {
				return
			}
			a := arrival{at: time.Since(start), p: p}
			if len(p.Data) >= 4 {
				a.seq = binary.BigEndian.Uint32(p.Data)
			}
			a.p.Data = nil
			got = append(got, a)
		}
	}()
	return func() []arrival {
		c.Close()
		<-done
		return got
	}
}

func seqPacket(i int, ifIndex int) transport.Packet {
	return transport.Packet{Data: binary.BigEndian.AppendUint32(nil, uint32(i)), Dst: transport.GroupV4, IfIndex: ifIndex}
}

func TestLatencyExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lat = 25 * time.Millisecond
		l := memkit.NewLAN(t, memnet.Config{Segments: []memnet.SegmentConfig{{Name: "lan", Link: memnet.Link{Latency: lat}}}})
		h1, h2, h3 := memkit.AddHost(t, l, "h1"), memkit.AddHost(t, l, "h2"), memkit.AddHost(t, l, "h3")
		c1 := memkit.Listen(t, h1)
		start := time.Now()
		r1 := collect(c1, start)
		r2 := collect(memkit.Listen(t, h2), start)
		r3 := collect(memkit.Listen(t, h3), start)

		c1.Write(t, seqPacket(1, 1))
		time.Sleep(10 * time.Millisecond)
		c1.Write(t, seqPacket(2, 1))
		if n := l.InFlight(); n != 4 {
			t.Errorf("InFlight = %d, want 4", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := l.InFlight(); n != 0 {
			t.Errorf("InFlight after delivery = %d", n)
		}
		for i, r := range []func() []arrival{r2, r3} {
			got := r()
			if len(got) != 2 || got[0].at != lat || got[1].at != lat+10*time.Millisecond ||
				got[0].seq != 1 || got[1].seq != 2 {
				t.Errorf("receiver %d: %+v", i+2, got)
			}
		}
		// Multicast loopback is immediate.
		if got := r1(); len(got) != 2 || got[0].at != 0 || got[1].at != 10*time.Millisecond {
			t.Errorf("loopback: %+v", got)
		}
	})
}

func TestJitterAndDeterminism(t *testing.T) {
	run := func() []time.Duration {
		var out []time.Duration
		synctest.Test(t, func(t *testing.T) {
			link := memnet.Link{Latency: 5 * time.Millisecond, Jitter: 3 * time.Millisecond}
			l := memkit.NewLAN(t, memnet.Config{Seed: 42, Segments: []memnet.SegmentConfig{{Name: "lan", Link: link}}})
			h1, h2 := memkit.AddHost(t, l, "h1"), memkit.AddHost(t, l, "h2")
			c1 := memkit.Listen(t, h1, memnet.ListenOptions{NoLoopback: true})
			start := time.Now()
			r := collect(memkit.Listen(t, h2), start)
			for i := range 50 {
				c1.Write(t, seqPacket(i, 1))
				time.Sleep(20 * time.Millisecond)
			}
			for _, a := range r() {
				d := a.at - time.Duration(a.seq)*20*time.Millisecond
				if d < link.Latency || d >= link.Latency+link.Jitter {
					t.Errorf("packet %d delayed %v", a.seq, d)
				}
				out = append(out, d)
			}
			if len(out) != 50 {
				t.Errorf("got %d packets", len(out))
			}
		})
		return out
	}
	a, b := run(), run()
	distinct := map[time.Duration]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different delay of packet %d: %v vs %v", i, a[i], b[i])
		}
		distinct[a[i]] = true
	}
	if len(distinct) < 10 {
		t.Errorf("jitter produced only %d distinct delays", len(distinct))
	}
}

func TestLossAndDuplication(t *testing.T) {
	const n = 10_000
	count := func(link memnet.Link, seed uint64) (received int, s memnet.Stats) {
		synctest.Test(t, func(t *testing.T) {
			l := memkit.NewLAN(t, memnet.Config{Seed: seed, Segments: []memnet.SegmentConfig{{Name: "lan", Link: link}}})
			h1, h2 := memkit.AddHost(t, l, "h1"), memkit.AddHost(t, l, "h2")
			c1 := memkit.Listen(t, h1, memnet.ListenOptions{NoLoopback: true})
			c2 := memkit.Listen(t, h2, memnet.ListenOptions{QueueLen: 2 * n})
			for i := range n {
				c1.Write(t, seqPacket(i, 1))
			}
			received = len(c2.Drain())
			s = l.Stats()
		})
		return
	}
	got, s := count(memnet.Link{Loss: 0.1}, 1)
	if got < 8800 || got > 9200 || s.Lost != uint64(n-got) || s.Delivered != uint64(got) {
		t.Errorf("10%% loss: received %d of %d, stats %+v", got, n, s)
	}
	if again, _ := count(memnet.Link{Loss: 0.1}, 1); again != got {
		t.Errorf("same seed, %d then %d received", got, again)
	}
	if other, _ := count(memnet.Link{Loss: 0.1}, 2); other == got {
		t.Logf("seeds 1 and 2 happen to agree (%d)", got)
	}
	got, s = count(memnet.Link{Duplicate: 0.2}, 1)
	if got < 11_800 || got > 12_200 || s.Duplicated != uint64(got-n) {
		t.Errorf("20%% duplication: received %d of %d, stats %+v", got, n, s)
	}
	if got, _ := count(memnet.Link{Loss: 1}, 1); got != 0 {
		t.Errorf("full loss: received %d", got)
	}
}

func TestReordering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := memnet.Link{Latency: time.Millisecond, Reorder: 0.3, ReorderDelay: 10 * time.Millisecond}
		l := memkit.NewLAN(t, memnet.Config{Seed: 7, Segments: []memnet.SegmentConfig{{Name: "lan", Link: link}}})
		h1, h2 := memkit.AddHost(t, l, "h1"), memkit.AddHost(t, l, "h2")
		c1 := memkit.Listen(t, h1, memnet.ListenOptions{NoLoopback: true})
		r := collect(memkit.Listen(t, h2), time.Now())
		for i := range 200 {
			c1.Write(t, seqPacket(i, 1))
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Second)
		got := r()
		if len(got) != 200 {
			t.Fatalf("got %d packets, want 200 (reordering must not lose)", len(got))
		}
		inversions := 0
		seen := map[uint32]bool{}
		for i, a := range got {
			seen[a.seq] = true
			if i > 0 && a.seq < got[i-1].seq {
				inversions++
			}
		}
		if len(seen) != 200 || inversions == 0 {
			t.Errorf("distinct %d, inversions %d", len(seen), inversions)
		}
		if s := l.Stats(); s.Reordered < 30 || s.Reordered > 90 {
			t.Errorf("Reordered = %d of 200 at p=0.3", s.Reordered)
		}
	})
}

func TestPerInterfaceLinkAndSetLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memkit.NewLAN(t)
		h1 := memkit.AddHost(t, l, "h1")
		deaf := memkit.AddHost(t, l, "deaf", memnet.IfaceConfig{Link: &memnet.Link{Loss: 1}})
		slow := memkit.AddHost(t, l, "slow")
		c1 := memkit.Listen(t, h1, memnet.ListenOptions{NoLoopback: true})
		start := time.Now()
		rd := collect(memkit.Listen(t, deaf), start)
		rs := collect(memkit.Listen(t, slow), start)
		if err := slow.Ifaces()[0].SetLink(&memnet.Link{Latency: time.Second}); err != nil {
			t.Fatal(err)
		}
		c1.Write(t, seqPacket(0, 1))
		time.Sleep(2 * time.Second)
		if err := l.SetLink(memnet.DefaultSegment, memnet.Link{Latency: 3 * time.Second}); err != nil {
			t.Fatal(err)
		}
		slow.Ifaces()[0].SetLink(nil) // back to the segment's 3 s
		deaf.Ifaces()[0].SetLink(nil) // hears again
		c1.Write(t, seqPacket(1, 1))
		time.Sleep(5 * time.Second)
		if got := rd(); len(got) != 1 || got[0].seq != 1 || got[0].at != 5*time.Second {
			t.Errorf("deaf: %+v", got)
		}
		if got := rs(); len(got) != 2 || got[0].at != time.Second || got[1].at != 5*time.Second {
			t.Errorf("slow: %+v", got)
		}
	})
}

func TestQueueOverflow(t *testing.T) {
	l := memkit.NewLAN(t, memnet.Config{QueueLen: 4})
	h1, h2 := memkit.AddHost(t, l, "h1"), memkit.AddHost(t, l, "h2")
	c1 := memkit.Listen(t, h1, memnet.ListenOptions{NoLoopback: true})
	c2 := memkit.Listen(t, h2)
	big := memkit.Listen(t, h2, memnet.ListenOptions{QueueLen: 100})
	for i := range 10 {
		c1.Write(t, seqPacket(i, 1))
	}
	got := c2.Drain()
	if len(got) != 4 || binary.BigEndian.Uint32(got[3].Data) != 3 {
		t.Fatalf("queue kept %d packets", len(got))
	}
	if n := len(big.Drain()); n != 10 {
		t.Errorf("QueueLen 100 Conn got %d", n)
	}
	if s := c2.Stats(); s.Overflow != 6 || s.Received != 4 {
		t.Errorf("conn stats %+v", s)
	}
	if s := h2.Stats(); s.Overflow != 6 || s.Received != 14 {
		t.Errorf("host stats %+v", s)
	}
	if s := l.Stats(); s.Overflow != 6 || s.Delivered != 14 || s.Sent != 10 || s.SentBytes != 40 {
		t.Errorf("LAN stats %+v", s)
	}
	if s := h1.Stats(); s.Sent != 10 || s.SentBytes != 40 {
		t.Errorf("sender stats %+v", s)
	}
	l.ResetStats()
	if s := l.Stats(); s != (memnet.Stats{}) || c2.Stats().Overflow != 0 {
		t.Errorf("after ResetStats: %+v", s)
	}

	// Truncation into a small buffer is reported.
	c1.Write(t, transport.Packet{Data: make([]byte, 100), Dst: transport.GroupV4, IfIndex: 1})
	var p transport.Packet
	if err := c2.ReadPacket(make([]byte, 10), &p); !errors.Is(err, io.ErrShortBuffer) || len(p.Data) != 10 {
		t.Errorf("truncation: err %v, len %d", err, len(p.Data))
	}
	if err := c2.WritePacket(&transport.Packet{Data: make([]byte, 70_000), Dst: transport.GroupV4, IfIndex: 1}); err == nil || errors.Is(err, transport.ErrClosed) {
		t.Errorf("70000-byte datagram: err = %v", err)
	}
}
