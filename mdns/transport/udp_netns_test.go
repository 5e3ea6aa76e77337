package transport_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// Every test here opens its sockets inside namespaces of the netns
// harness: nothing is ever sent on the machine's interfaces.

const waitLimit = 5 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// leakCheck registers goleak first, so that it runs after every other
// cleanup (Close included).
func leakCheck(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// exchangeLAN is a leak-checked LAN of two hosts with a Conn each: host
// 1's bound to lan0, host 2's on every interface.
func exchangeLAN(t *testing.T) (*peer, *peer) {
	t.Helper()
	n := leakCheckedLAN(t, 2)
	return listenIn(t, n, 1, transport.Config{Interfaces: []string{netns.LinkName}}), listenIn(t, n, 2, transport.Config{})
}

// leakCheckedLAN is a namespace LAN of n hosts (netns.New) in a test that
// leakCheck guards.
func leakCheckedLAN(t *testing.T, n int, opts ...netns.Option) *netns.Net {
	t.Helper()
	leakCheck(t)
	return netns.New(t, n, opts...)
}

// peer is a UDP Conn in one host namespace with a reader goroutine that
// collects what it receives.
type peer struct {
	c    *transport.UDP
	v    *transport.View
	host netns.Host
	pkts chan transport.Packet
	done chan struct{}
}

func listenIn(t *testing.T, n *netns.Net, i int, cfg transport.Config) *peer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t).With("host", i)
	}
	c, err := netns.Open(n, i, func() (*transport.UDP, error) { return transport.Listen(cfg) })
	if err != nil {
		t.Fatalf("Listen in host %d: %v", i, err)
	}
	v, err := c.View(transport.ViewConfig{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{c: c, v: v, host: n.Host(i), pkts: make(chan transport.Packet, 256), done: make(chan struct{})}
	go p.read()
	t.Cleanup(p.close)
	return p
}

func (p *peer) read() {
	defer close(p.done)
	buf := make([]byte, mdns.MaxPacketSize)
	for {
		var pk transport.Packet
		if err := p.v.ReadPacket(buf, &pk); err != nil {
			if errors.Is(err, transport.ErrClosed) {
				return
			}
			continue
		}
		pk.Data = append([]byte(nil), pk.Data...)
		select {
		case p.pkts <- pk:
		default: // the test stopped looking
		}
	}
}

func (p *peer) close() {
	_ = p.c.Close()
	<-p.done
}

// expect waits (bounded) for a packet carrying payload, discarding others.
func (p *peer) expect(t *testing.T, payload string) transport.Packet {
	t.Helper()
	return testkit.Recv(t, p.pkts, fmt.Sprintf("host %d: packet %q", p.host.Index, payload), waitLimit,
		func(pk transport.Packet) bool { return string(pk.Data) == payload })
}

// sendUntil sends pk every 100 ms until got receives its payload (bounded
// by waitLimit) and returns what got received.
func sendUntil(t *testing.T, from *peer, pk transport.Packet, got *peer) transport.Packet {
	t.Helper()
	var r transport.Packet
	testkit.WaitFor(t, fmt.Sprintf("host %d receiving %q from host %d", got.host.Index, pk.Data, from.host.Index), waitLimit, func() bool {
		if err := from.c.WritePacket(&pk); err != nil {
			t.Fatalf("host %d: WritePacket to %v: %v", from.host.Index, pk.Dst, err)
		}
		tick := time.NewTimer(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case r = <-got.pkts:
				if string(r.Data) == string(pk.Data) {
					return true
				}
			case <-tick.C:
				return false
			}
		}
	})
	return r
}

func addrOf(h netns.Host, v4 bool) []netip.Addr {
	if v4 {
		return []netip.Addr{h.V4.Addr()}
	}
	return []netip.Addr{h.LinkLocal, h.V6.Addr()}
}

