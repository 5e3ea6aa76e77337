package discovery_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/chorus-services/discovery"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/internal/testkit/memkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// consumerBed is one libp2p host (not dialling anyone: its peers are fakes)
// whose discovery runs on a memnet LAN, and a way to announce many fake
// peers on that LAN at once.
type consumerBed struct {
	lan   *memnet.LAN
	iface *memnet.Iface
	conn  *memnet.Conn
}

func newConsumerBed(t *testing.T) (*consumerBed, []discovery.Option) {
	t.Helper()
	lan := memkit.NewLAN(t)
	mh := memkit.AddHost(t, lan, "a", memnet.IfaceConfig{Name: "lo", Loopback: true,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}, Family: memnet.FamilyV4})
	c := memkit.Open(t, mh)
	return &consumerBed{lan: lan, iface: mh.Ifaces()[0], conn: c}, []discovery.Option{discovery.WithConn(c), discovery.WithAutoConnect(false)}
}

// announce puts the announcements of n peers (IDs testkit.ID(1000…)) on
// the link at once, as if n peers had started together, and returns them.
func (b *consumerBed) announce(t *testing.T, n int) map[peer.ID]bool {
	t.Helper()
	service, err := mdns.ServiceName(discovery.DefaultServiceTag)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[peer.ID]bool{}
	for i := range n {
		if i > 0 && i%64 == 0 {
			// Peers starting together, a few at a time: the browser's
			// receive queue (128 packets) is not what this tests.
			time.Sleep(50 * time.Millisecond)
		}
		id := testkit.ID(t, 1000+i)
		ids[id] = true
		rs, err := mdns.NewRecordSet(mdns.Peer{Service: service, PeerName: mdns.NewPeerName(nil), ID: id,
			Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.99/tcp/9")}})
		if err != nil {
			t.Fatal(err)
		}
		pkts, _, err := mdns.PackResponse(&mdns.Response{Answers: []dns.RR{rs.PTR}, Additional: []dns.RR{rs.SRV}, TXT: rs.TXT})
		if err != nil {
			t.Fatal(err)
		}
		for _, data := range pkts {
			p := transport.Packet{Data: data, Src: netip.MustParseAddrPort("127.0.0.99:5353"), Dst: transport.GroupV4}
			if err := b.lan.Inject("", b.iface, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}

func newHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.NoTransports, libp2p.Transport(tcpTransport()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestSlowNotifeeLosesNoPeer: 40 peers announce at once and the drop-in's
// notifee takes 50 ms a call: every one of them reaches it (the notifee is
// fed from a per-peer outbox, not a bounded queue of events).
func TestSlowNotifeeLosesNoPeer(t *testing.T) {
	b, opts := newConsumerBed(t)
	h := newHost(t)
	var mu sync.Mutex
	got := map[peer.ID]bool{}
	svc := discovery.NewMdnsService(h, discovery.DefaultServiceTag, discovery.NotifeeFunc(func(ai peer.AddrInfo) {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		got[ai.ID] = true
		mu.Unlock()
	}), opts...)
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	want := b.announce(t, 40)
	testkit.WaitFor(t, "all 40 peers handed to the slow notifee", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(want)
	})
}

// TestBlockedNotifeeDoesNotHoldClose: a notifee that never returns delays
// nothing but itself: Close returns at once, and no call starts after it.
func TestBlockedNotifeeDoesNotHoldClose(t *testing.T) {
	b, opts := newConsumerBed(t)
	release := make(chan struct{})
	var calls sync.WaitGroup
	var mu sync.Mutex
	n := 0
	svc := discovery.NewMdnsService(newHost(t), discovery.DefaultServiceTag, discovery.NotifeeFunc(func(peer.AddrInfo) {
		calls.Add(1)
		defer calls.Done()
		mu.Lock()
		n++
		mu.Unlock()
		<-release
	}), opts...)
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	b.announce(t, 3)
	testkit.WaitFor(t, "the first call", 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return n == 1 })
	closed := make(chan error, 1)
	go func() { closed <- svc.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for a blocked notifee")
	}
	close(release)
	calls.Wait()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Errorf("%d calls, want none after Close", n)
	}
}

// TestSlowReadersLoseNoPeer: PeersChan, FindPeers and Events, read only
// after 200 peers were found at once, still deliver every one of them
// (each pending peer waits with its latest state; nothing is dropped).
func TestSlowReadersLoseNoPeer(t *testing.T) {
	b, opts := newConsumerBed(t)
	d, err := discovery.NewMDNSDiscovery(context.Background(), newHost(t), "", append(opts, discovery.WithEvents(4), discovery.WithPeersChanSize(4))...)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	peersCh := d.PeersChan()
	found, err := d.FindPeers(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	want := b.announce(t, 200) // more than the old FindPeers buffers (64+64+1) held
	testkit.WaitFor(t, "200 peers known", 10*time.Second, func() bool { return len(d.Peers()) == 200 })
	time.Sleep(200 * time.Millisecond) // the readers are late
	count := func(what string, next func() (peer.ID, bool)) {
		got := map[peer.ID]bool{}
		if !testkit.Eventually(10*time.Second, 0, func() bool {
			if id, ok := next(); ok && want[id] {
				got[id] = true
			}
			return len(got) >= len(want)
		}) {
			t.Fatalf("%s delivered %d of %d peers", what, len(got), len(want))
		}
	}
	recv := func(ch <-chan peer.AddrInfo) func() (peer.ID, bool) {
		return func() (peer.ID, bool) {
			select {
			case ai := <-ch:
				return ai.ID, true
			case <-time.After(100 * time.Millisecond):
				return "", false
			}
		}
	}
	count("PeersChan", recv(peersCh))
	count("FindPeers", recv(found))
	count("Events", func() (peer.ID, bool) {
		select {
		case ev := <-d.Events():
			return ev.Peer.ID, ev.Kind == discovery.PeerFound
		case <-time.After(100 * time.Millisecond):
			return "", false
		}
	})
	if m := d.Metrics(); m.PeersChanDropped+m.EventsDropped != 0 {
		t.Errorf("drops: PeersChan %d, Events %d", m.PeersChanDropped, m.EventsDropped)
	}
}

// TestConnectedBothWays: the side that is dialled reports the connection
// too (inbound), the dialling side as outbound.
func TestConnectedBothWays(t *testing.T) {
	hs := newLAN(t, 2)
	dialler := hs[0].start(t, discovery.WithEvents(64))
	dialled := hs[1].start(t, discovery.WithEvents(64), discovery.WithAutoConnect(false))
	for _, c := range []struct {
		d    *discovery.MDNSDiscovery
		peer peer.ID
		want string
	}{{dialler, hs[1].h.ID(), "outbound"}, {dialled, hs[0].h.ID(), "inbound"}} {
		ev := testkit.Recv(t, c.d.Events(), fmt.Sprintf("connected event (%s) for %s", c.want, c.peer), 15*time.Second, func(ev discovery.Event) bool {
			return ev.Kind == discovery.Connected && ev.Peer.ID == c.peer
		})
		if ev.Direction != c.want {
			t.Errorf("connected %s, want %s", ev.Direction, c.want)
		}
	}
}
