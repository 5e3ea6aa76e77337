//go:build linux

package browser_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/rustwire"
	"github.com/chorus-services/discovery/internal/testkit"

	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// startBrowser runs our browser on real sockets in host namespace i.
func startBrowser(t *testing.T, nt *netns.Net, i int, tag string) *browser.Browser {
	t.Helper()
	conn, err := netns.Open(nt, i, func() (*transport.UDP, error) {
		return transport.Listen(transport.Config{Interfaces: []string{netns.LinkName}})
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := browser.New(browser.Config{Conn: conn, Service: tag})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	testkit.Run(t, "browser", b.Run)
	return b
}

// waitFound waits for a Found/Updated event of id whose addresses include
// every one of want, and returns the time it took.
func waitFound(t *testing.T, b *browser.Browser, id string, want []string, within time.Duration) (browser.Event, time.Duration) {
	t.Helper()
	start := time.Now()
	ev := testkit.Recv(t, b.Events(), fmt.Sprintf("peer %s with %v", id, want), within, func(ev browser.Event) bool {
		if ev.Peer.ID.String() != id || (ev.Kind != browser.Found && ev.Kind != browser.Updated) {
			return false
		}
		got := map[string]bool{}
		for _, a := range ev.Peer.Addrs {
			got[a.String()] = true
		}
		all := true
		for _, w := range want {
			all = all && got[w]
		}
		return all
	})
	return ev, time.Since(start)
}

// TestFindsGoLibp2p: a go-libp2p node (go-libp2p's own mdns) in another
// namespace is found with its LAN addresses (its loopback ones are dropped).
func TestFindsGoLibp2p(t *testing.T) {
	nt := netns.New(t, 2)
	b := startBrowser(t, nt, 2, "")
	g := peers.GoNode(t, nt, 1, "-duration", "20s")
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	self := g.WaitSelf(t, ctx)
	h1 := nt.Host(1)
	ev, d := waitFound(t, b, self.Str("id"), []string{"/ip4/" + h1.V4.Addr().String() + "/tcp/4001", "/ip6/" + h1.V6.Addr().String() + "/tcp/4001"}, 15*time.Second)
	if ev.Flavour != mdns.FlavourGo {
		t.Errorf("flavour %v", ev.Flavour)
	}
	t.Logf("go-libp2p peer found in %s: %v", d, ev.Peer.Addrs)
}

// TestFindsJSLibp2p: a js-libp2p node with @libp2p/mdns is found (it only
// answers queries and sends TXT records in the answer section, no SRV).
func TestFindsJSLibp2p(t *testing.T) {
	nt := netns.New(t, 2)
	b := startBrowser(t, nt, 2, "")
	j := peers.JSNode(t, nt, 1, "20", "--interval", "10000")
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	self := j.WaitSelf(t, ctx)
	ev, d := waitFound(t, b, self.Str("id"), []string{"/ip4/" + nt.Host(1).V4.Addr().String() + "/tcp/4002"}, 15*time.Second)
	if ev.Flavour != mdns.FlavourJS {
		t.Errorf("flavour %v", ev.Flavour)
	}
	t.Logf("js-libp2p peer found in %s", d)
}

const testID = "12D3KooWSfsqkSUU6DTgDKK6RuxGJs7poPksfrxQEFwNNvmy32vT"

// TestFindsPythonZeroconf: a libp2p service registered through
// python-zeroconf with dnsaddr TXT strings is found.
func TestFindsPythonZeroconf(t *testing.T) {
	nt := netns.New(t, 2)
	b := startBrowser(t, nt, 2, "")
	addr := "/ip4/" + nt.Host(1).V4.Addr().String() + "/tcp/4001"
	peers.Python(t, nt, 1, "zc_register.py", "--instance", "py-peer", "--host", "py-h1", "--addr", nt.Host(1).V4.Addr().String(),
		"--dnsaddr", addr+"/p2p/"+testID, "--duration", "20")
	ev, d := waitFound(t, b, testID, []string{addr}, 15*time.Second)
	if ev.Flavour != mdns.FlavourDNSSD {
		t.Errorf("flavour %v", ev.Flavour)
	}
	t.Logf("python-zeroconf peer found in %s", d)
}

// TestFindsAvahiPublish: a service published with avahi-publish carrying
// dnsaddr TXT strings is found, and reported Lost after avahi's goodbye.
func TestFindsAvahiPublish(t *testing.T) {
	nt := netns.New(t, 2)
	b := startBrowser(t, nt, 2, "")
	av := peers.StartAvahi(t, nt, 1, "avahi-h1")
	addrs := []string{"/ip4/" + nt.Host(1).V4.Addr().String() + "/tcp/4001", "/ip6/" + nt.Host(1).V6.Addr().String() + "/udp/4001/quic-v1"}
	pub := av.Publish(t, "avahi-libp2p-peer", "_p2p._udp", 4001, "dnsaddr="+addrs[0]+"/p2p/"+testID, "dnsaddr="+addrs[1]+"/p2p/"+testID)
	_, d := waitFound(t, b, testID, addrs, 15*time.Second)
	t.Logf("avahi-published peer found in %s", d)
	pub.Stop(5 * time.Second) // avahi withdraws the service with goodbyes
	testkit.Recv(t, b.Events(), "Lost after avahi-publish stopped", 10*time.Second, func(ev browser.Event) bool {
		return ev.Kind == browser.Lost && ev.Peer.ID.String() == testID
	})
}

// TestFindsRustFormat: a synthetic announcer speaking rust-libp2p's wire
// format (mdns/doc.go): answers our query from an ephemeral port with IP
// TTL 1, a PTR to a single random label, and one TXT per address in the
// additional section. It is found with those addresses.
func TestFindsRustFormat(t *testing.T) {
	nt := netns.New(t, 2)
	h1 := nt.Host(1)
	addrs := []string{"/ip4/" + h1.V4.Addr().String() + "/tcp/4001", "/ip4/" + h1.V4.Addr().String() + "/udp/4001/quic-v1"}
	id := testkit.ID(t, 1)
	var rx *transport.UDP
	var tx *net.UDPConn
	if err := nt.Do(1, func() error {
		var err error
		if rx, err = transport.Listen(transport.Config{Interfaces: []string{netns.LinkName}, DisableIPv6: true}); err != nil {
			return err
		}
		tx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: h1.V4.Addr().AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	defer tx.Close()
	queries, err := rx.View(transport.ViewConfig{Name: "rust-format announcer"})
	if err != nil {
		t.Fatal(err)
	}
	go func() { // answer every _p2p._udp.local query, as rust-libp2p does
		for p := range queries.Packets() {
			m, err := mdns.Parse(p.Data)
			if err != nil || !rustwire.Asks(m) {
				continue
			}
			out, err := rustwire.Response(m.Id, id.String(), addrs)
			if err != nil {
				continue
			}
			_, _ = tx.WriteToUDP(out, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
		}
	}()
	b := startBrowser(t, nt, 2, "")
	ev, d := waitFound(t, b, id.String(), addrs, 15*time.Second)
	if ev.Flavour != mdns.FlavourRust {
		t.Errorf("flavour %v", ev.Flavour)
	}
	t.Logf("rust-format peer found in %s", d)
	if s := b.Stats(); s.Ephemeral == 0 {
		t.Errorf("no ephemeral-port response counted: %+v", s)
	}
}