func checkRecv(t *testing.T, what string, pk transport.Packet, src []netip.Addr, ifIndex int, dst netip.AddrPort, mcast bool) {
	t.Helper()
	okSrc := false
	for _, a := range src {
		okSrc = okSrc || pk.Src.Addr() == a
	}
	if !okSrc || pk.Src.Port() != mdns.Port || pk.Src.Addr().Zone() != "" {
		t.Errorf("%s: Src %v, want one of %v port %d without zone", what, pk.Src, src, mdns.Port)
	}
	if pk.IfIndex != ifIndex {
		t.Errorf("%s: IfIndex %d, want %d", what, pk.IfIndex, ifIndex)
	}
	if pk.TTL != 255 {
		t.Errorf("%s: TTL %d, want 255", what, pk.TTL)
	}
	if pk.Multicast != mcast || pk.Dst != dst {
		t.Errorf("%s: Dst %v Multicast %v, want %v %v", what, pk.Dst, pk.Multicast, dst, mcast)
	}
}

func TestUDPMulticastAndUnicastExchange(t *testing.T) {
	p1, p2 := exchangeLAN(t)

	for _, v4 := range []bool{true, false} {
		fam := map[bool]string{true: "v4", false: "v6"}[v4]
		t.Run(fam, func(t *testing.T) {
			group := transport.GroupV6
			if v4 {
				group = transport.GroupV4
			}
			for _, dir := range [][2]*peer{{p1, p2}, {p2, p1}} {
				from, to := dir[0], dir[1]
				payload := fmt.Sprintf("%s mcast %d→%d", fam, from.host.Index, to.host.Index)
				got := sendUntil(t, from, transport.Packet{Data: []byte(payload), Dst: group, IfIndex: from.host.IfIndex}, to)
				checkRecv(t, "group at receiver", got, addrOf(from.host, v4), to.host.IfIndex, group, true)

				// Multicast loopback: the sender hears itself.
				own := from.expect(t, payload)
				checkRecv(t, "own group packet", own, addrOf(from.host, v4), from.host.IfIndex, group, true)

				// A unicast reply to the source (link-local needs IfIndex).
				reply := payload + " reply"
				back := transport.Packet{Data: []byte(reply), Dst: got.Src, IfIndex: to.host.IfIndex}
				if err := to.c.WritePacket(&back); err != nil {
					t.Fatalf("unicast reply: %v", err)
				}
				r := from.expect(t, reply)
				checkRecv(t, "unicast reply", r, addrOf(to.host, v4), from.host.IfIndex,
					netip.AddrPortFrom(got.Src.Addr(), mdns.Port), false)
			}

			// A TTL below 255 is honoured (for tests of RFC 6762 §11 checks).
			payload := fam + " ttl 7"
			got := sendUntil(t, p1, transport.Packet{Data: []byte(payload), Dst: group, IfIndex: p1.host.IfIndex, TTL: 7}, p2)
			if got.TTL != 7 {
				t.Errorf("TTL %d, want 7", got.TTL)
			}
		})
	}

	t.Run("concurrent writers", func(t *testing.T) {
		const writers, each = 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for k := range each {
					dst, ttl := transport.GroupV4, 0
					if k%2 == 1 {
						dst = transport.GroupV6
					}
					if k%3 == 0 {
						ttl = 9 // exercises the exclusive path
					}
					pk := transport.Packet{Data: []byte("w" + strconv.Itoa(w*each+k)), Dst: dst, IfIndex: p1.host.IfIndex, TTL: ttl}
					if err := p1.c.WritePacket(&pk); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		seen := map[string]bool{}
		testkit.Recv(t, p2.pkts, fmt.Sprintf("%d concurrent packets", writers*each), waitLimit, func(pk transport.Packet) bool {
			if len(pk.Data) > 0 && pk.Data[0] == 'w' {
				seen[string(pk.Data)] = true
			}
			return len(seen) == writers*each
		})
	})

	t.Run("errors", func(t *testing.T) {
		err := p1.c.WritePacket(&transport.Packet{Data: []byte("x"), Dst: transport.GroupV4, IfIndex: 999})
		if !errors.Is(err, transport.ErrNoInterface) {
			t.Errorf("unknown interface: %v, want ErrNoInterface", err)
		}
		err = p1.c.WritePacket(&transport.Packet{Data: []byte("x"), Dst: netip.AddrPortFrom(p2.host.LinkLocal, mdns.Port)})
		if !errors.Is(err, transport.ErrNoInterface) {
			t.Errorf("link-local without interface: %v, want ErrNoInterface", err)
		}
		if st := p2.c.Stats(); st.Received == 0 {
			t.Errorf("Stats %+v", st)
		}
	})
}

func TestUDPPortSharingInOneNamespace(t *testing.T) {
	n := leakCheckedLAN(t, 2)
	a := listenIn(t, n, 1, transport.Config{})
	b := listenIn(t, n, 1, transport.Config{Interfaces: []string{netns.LinkName}})
	s := listenIn(t, n, 2, transport.Config{})
	for _, group := range []netip.AddrPort{transport.GroupV4, transport.GroupV6} {
		payload := "shared " + group.String()
		got := sendUntil(t, s, transport.Packet{Data: []byte(payload), Dst: group, IfIndex: s.host.IfIndex}, a)
		checkRecv(t, "first socket", got, addrOf(s.host, group == transport.GroupV4), a.host.IfIndex, group, true)
		got = b.expect(t, payload)
		checkRecv(t, "second socket", got, addrOf(s.host, group == transport.GroupV4), b.host.IfIndex, group, true)
	}
}

func TestUDPInterfacesAndRefresh(t *testing.T) {
	n := leakCheckedLAN(t, 1)
	p := listenIn(t, n, 1, transport.Config{})
	h := n.Host(1)

	ifs := p.c.Interfaces()
	if len(ifs) != 1 {
		t.Fatalf("Interfaces %+v, want lan0 only", ifs)
	}
	lan := ifs[0]
	if lan.Name != netns.LinkName || lan.Index != h.IfIndex || lan.MTU != 1500 || !lan.Up || !lan.Multicast || lan.Loopback || !lan.V4 || !lan.V6 {
		t.Fatalf("lan0 %+v", lan)
	}
	for _, want := range []netip.Prefix{h.V4, h.V6, netip.PrefixFrom(h.LinkLocal, 64)} {
		found := false
		for _, got := range lan.Prefixes {
			found = found || got == want
		}
		if !found {
			t.Errorf("prefix %v missing from %v", want, lan.Prefixes)
		}
	}

	run := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := n.Exec(ctx, 1, "ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	find := func(name string) *transport.Interface {
		for _, ifc := range p.c.Interfaces() {
			if ifc.Name == name {
				return &ifc
			}
		}
		return nil
	}
	// Refresh runs on the test goroutine, outside the namespace: it must
	// still look at host 1's interfaces.
	// A second interface appears (a veth end: dummy may be unavailable).
	run("link", "add", "dum0", "type", "veth", "peer", "name", "dum1")
	run("link", "set", "dum0", "up")
	run("addr", "add", "192.0.2.1/24", "dev", "dum0")
	if err := p.c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if d := find("dum0"); d == nil || !d.V4 {
		t.Fatalf("dum0 not joined after Refresh: %+v", p.c.Interfaces())
	}

	if err := n.SetLinkUp(1, false); err != nil {
		t.Fatal(err)
	}
	if err := p.c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if find(netns.LinkName) != nil {
		t.Fatalf("lan0 still in use while down: %+v", p.c.Interfaces())
	}
	err := p.c.WritePacket(&transport.Packet{Data: []byte("x"), Dst: transport.GroupV4, IfIndex: h.IfIndex})
	if !errors.Is(err, transport.ErrNoInterface) {
		t.Fatalf("send on a down interface: %v", err)
	}
	if err := n.SetLinkUp(1, true); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitReady(1); err != nil {
		t.Fatal(err)
	}
	if err := p.c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if l := find(netns.LinkName); l == nil || !l.V4 || !l.V6 {
		t.Fatalf("lan0 not joined again: %+v", p.c.Interfaces())
	}

	run("link", "del", "dum0")
	if err := p.c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if find("dum0") != nil {
		t.Fatalf("dum0 still in use: %+v", p.c.Interfaces())
	}

	// Close: idempotent, and everything then reports ErrClosed.
	p.close()
	if err := p.c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := p.v.ReadPacket(make([]byte, 10), &transport.Packet{}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("ReadPacket after Close: %v", err)
	}
	if _, err := p.c.View(transport.ViewConfig{}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("View after Close: %v", err)
	}
	if err := p.c.WritePacket(&transport.Packet{Data: []byte("x"), Dst: transport.GroupV4, IfIndex: h.IfIndex}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("WritePacket after Close: %v", err)
	}
	if err := p.c.Refresh(); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Refresh after Close: %v", err)
	}
}

