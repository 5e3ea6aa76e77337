//go:build linux

package hostile

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/hardening/hostile/flood"
	"github.com/chorus-services/discovery/internal/netns"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// offLinkSrc is an address outside the LAN's 198.51.100.0/24, added to the
// attacker's lan0 so that its packets carry an off-link source (§11).
var offLinkSrc = netip.MustParsePrefix("203.0.113.7/32")

// udp4In opens a UDP socket in host i bound to laddr ("ip:port"), with
// SO_REUSEPORT (several sockets of one test may share port 5353) and the
// given IP TTL for unicast and multicast, multicasting on lan0. It is
// closed at cleanup.
func udp4In(t *testing.T, nt *netns.Net, i int, laddr string, ttl int) (*ipv4.PacketConn, *net.UDPConn) {
	t.Helper()
	var c *net.UDPConn
	var pc *ipv4.PacketConn
	err := nt.Do(i, func() error {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}}
		l, err := lc.ListenPacket(context.Background(), "udp4", laddr)
		if err != nil {
			return err
		}
		c = l.(*net.UDPConn)
		pc = ipv4.NewPacketConn(c)
		ifi, err := net.InterfaceByName(netns.LinkName)
		if err != nil {
			return err
		}
		if err := pc.SetMulticastInterface(ifi); err != nil {
			return err
		}
		if err := pc.SetTTL(ttl); err != nil {
			return err
		}
		return pc.SetMulticastTTL(ttl)
	})
	if err != nil {
		t.Fatalf("socket in host %d on %s: %v", i, laddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return pc, c
}

// floodPlan is the traffic of one flood from host `from` to dst:5353:
// distinct fake peers at peerRate from the attacker's on-link address and
// port 5353 with TTL 255, plus, at a tenth of that rate each, random
// garbage and irrelevant chatter, and at a fiftieth each, fake peers with
// IP TTL 64 and fake peers from an off-link source.
type floodPlan struct {
	from     int
	dst      netip.Addr
	peerRate float64
	duration time.Duration
}

// Stream names of a floodPlan.
const (
	stPeers   = "peers"
	stGarbage = "garbage"
	stChatter = "chatter"
	stTTL     = "ttl64"
	stOffLink = "offlink"
)

// start opens the sockets and runs the flood in the background; the
// returned function waits for it and returns its report.
func (p floodPlan) start(t *testing.T, nt *netns.Net, ctx context.Context) func() flood.Report {
	t.Helper()
	if err := nt.AddAddr(p.from, offLinkSrc); err != nil {
		t.Fatal(err)
	}
	self := nt.Host(p.from).V4.Addr().String()
	onLink, _ := udp4In(t, nt, p.from, self+":5353", 255)
	ttl64, _ := udp4In(t, nt, p.from, self+":5353", 64)
	offLink, _ := udp4In(t, nt, p.from, offLinkSrc.Addr().String()+":5353", 255)
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	fakes := func() *flood.FakePeers {
		f, err := flood.NewFakePeers(flood.FakePeerConfig{Rand: rnd})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	peersSrc := fakes()
	chatter, err := flood.Chatter(rnd, 512)
	if err != nil {
		t.Fatal(err)
	}
	dst := &net.UDPAddr{IP: p.dst.AsSlice(), Port: 5353}
	cfg := flood.Config{Duration: p.duration, MaxPackets: uint64(p.duration.Seconds()*p.peerRate*1.5) + 1000, Streams: []flood.Stream{
		{Name: stPeers, Source: peersSrc, Conn: onLink, Dst: dst, Rate: p.peerRate},
		{Name: stGarbage, Source: flood.Garbage(rnd, fakes(), 1024), Conn: onLink, Dst: dst, Rate: p.peerRate / 10},
		{Name: stChatter, Source: chatter, Conn: onLink, Dst: dst, Rate: p.peerRate / 10},
		{Name: stTTL, Source: fakes(), Conn: ttl64, Dst: dst, Rate: p.peerRate / 50},
		{Name: stOffLink, Source: fakes(), Conn: offLink, Dst: dst, Rate: p.peerRate / 50},
	}}
	done := make(chan flood.Report, 1)
	go func() {
		rep, err := flood.Run(ctx, cfg)
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	return func() flood.Report { return <-done }
}

// sent returns the datagrams a stream sent.
func sent(rep flood.Report, name string) uint64 {
	for _, s := range rep.Streams {
		if s.Name == name {
			return s.Sent
		}
	}
	return 0
}
