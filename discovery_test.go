package discovery_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
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
	coredisc "github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-libp2p keeps a few process-wide goroutines (resource manager,
		// metrics, the eventbus' ticker) that outlive a closed host.
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*resourceManager).background"),
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/net/swarm.(*Swarm).startDialWorker"),
	)
}

// lanHost is a libp2p host on 127.0.0.1 plus a memnet interface that makes
// its mDNS packets look like they come from loopback, so the loopback
// addresses the host announces are kept and dialled for real.
type lanHost struct {
	h    host.Host
	conn *memnet.Conn
}

func newLAN(t *testing.T, n int) []lanHost {
	t.Helper()
	lan := memkit.NewLAN(t, memnet.Config{Seed: 7})
	out := make([]lanHost, n)
	for i := range out {
		mh := memkit.AddHost(t, lan, string(rune('a'+i)), memnet.IfaceConfig{Name: "lo", Loopback: true,
			Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0." + string(rune('1'+i)) + "/8")}, Family: memnet.FamilyV4})
		c := memkit.Open(t, mh)
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.NoTransports, libp2p.Transport(tcpTransport()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		out[i] = lanHost{h: h, conn: c}
	}
	return out
}

// start runs discovery with the default tag on l's memnet Conn, closed at
// the end of the test.
func (l lanHost) start(t *testing.T, opts ...discovery.Option) *discovery.MDNSDiscovery {
	t.Helper()
	d, err := discovery.NewMDNSDiscovery(context.Background(), l.h, "", append([]discovery.Option{discovery.WithConn(l.conn)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func waitPeer(t *testing.T, ch <-chan peer.AddrInfo, id peer.ID, within time.Duration) peer.AddrInfo {
	t.Helper()
	return testkit.Recv(t, ch, "peer "+id.String(), within, func(ai peer.AddrInfo) bool { return ai.ID == id })
}

// TestSeedAPI: two hosts with NewMDNSDiscovery (seed API, default tag) find
// each other through PeersChan and get connected; metrics count it; Close
// sends goodbyes, so the other side loses the peer; Close is idempotent
// and closes PeersChan.
func TestSeedAPI(t *testing.T) {
	hs := newLAN(t, 2)
	ctx := context.Background()
	d0, err := discovery.NewMDNSDiscovery(ctx, hs[0].h, "", discovery.WithConn(hs[0].conn))
	if err != nil {
		t.Fatal(err)
	}
	defer d0.Close()
	d1, err := discovery.NewMDNSDiscovery(ctx, hs[1].h, "", discovery.WithConn(hs[1].conn))
	if err != nil {
		t.Fatal(err)
	}
	if d0.ServiceName() != discovery.DefaultServiceTag+".local." {
		t.Errorf("service %s", d0.ServiceName())
	}
	ai := waitPeer(t, d0.PeersChan(), hs[1].h.ID(), 10*time.Second)
	if len(ai.Addrs) == 0 {
		t.Fatal("no addresses")
	}
	waitPeer(t, d1.PeersChan(), hs[0].h.ID(), 10*time.Second)
	testkit.WaitFor(t, "connected", 10*time.Second, func() bool {
		return hs[0].h.Network().Connectedness(hs[1].h.ID()) == network.Connected
	})
	m := d0.Metrics()
	if m.PeersDiscovered != 1 || m.LastDiscovery.IsZero() || m.PeersKnown != 1 {
		t.Errorf("metrics %+v", m)
	}
	testkit.WaitFor(t, "a successful connection counted", 10*time.Second, func() bool {
		return d0.Metrics().ConnectionsSuccess+d1.Metrics().ConnectionsSuccess > 0
	})

	// d0 found d1 from its probes (probe hints); goodbyes withdraw what was
	// announced (§10.1), so close d1 once it has announced. (A peer closed
	// while probing is dropped probeHold after its last probe: browser
	// TestProbeHints/"a probe never announced is lost".)
	testkit.WaitFor(t, "d1 announced", 10*time.Second, func() bool { return d1.Metrics().Responder.Announcements > 0 })
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	_ = d1.Close()
	if _, ok := <-drain(d1.PeersChan()); ok {
		t.Error("PeersChan not closed")
	}
	testkit.WaitFor(t, "the peer lost after its goodbye", 5*time.Second, func() bool { return d0.Metrics().PeersLost > 0 })
	if m := d0.Metrics(); m.PeersLost != 1 || m.PeersKnown != 0 {
		t.Errorf("after goodbye: lost %d, known %d", m.PeersLost, m.PeersKnown)
	}
}

func drain(ch <-chan peer.AddrInfo) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo, 1)
	go func() {
		for range ch {
		}
		close(out)
	}()
	return out
}

// TestTagsIsolate: peers of another service tag are never reported.
func TestTagsIsolate(t *testing.T) {
	hs := newLAN(t, 3)
	ctx := context.Background()
	mk := func(i int, tag string) *discovery.MDNSDiscovery {
		d, err := discovery.NewMDNSDiscovery(ctx, hs[i].h, tag, discovery.WithConn(hs[i].conn), discovery.WithAutoConnect(false))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	dev, dev2, prod := mk(0, "CHORUS-dev"), mk(1, "CHORUS-dev"), mk(2, "CHORUS-production")
	waitPeer(t, dev.PeersChan(), hs[1].h.ID(), 10*time.Second)
	waitPeer(t, dev2.PeersChan(), hs[0].h.ID(), 10*time.Second)
	time.Sleep(1500 * time.Millisecond)
	for _, p := range append(dev.Peers(), dev2.Peers()...) {
		if p.ID == hs[2].h.ID() {
			t.Error("a production peer was seen by dev")
		}
	}
	if len(prod.Peers()) != 0 {
		t.Errorf("production sees %v", prod.Peers())
	}
	if hs[0].h.Network().Connectedness(hs[1].h.ID()) == network.Connected {
		t.Error("connected although auto-connect is off")
	}
}

type notifee struct {
	mu    sync.Mutex
	found map[peer.ID]int
}

func (n *notifee) HandlePeerFound(ai peer.AddrInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.found[ai.ID]++
}

func (n *notifee) count(id peer.ID) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.found[id]
}

// TestDropIn: NewMdnsService behaves as go-libp2p's: Start, HandlePeerFound
// for the other peer (never ourselves), Close (twice).
func TestDropIn(t *testing.T) {
	hs := newLAN(t, 2)
	n0, n1 := &notifee{found: map[peer.ID]int{}}, &notifee{found: map[peer.ID]int{}}
	s0 := discovery.NewMdnsService(hs[0].h, "", n0, discovery.WithConn(hs[0].conn))
	s1 := discovery.NewMdnsService(hs[1].h, "", n1, discovery.WithConn(hs[1].conn))
	for _, s := range []discovery.Service{s0, s1} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s0.Start(); err == nil {
		t.Error("second Start must fail")
	}
	testkit.WaitFor(t, "HandlePeerFound called", 10*time.Second, func() bool {
		return n0.count(hs[1].h.ID()) > 0 && n1.count(hs[0].h.ID()) > 0
	})
	if n0.count(hs[0].h.ID()) != 0 {
		t.Error("notified about ourselves")
	}
	for _, s := range []discovery.Service{s0, s1} {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		_ = s.Close()
	}
}

// TestRoutingDiscovery: Advertise and FindPeers (core/discovery.Discovery)
// for the service tag; another namespace is refused.
func TestRoutingDiscovery(t *testing.T) {
	hs := newLAN(t, 2)
	ctx := context.Background()
	var ds []*discovery.MDNSDiscovery
	for i := range hs {
		d, err := discovery.NewMDNSDiscovery(ctx, hs[i].h, "chorus-test", discovery.WithConn(hs[i].conn), discovery.WithAutoConnect(false))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		ds = append(ds, d)
	}
	var disc coredisc.Discovery = ds[0]
	if ttl, err := disc.Advertise(ctx, "chorus-test"); err != nil || ttl <= 0 {
		t.Fatalf("Advertise: %v %v", ttl, err)
	}
	if _, err := disc.Advertise(ctx, "other"); err == nil {
		t.Error("other namespace accepted")
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ch, err := disc.FindPeers(fctx, "chorus-test", coredisc.Limit(1))
	if err != nil {
		t.Fatal(err)
	}
	var got []peer.ID
	for ai := range ch {
		got = append(got, ai.ID)
	}
	if len(got) != 1 || got[0] != hs[1].h.ID() {
		t.Fatalf("FindPeers gave %v", got)
	}
}

// TestPrometheus: the metrics are registered and gathered.
func TestPrometheus(t *testing.T) {
	hs := newLAN(t, 1)
	reg := prometheus.NewRegistry()
	d, err := discovery.NewMDNSDiscovery(context.Background(), hs[0].h, "", discovery.WithConn(hs[0].conn), discovery.WithPrometheus(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	time.Sleep(1200 * time.Millisecond) // probes and the first announcement
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"mdns_discovery_packets_sent_total", "mdns_discovery_peers_known", "mdns_discovery_dials_total", "mdns_discovery_dropped_total",
		"mdns_discovery_socket_errors_total", "mdns_discovery_socket_reopens_total"} {
		if !names[want] {
			t.Errorf("metric %s missing (have %v)", want, names)
		}
	}
}

// TestOptionErrors: a bad option value is an error naming the option and
// the value, before anything starts.
func TestOptionErrors(t *testing.T) {
	hs := newLAN(t, 1)
	for want, opt := range map[string]discovery.Option{
		"WithDialTimeout(0s): must be positive":               discovery.WithDialTimeout(0),
		"WithDialTimeout(-1s): must be positive":              discovery.WithDialTimeout(-time.Second),
		"WithDialConcurrency(0): must be positive":            discovery.WithDialConcurrency(0),
		"WithPeersChanSize(-3): must be positive":             discovery.WithPeersChanSize(-3),
		"WithEvents(0): must be positive":                     discovery.WithEvents(0),
		"WithTTLs(500ms, 1h15m0s): both must be at least 1 s": discovery.WithTTLs(500*time.Millisecond, 75*time.Minute),
	} {
		d, err := discovery.NewMDNSDiscovery(context.Background(), hs[0].h, "", discovery.WithConn(hs[0].conn), opt)
		if err == nil || err.Error() != "discovery: "+want {
			t.Errorf("got %v, want %q", err, "discovery: "+want)
		}
		if d != nil {
			d.Close()
		}
	}
}

// TestFailedStartReleases: a start that fails half-way (here: the
// metrics cannot be registered) releases what it built: the responder's
// and the browser's Views stop taking packets from the Conn.
func TestFailedStartReleases(t *testing.T) {
	hs := newLAN(t, 2)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "mdns_discovery_packets_sent_total", Help: "taken"}))
	d, err := discovery.NewMDNSDiscovery(context.Background(), hs[1].h, "", discovery.WithConn(hs[1].conn), discovery.WithPrometheus(reg))
	if err == nil {
		d.Close()
		t.Fatal("NewMDNSDiscovery registered metrics whose names are taken")
	}
	witness, err := hs[1].conn.View(transport.ViewConfig{Name: "witness"})
	if err != nil {
		t.Fatal(err)
	}
	defer witness.Close()
	service, err := mdns.ServiceName(discovery.DefaultServiceTag)
	if err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion(service, dns.TypePTR)
	data, _ := q.Pack()
	if err := hs[0].conn.WritePacket(&transport.Packet{Data: data, Dst: transport.GroupV4, IfIndex: 1}); err != nil {
		t.Fatal(err)
	}
	testkit.Recv(t, witness.Packets(), "the query", 5*time.Second, func(*transport.Packet) bool { return true })
	if n := hs[1].conn.Stats().Queued; n != 0 {
		t.Errorf("%d packets queued for the Views of a failed start", n)
	}
}

// TestParentContextCancel: cancelling the context given to
// NewMDNSDiscovery stops discovery (PeersChan closes); Close still works.
func TestParentContextCancel(t *testing.T) {
	hs := newLAN(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := discovery.NewMDNSDiscovery(ctx, hs[0].h, "", discovery.WithConn(hs[0].conn))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-drain(d.PeersChan()):
	case <-time.After(10 * time.Second):
		t.Fatal("PeersChan not closed after the context ended")
	}
	if err := d.Close(); err != nil && !strings.Contains(err.Error(), "closed") {
		t.Error(err)
	}
}

// TestEvents: WithEvents reports found (with the flavour), connected, and
// lost after the other side's goodbye; the channel closes on Close.
func TestEvents(t *testing.T) {
	hs := newLAN(t, 2)
	ctx := context.Background()
	d0, err := discovery.NewMDNSDiscovery(ctx, hs[0].h, "", discovery.WithConn(hs[0].conn), discovery.WithEvents(64))
	if err != nil {
		t.Fatal(err)
	}
	d1, err := discovery.NewMDNSDiscovery(ctx, hs[1].h, "", discovery.WithConn(hs[1].conn), discovery.WithAutoConnect(false))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []discovery.EventKind{discovery.PeerFound, discovery.Connected, discovery.PeerLost} {
		ev := testkit.Recv(t, d0.Events(), want.String(), 15*time.Second, func(ev discovery.Event) bool {
			return ev.Peer.ID == hs[1].h.ID() && ev.Kind == want
		})
		if ev.Kind == discovery.PeerFound && ev.Flavour != "discovery" {
			t.Errorf("flavour %q", ev.Flavour)
		}
		if ev.Kind == discovery.Connected {
			// Goodbyes (→ lost) withdraw what was announced: see TestSeedAPI.
			testkit.WaitFor(t, "d1 announced", 10*time.Second, func() bool { return d1.Metrics().Responder.Announcements > 0 })
			d1.Close()
		}
	}
	d0.Close()
	for range d0.Events() {
	}
}

// TestFollowsHostAddrs: when the host starts listening on a new address
// (EvtLocalAddressesUpdated), discovery re-announces and the other side gets
// an Updated event with the new address (go-libp2p's mdns never does:
// go-libp2p#1163).
func TestFollowsHostAddrs(t *testing.T) {
	hs := newLAN(t, 2)
	d0 := hs[0].start(t, discovery.WithEvents(64), discovery.WithAutoConnect(false))
	d1 := hs[1].start(t, discovery.WithAutoConnect(false))
	waitPeer(t, d0.PeersChan(), hs[1].h.ID(), 10*time.Second)
	before := map[string]bool{}
	for _, a := range d1.Addrs() {
		before[a.String()] = true
	}
	if err := hs[1].h.Network().Listen(multiaddr.StringCast("/ip4/127.0.0.1/tcp/0")); err != nil {
		t.Fatal(err)
	}
	testkit.Recv(t, d0.Events(), "an Updated event with the new address", 20*time.Second, func(ev discovery.Event) bool {
		return ev.Kind == discovery.PeerUpdated && ev.Peer.ID == hs[1].h.ID() &&
			slices.ContainsFunc(ev.Peer.Addrs, func(a multiaddr.Multiaddr) bool { return !before[a.String()] })
	})
}

// TestProbeHints: by default a peer that starts later is found (Events and
// PeersChan) and connected from its RFC 6762 §8.1 probes, before it has
// announced anything; its announcement then changes nothing the user sees.
// With WithProbeHints(false) it is found only once it has announced.
func TestProbeHints(t *testing.T) {
	for _, hints := range []bool{true, false} {
		t.Run(fmt.Sprintf("hints=%v", hints), func(t *testing.T) {
			hs := newLAN(t, 2)
			d0 := hs[0].start(t, discovery.WithEvents(64), discovery.WithProbeHints(hints))
			peers := d0.PeersChan()
			d1 := hs[1].start(t, discovery.WithAutoConnect(false))
			var seen []discovery.EventKind
			testkit.Recv(t, d0.Events(), "found and connected", 15*time.Second, func(ev discovery.Event) bool {
				if ev.Peer.ID != hs[1].h.ID() {
					return false
				}
				if ev.Kind == discovery.PeerFound {
					// A peer announces at least 750 ms after its first
					// probe; found from the probe, it has not yet.
					if n := d1.Metrics().Responder.Announcements; (n == 0) != hints {
						t.Errorf("found after %d announcements", n)
					}
					if len(ev.Peer.Addrs) == 0 {
						t.Error("found without addresses")
					}
				}
				seen = append(seen, ev.Kind)
				return slices.Contains(seen, discovery.PeerFound) && slices.Contains(seen, discovery.Connected)
			})
			if ai := waitPeer(t, peers, hs[1].h.ID(), 5*time.Second); len(ai.Addrs) == 0 {
				t.Error("PeersChan delivered no addresses")
			}
			time.Sleep(3 * time.Second) // the announcements
			for len(d0.Events()) > 0 {
				if ev := <-d0.Events(); ev.Peer.ID == hs[1].h.ID() && ev.Kind != discovery.Connected {
					t.Errorf("%v after the peer announced what it had probed", ev.Kind)
				}
			}
		})
	}
}