func TestUDPFamilies(t *testing.T) {
	n := leakCheckedLAN(t, 1, netns.WithoutIPv6())
	p := listenIn(t, n, 1, transport.Config{})
	ifs := p.c.Interfaces()
	if len(ifs) != 1 || !ifs[0].V4 || ifs[0].V6 {
		t.Fatalf("Interfaces %+v, want lan0 with IPv4 only", ifs)
	}
	err := p.c.WritePacket(&transport.Packet{Data: []byte("x"), Dst: transport.GroupV6, IfIndex: ifs[0].Index})
	if !errors.Is(err, transport.ErrNoInterface) {
		t.Errorf("IPv6 send without IPv6: %v", err)
	}

	err = n.Do(1, func() error {
		c, err := transport.Listen(transport.Config{DisableIPv4: true, RequireInterface: true, Logger: testLogger(t)})
		if err == nil {
			_ = c.Close()
		}
		return err
	})
	if !errors.Is(err, transport.ErrNoInterface) {
		t.Errorf("IPv6-only Listen without IPv6 addresses, RequireInterface: %v, want ErrNoInterface", err)
	}
	err = n.Do(1, func() error {
		c, err := transport.Listen(transport.Config{DisableIPv4: true, Logger: testLogger(t)})
		if err != nil {
			return err
		}
		defer c.Close()
		if ifs := c.Interfaces(); len(ifs) != 0 {
			return fmt.Errorf("interfaces %+v, want none (waiting)", ifs)
		}
		return nil
	})
	if err != nil {
		t.Errorf("IPv6-only Listen without IPv6 addresses should wait for one: %v", err)
	}
	err = n.Do(1, func() error {
		_, err := transport.Listen(transport.Config{Interfaces: []string{"nosuch0"}})
		return err
	})
	if !errors.Is(err, transport.ErrNoInterface) {
		t.Errorf("unknown interface: %v, want ErrNoInterface", err)
	}
	err = n.Do(1, func() error {
		_, err := transport.Listen(transport.Config{DisableIPv4: true, DisableIPv6: true})
		return err
	})
	if err == nil {
		t.Error("Listen with both families disabled succeeded")
	}
}

