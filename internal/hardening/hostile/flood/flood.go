// Package flood generates hostile mDNS traffic for the hardening tests of
// internal/hardening/hostile: distinct fake libp2p peers, random garbage
// and irrelevant but well-formed mDNS chatter, pre-built with the project's
// own packing (see FakePeers, Garbage, Chatter) and sent by Run at a paced
// rate, bounded by a duration and a packet count.
//
// It only builds and sends packets on the sockets it is given; the tests
// open those inside network namespaces (internal/netns), never on the
// machine's real interfaces.
package flood

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"golang.org/x/net/ipv4"
)

// BatchWriter sends several datagrams in one system call (sendmmsg):
// *ipv4.PacketConn and *ipv6.PacketConn implement it.
type BatchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// Stream is one kind of traffic: packets from Source, sent on Conn to Dst
// at Rate packets per second.
type Stream struct {
	Name   string
	Source Source
	Conn   BatchWriter
	Dst    net.Addr
	Rate   float64
}

// Config bounds a flood.
type Config struct {
	Streams []Stream
	// Duration bounds the flood (required).
	Duration time.Duration
	// MaxPackets bounds the packets sent over all streams (0: no bound
	// beyond Duration × the rates).
	MaxPackets uint64
	// Batch is the number of datagrams per system call (default 64).
	Batch int
}

// StreamReport is what one stream sent.
type StreamReport struct {
	Name   string
	Sent   uint64 // datagrams the kernel accepted
	Errors uint64 // datagrams it refused (e.g. ENOBUFS)
	Target float64
}

// Report is the outcome of Run.
type Report struct {
	Elapsed time.Duration
	Streams []StreamReport
}

// Sent is the total of the streams' Sent.
func (r Report) Sent() uint64 {
	var n uint64
	for _, s := range r.Streams {
		n += s.Sent
	}
	return n
}

// Rate is the achieved rate of the named stream, in datagrams per second.
func (r Report) Rate(name string) float64 {
	for _, s := range r.Streams {
		if s.Name == name && r.Elapsed > 0 {
			return float64(s.Sent) / r.Elapsed.Seconds()
		}
	}
	return 0
}

func (r Report) String() string {
	s := fmt.Sprintf("%.2fs:", r.Elapsed.Seconds())
	for _, st := range r.Streams {
		s += fmt.Sprintf(" %s %d sent (%.0f/s of %.0f/s asked, %d errors);", st.Name, st.Sent, r.Rate(st.Name), st.Target, st.Errors)
	}
	return s
}

// Run sends every stream at its rate until cfg.Duration has passed,
// cfg.MaxPackets were sent or ctx ends. Pacing follows the wall clock: at
// time t a stream has been given Rate·t packets; a stream that falls behind
// (the machine cannot keep up) is not allowed to burst more than one second
// of backlog, and its shortfall shows in the report.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Duration <= 0 {
		return Report{}, errors.New("flood: Duration is required")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	type state struct {
		Stream
		given float64 // packets the schedule has allowed so far
		rep   StreamReport
		msgs  []ipv4.Message
		bufs  [][]byte
	}
	sts := make([]*state, len(cfg.Streams))
	for i, s := range cfg.Streams {
		if s.Rate <= 0 || s.Source == nil || s.Conn == nil {
			return Report{}, fmt.Errorf("flood: stream %q needs a Source, a Conn and a positive Rate", s.Name)
		}
		st := &state{Stream: s, rep: StreamReport{Name: s.Name, Target: s.Rate}}
		st.msgs = make([]ipv4.Message, cfg.Batch)
		st.bufs = make([][]byte, cfg.Batch)
		for j := range st.bufs {
			st.bufs[j] = make([]byte, 0, mdns.MaxPacketSize)
		}
		sts[i] = st
	}
	start := time.Now()
	last := start
	var total uint64
	report := func() Report {
		r := Report{Elapsed: time.Since(start)}
		for _, st := range sts {
			r.Streams = append(r.Streams, st.rep)
		}
		return r
	}
	for {
		now := time.Now()
		if now.Sub(start) >= cfg.Duration || ctx.Err() != nil || (cfg.MaxPackets > 0 && total >= cfg.MaxPackets) {
			return report(), nil
		}
		dt := now.Sub(last).Seconds()
		last = now
		idle := true
		for _, st := range sts {
			st.given = min(st.given+st.Rate*dt, st.Rate) // at most 1 s of backlog
			n := min(int(st.given), cfg.Batch)
			if cfg.MaxPackets > 0 {
				n = min(n, int(cfg.MaxPackets-total))
			}
			if n <= 0 {
				continue
			}
			idle = false
			for j := range n {
				st.msgs[j] = ipv4.Message{Buffers: [][]byte{st.Source.Next(st.bufs[j][:0])}, Addr: st.Dst}
			}
			sent, err := st.Conn.WriteBatch(st.msgs[:n], 0)
			if sent < 0 {
				sent = 0
			}
			if err != nil && sent == 0 {
				// The kernel refused the first datagram (e.g. ENOBUFS): it
				// counts as sent by the schedule but is an error.
				sent = 1
				st.rep.Errors++
			} else {
				st.rep.Sent += uint64(sent)
			}
			st.given -= float64(sent)
			total += uint64(sent)
		}
		if idle {
			time.Sleep(500 * time.Microsecond)
		}
	}
}
