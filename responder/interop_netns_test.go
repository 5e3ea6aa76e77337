//go:build linux

package responder_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/responder"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// startResponder runs our responder on real sockets in host namespace i,
// announcing TCP 4001 on the host's IPv4 and IPv6 addresses, under the
// service tag. It is stopped (with goodbyes) at cleanup.
func startResponder(t *testing.T, nt *netns.Net, i int, tag string) (peer.ID, []string, *responder.Responder) {
	t.Helper()
	conn, err := netns.Open(nt, i, func() (*transport.UDP, error) {
		return transport.Listen(transport.Config{Interfaces: []string{netns.LinkName}})
	})
	if err != nil {
		t.Fatal(err)
	}
	id := testkit.ID(t, i)
	h := nt.Host(i)
	addrs := []string{"/ip4/" + h.V4.Addr().String() + "/tcp/4001", "/ip6/" + h.V6.Addr().String() + "/tcp/4001"}
	var mas []ma.Multiaddr
	for _, a := range addrs {
		mas = append(mas, ma.StringCast(a))
	}
	r, err := responder.New(responder.Config{Conn: conn, Service: tag, PeerID: id, Addrs: mas})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	testkit.Run(t, "responder", r.Run)
	return id, addrs, r
}

// TestFoundByAvahiBrowse: `avahi-browse -rpt _p2p._udp` in another namespace
// resolves our responder, with every dnsaddr string in its TXT record.
func TestFoundByAvahiBrowse(t *testing.T) {
	nt := netns.New(t, 2)
	id, addrs, r := startResponder(t, nt, 1, "")
	av := peers.StartAvahi(t, nt, 2, "browser-h2")
	checkAvahiResolves(t, av, r.PeerName(), id, addrs)
}

func checkAvahiResolves(t *testing.T, av *peers.Avahi, name string, id peer.ID, addrs []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var last string
	for attempt := 0; attempt < 6 && ctx.Err() == nil; attempt++ {
		res, out, _ := av.Browse(ctx, "_p2p._udp")
		last = out
		for _, rr := range res {
			if rr.Name != name {
				continue
			}
			ok := true
			for _, a := range addrs {
				ok = ok && slices.Contains(rr.TXT, "dnsaddr="+a+"/p2p/"+id.String())
			}
			if ok && rr.Host == name+".local" && rr.Port == 4001 {
				t.Logf("avahi-browse resolved %s on %s/%s → %s %s", rr.Name, rr.Iface, rr.Proto, rr.Host, rr.Addr)
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("avahi-browse never resolved %s with all addresses; last output:\n%s", name, last)
}

// discovered waits (20 s) for the peer:discovery event of id from a
// reference libp2p node.
func discovered(t *testing.T, p *peers.Proc, id peer.ID) peers.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ev, err := p.WaitFor(ctx, func(e peers.Event) bool {
		return e.Str("event") == "peer:discovery" && e.Str("id") == id.String()
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestFoundByGoLibp2p: go-libp2p's own mdns (same service tag) in another
// namespace reports our peer with its addresses, for the default tag and
// for a custom one.
func TestFoundByGoLibp2p(t *testing.T) {
	for _, tag := range []string{"", "CHORUS-peer-discovery"} {
		t.Run("tag="+tag, func(t *testing.T) {
			nt := netns.New(t, 2)
			id, addrs, _ := startResponder(t, nt, 1, tag)
			ev := discovered(t, peers.GoNode(t, nt, 2, "-duration", "20s", "-service", tag), id)
			for _, a := range addrs {
				if !slices.Contains(ev.Strs("addrs"), a) {
					t.Errorf("go-libp2p got %v, missing %s", ev.Strs("addrs"), a)
				}
			}
		})
	}
}

// TestFoundByJSLibp2p: a js-libp2p node with @libp2p/mdns in another
// namespace reports our peer.
func TestFoundByJSLibp2p(t *testing.T) {
	nt := netns.New(t, 2)
	id, addrs, _ := startResponder(t, nt, 1, "")
	ev := discovered(t, peers.JSNode(t, nt, 2, "20", "--interval", "1000"), id)
	got := strings.Join(ev.Strs("addrs"), " ")
	if !strings.Contains(got, addrs[0]) {
		t.Errorf("js-libp2p got %s, want %s", got, addrs[0])
	}
}

// TestCoexistsWithAvahi: avahi-daemon and our responder share UDP 5353 in
// one namespace (SO_REUSEPORT); avahi-browse in another namespace still
// resolves both our peer and a service avahi publishes from the same host.
func TestCoexistsWithAvahi(t *testing.T) {
	nt := netns.New(t, 2)
	local := peers.StartAvahi(t, nt, 1, "shared-h1")
	id, addrs, r := startResponder(t, nt, 1, "")
	local.Publish(t, "avahi-neighbour", "_p2p._udp", 4002, "dnsaddr=/ip4/198.51.100.11/tcp/4002/p2p/12D3KooWSfsqkSUU6DTgDKK6RuxGJs7poPksfrxQEFwNNvmy32vT")
	remote := peers.StartAvahi(t, nt, 2, "browser-h2")
	checkAvahiResolves(t, remote, r.PeerName(), id, addrs)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, out, _ := remote.Browse(ctx, "_p2p._udp")
	for _, rr := range res {
		if rr.Name == "avahi-neighbour" {
			return
		}
	}
	t.Fatalf("avahi's own service was not resolved next to ours:\n%s", out)
}