func TestWatcherEvents(t *testing.T) {
	n := leakCheckedLAN(t, 1)
	w, err := netns.Open(n, 1, func() (*transport.Watcher, error) {
		return transport.NewWatcher(transport.WatcherConfig{Interfaces: []string{netns.LinkName}, Logger: testLogger(t)})
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.Run(t, "Watcher.Run", w.Run)

	h := n.Host(1)
	want := func(kind transport.EventKind, prefix netip.Prefix) {
		t.Helper()
		testkit.Recv(t, w.Events(), fmt.Sprintf("%v %v event", kind, prefix), waitLimit, func(ev transport.Event) bool {
			if ev.IfIndex != h.IfIndex || ev.IfName != netns.LinkName {
				t.Fatalf("event for another interface: %+v", ev)
			}
			return ev.Kind == kind && (!prefix.IsValid() || ev.Prefix == prefix)
		})
	}
	extra4 := netip.MustParsePrefix("198.51.100.200/24")
	extra6 := netip.MustParsePrefix("2001:db8:53::200/64")
	for _, p := range []netip.Prefix{extra4, extra6} {
		if err := n.AddAddr(1, p); err != nil {
			t.Fatal(err)
		}
		want(transport.AddrAdded, p)
		if err := n.DelAddr(1, p); err != nil {
			t.Fatal(err)
		}
		want(transport.AddrRemoved, p)
	}
	if err := n.SetLinkUp(1, false); err != nil {
		t.Fatal(err)
	}
	want(transport.IfaceDown, netip.Prefix{})
	if err := n.SetLinkUp(1, true); err != nil {
		t.Fatal(err)
	}
	want(transport.IfaceUp, netip.Prefix{})

	stop()
	for range w.Events() {
		// drained; closed by Run
	}
	if err := w.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
	t.Logf("dropped %d events", w.Dropped())
}

func TestUDPLoopbackInterface(t *testing.T) {
	n := leakCheckedLAN(t, 1)
	p := listenIn(t, n, 1, transport.Config{IncludeLoopback: true})
	var lo *transport.Interface
	for _, ifc := range p.c.Interfaces() {
		if ifc.Loopback {
			lo = &ifc
		}
	}
	if lo == nil || !lo.V4 {
		t.Fatalf("loopback not joined: %+v", p.c.Interfaces())
	}
	for _, group := range []netip.AddrPort{transport.GroupV4, transport.GroupV6} {
		if group == transport.GroupV6 && !lo.V6 {
			t.Logf("IPv6 group not joined on loopback")
			continue
		}
		payload := "lo " + group.String()
		got := sendUntil(t, p, transport.Packet{Data: []byte(payload), Dst: group, IfIndex: lo.Index}, p)
		// The kernel may pick lan0's address as the source.
		if got.IfIndex != lo.Index || !got.Multicast || got.Dst != group {
			t.Errorf("%+v", got)
		}
		t.Logf("%v: from %v ifindex %d ttl %d", group, got.Src, got.IfIndex, got.TTL)
	}
}

// TestUDPWaitsForInterface: with the only link down, Listen succeeds and
// waits; when the link comes up the Conn's own watcher joins the groups
// and only then tells the Views, so a View reading Interfaces on the event
// already sees the link; packets then flow.
func TestUDPWaitsForInterface(t *testing.T) {
	n := leakCheckedLAN(t, 2)
	if err := n.SetLinkUp(1, false); err != nil {
		t.Fatal(err)
	}
	p := listenIn(t, n, 1, transport.Config{})
	if ifs := p.c.Interfaces(); len(ifs) != 0 {
		t.Fatalf("Interfaces %+v with the link down, want none", ifs)
	}
	ev, err := p.c.View(transport.ViewConfig{Name: "events", Accept: transport.NoPackets})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	if err := n.SetLinkUp(1, true); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitReady(1); err != nil {
		t.Fatal(err)
	}
	testkit.Recv(t, ev.Events(), "an event with lan0 joined", waitLimit, func(e transport.Event) bool {
		joined := slices.ContainsFunc(ev.Interfaces(), func(ifc transport.Interface) bool { return ifc.Name == netns.LinkName && ifc.V4 })
		t.Logf("event %s on %s: joined %v", e.Kind, e.IfName, joined)
		return joined
	})
	q := listenIn(t, n, 2, transport.Config{})
	pk := transport.Packet{Data: []byte("after link up"), Dst: transport.GroupV4, IfIndex: n.Host(2).IfIndex}
	sendUntil(t, q, pk, p)
	if len(ev.Packets()) != 0 {
		t.Error("an events-only View received packets")
	}
}
