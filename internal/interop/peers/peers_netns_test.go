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
	self, err := g.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "self" })
	if err != nil {
		t.Fatal(err)
	}
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
