package peers_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

const id = "12D3KooWSfsqkSUU6DTgDKK6RuxGJs7poPksfrxQEFwNNvmy32vT"

// TestAvahiPublishBrowse: the harness runs two avahi-daemons with private
// buses; avahi-browse in h2 resolves an avahi-publish of h1 with its
// dnsaddr TXT strings.
func TestAvahiPublishBrowse(t *testing.T) {
	nt := netns.New(t, 2)
	a1 := peers.StartAvahi(t, nt, 1, "harness-h1")
	a2 := peers.StartAvahi(t, nt, 2, "harness-h2")
	txt := []string{"dnsaddr=/ip4/198.51.100.11/tcp/4001/p2p/" + id, "dnsaddr=/ip6/2001:db8:53::11/tcp/4001/p2p/" + id}
	a1.Publish(t, "harness-peer", "_p2p._udp", 4001, txt...)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for attempt := 0; attempt < 5; attempt++ {
		res, out, err := a2.Browse(ctx, "_p2p._udp")
		for _, r := range res {
			if r.Name == "harness-peer" && slices.Contains(r.TXT, txt[0]) && slices.Contains(r.TXT, txt[1]) {
				return
			}
		}
		t.Logf("attempt %d: %v\n%s", attempt, err, out)
	}
	t.Fatal("avahi-browse did not resolve the published service")
}

// TestGoAndJSNodes: the go-libp2p and js-libp2p reference nodes run in two
// namespaces and js discovers go (go cannot discover js: js sends no SRV/A).
func TestGoAndJSNodes(t *testing.T) {
	nt := netns.New(t, 2)
	g := peers.GoNode(t, nt, 1, "-duration", "15s")
	j := peers.JSNode(t, nt, 2, "15", "--interval", "500")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	self := g.WaitSelf(t, ctx)
	if _, err := j.WaitFor(ctx, func(e peers.Event) bool {
		return e.Str("event") == "peer:discovery" && e.Str("id") == self.Str("id")
	}); err != nil {
		t.Fatal(err)
	}
}

// TestPythonZeroconf: a python-zeroconf registration in h1 is resolved by a
// python-zeroconf browser in h2 with its dnsaddr strings.
func TestPythonZeroconf(t *testing.T) {
	nt := netns.New(t, 2)
	peers.Python(t, nt, 1, "zc_register.py", "--instance", "py-peer", "--host", "py-h1", "--addr", "198.51.100.11",
		"--dnsaddr", "/ip4/198.51.100.11/tcp/4001/p2p/"+id, "--duration", "15")
	b := peers.Python(t, nt, 2, "zc_browse.py", "--duration", "12")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ev, err := b.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "resolved" })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ev.Strs("txt"), "dnsaddr=/ip4/198.51.100.11/tcp/4001/p2p/"+id) {
		t.Fatalf("resolved %v", ev)
	}
}

// connectPair waits until dialer reports a connection to the peer whose
// self event listener printed (both run the same flavour: dialer dials,
// listener does not).
func connectPair(t *testing.T, dialer, listener *peers.Proc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	self := listener.WaitSelf(t, ctx)
	start := time.Now()
	// A dial_failed does not end the wait: another address or a later
	// discovery may still connect.
	if _, err := dialer.WaitFor(ctx, func(e peers.Event) bool {
		return e.Str("event") == "connected" && e.Str("id") == self.Str("id")
	}); err != nil {
		t.Fatalf("%s did not connect to %s: %v; events: %v", dialer.Name, listener.Name, err, dialer.Events())
	}
	t.Logf("%s found and connected to %s in %v", dialer.Name, listener.Name, time.Since(start).Round(time.Millisecond))
}

// TestRustNodes: two real rust-libp2p nodes find each other by libp2p-mdns
// and one connects, over IPv4 and in IPv6 mode.
func TestRustNodes(t *testing.T) {
	for _, mode := range [][]string{nil, {"--ipv6"}} {
		nt := netns.New(t, 2)
		l := peers.RustNode(t, nt, 1, append([]string{"--duration", "20", "--no-dial"}, mode...)...)
		d := peers.RustNode(t, nt, 2, append([]string{"--duration", "20"}, mode...)...)
		connectPair(t, d, l)
	}
}

// TestPyNodes: two real py-libp2p nodes (listening on their LAN address:
// py announces its listeners' socket addresses, so 0.0.0.0 would be
// undialable) find each other and one connects.
func TestPyNodes(t *testing.T) {
	nt := netns.New(t, 2)
	l := peers.PyNode(t, nt, 1, "--duration", "25", "--no-dial", "--listen", "/ip4/"+nt.Host(1).V4.Addr().String()+"/tcp/4001")
	d := peers.PyNode(t, nt, 2, "--duration", "25", "--listen", "/ip4/"+nt.Host(2).V4.Addr().String()+"/tcp/4001")
	connectPair(t, d, l)
}

// TestJSNodesConnect: js-libp2p 3.x on the pinned Node 22 accepts inbound
// connections (the noise handshake fails on Node 20).
func TestJSNodesConnect(t *testing.T) {
	nt := netns.New(t, 2)
	l := peers.JSNode(t, nt, 1, "20", "--interval", "500", "--no-dial")
	d := peers.JSNode(t, nt, 2, "20", "--interval", "500")
	connectPair(t, d, l)
}

// TestGoNodesConnect: go-libp2p's mdns with h.Connect in HandlePeerFound.
func TestGoNodesConnect(t *testing.T) {
	nt := netns.New(t, 2)
	l := peers.GoNode(t, nt, 1, "-duration", "20s", "-no-dial")
	d := peers.GoNode(t, nt, 2, "-duration", "20s")
	connectPair(t, d, l)
}
