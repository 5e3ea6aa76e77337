//go:build linux

package matrix

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// A libp2p flavour's cells prove discovery AND a connection: "they find
// us" passes only when their node connects to our `p2p-mdns run
// --no-connect` with the addresses it decoded from our records (we never
// dial, and we listen only on the cell's family); "we find them" only when
// our host connects to their node (which does not dial) with the addresses
// we decoded from theirs.
type flavour struct {
	name string
	// start runs their node in host i, listening on family f only; dial
	// false starts it without dialling what it finds.
	start func(t *testing.T, nt *netns.Net, i int, f family, dial bool) *peers.Proc
	// v6 says why the flavour has no IPv6 cells ("" if it has).
	v6 string
}

var flavours = []flavour{
	{name: "go-libp2p", start: startGo},
	{name: "rust-libp2p", start: startRust},
	{name: "js-libp2p", start: startJS, v6: "@libp2p/mdns is IPv4-only: multicast-dns binds one udp4 socket"},
	{name: "py-libp2p", start: startPy, v6: "py-libp2p's Zeroconf() takes python-zeroconf's default, IPVersion.V4Only"},
}

func flavourOf(name string) flavour {
	i := slices.IndexFunc(flavours, func(f flavour) bool { return f.name == name })
	return flavours[i]
}

func startGo(t *testing.T, nt *netns.Net, i int, f family, dial bool) *peers.Proc {
	args := []string{"-duration", "40s", "-listen", anyAddr(f) + "/tcp/4001"}
	if !dial {
		args = append(args, "-no-dial")
	}
	return peers.GoNode(t, nt, i, args...)
}

func startRust(t *testing.T, nt *netns.Net, i int, f family, dial bool) *peers.Proc {
	args := []string{"--duration", "40", "--listen", anyAddr(f) + "/tcp/0"}
	if f == v6 {
		args = append(args, "--ipv6") // libp2p-mdns speaks one family: Config.enable_ipv6
	}
	if !dial {
		args = append(args, "--no-dial")
	}
	return peers.RustNode(t, nt, i, args...)
}

func startJS(t *testing.T, nt *netns.Net, i int, f family, dial bool) *peers.Proc {
	args := []string{"40", "--interval", "1000"}
	if !dial {
		args = append(args, "--no-dial")
	}
	return peers.JSNode(t, nt, i, append(args, anyAddr(f)+"/tcp/4002")...)
}

// startPy listens on the host's LAN address: py-libp2p announces its
// listeners' socket addresses as they are, so on 0.0.0.0 (its docs'
// example) it would announce /ip4/0.0.0.0/tcp/…, which no peer can dial.
func startPy(t *testing.T, nt *netns.Net, i int, f family, dial bool) *peers.Proc {
	args := []string{"--duration", "40", "--listen", famAddr(nt, i, f, 4001)}
	if !dial {
		args = append(args, "--no-dial")
	}
	return peers.PyNode(t, nt, i, args...)
}

func anyAddr(f family) string {
	if f == v6 {
		return "/ip6/::"
	}
	return "/ip4/0.0.0.0"
}

// runUs starts `p2p-mdns run` in host i over family f only, listening on
// that family only (TCP and QUIC), and returns it with its peer ID.
func runUs(t *testing.T, nt *netns.Net, i int, f family, connect bool) (*peers.Proc, string) {
	t.Helper()
	args := append([]string{"run", "--json", "--duration", "40s", "--listen", anyAddr(f) + "/tcp/0", "--listen", anyAddr(f) + "/udp/0/quic-v1"}, famFlags(f)...)
	if !connect {
		args = append(args, "--no-connect")
	}
	p := peers.Start(t, "p2p-mdns-run", nt.Exec(t.Context(), i, p2pMdns(t), args...))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	self, err := p.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "self" })
	if err != nil {
		t.Fatal(err)
	}
	return p, self.Str("id")
}

func selfOf(t *testing.T, p *peers.Proc) peers.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	self, err := p.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "self" })
	if err != nil {
		t.Fatal(err)
	}
	return self
}

func isFound(e peers.Event) bool {
	switch e.Str("event") {
	case "found", "updated", "peer:discovery":
		return true
	}
	return false
}

// findAndConnect waits until finder reports id found with an address of
// family f, then connected to it; the durations are since t0. A connection
// that never comes is an error carrying the finder's dial failures.
func findAndConnect(t *testing.T, finder *peers.Proc, t0 time.Time, id string, f family) (found, conn time.Duration, addrs []string, err error) {
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	ev, err := finder.WaitFor(ctx, func(e peers.Event) bool {
		return isFound(e) && e.Str("id") == id && anyOfFamily(trimP2P(e.Strs("addrs")), f)
	})
	if err != nil {
		return 0, 0, nil, fmt.Errorf("%s did not find %s with a %s address: %v; events: %s", finder.Name, id, f, err, eventsOf(finder))
	}
	found, addrs = time.Since(t0), trimP2P(ev.Strs("addrs"))
	ctx2, cancel2 := context.WithTimeout(t.Context(), within)
	defer cancel2()
	if _, err := finder.WaitFor(ctx2, func(e peers.Event) bool { return e.Str("event") == "connected" && e.Str("id") == id }); err != nil {
		return found, 0, addrs, fmt.Errorf("%s found %s at %.1fs with %v but did not connect: %v; events: %s", finder.Name, id, found.Seconds(), addrs, err, eventsOf(finder))
	}
	return found, time.Since(t0), addrs, nil
}

func trimP2P(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i], _, _ = strings.Cut(a, "/p2p/")
	}
	return out
}

func eventsOf(p *peers.Proc) string {
	var got []string
	for _, e := range p.Events() {
		got = append(got, fmt.Sprint(map[string]any(e)))
	}
	return strings.Join(got, "; ")
}

// libp2pFindsUs: our run (no dialling) first, then their node, which must
// find us and connect.
func libp2pFindsUs(t *testing.T, c cell) outcome {
	nt := netns.New(t, 2)
	_, id := runUs(t, nt, 1, c.fam, false)
	t0 := time.Now()
	them := flavourOf(c.peer).start(t, nt, 2, c.fam, true)
	selfOf(t, them)
	up := time.Since(t0) // their process start-up, to its self event
	fd, cd, addrs, err := findAndConnect(t, them, t0, id, c.fam)
	if err != nil {
		t.Fatal(err)
	}
	return outcome{d: fd, conn: cd, note: fmt.Sprintf("their node up at %.1fs; they decoded %s", up.Seconds(), strings.Join(addrs, " "))}
}

// weFindLibp2p: their node (not dialling) first, then our run, which must
// find it and connect.
func weFindLibp2p(t *testing.T, c cell) outcome {
	nt := netns.New(t, 2)
	them := flavourOf(c.peer).start(t, nt, 1, c.fam, false)
	id := selfOf(t, them).Str("id")
	t0 := time.Now()
	us, _ := runUs(t, nt, 2, c.fam, true)
	up := time.Since(t0)
	fd, cd, addrs, err := findAndConnect(t, us, t0, id, c.fam)
	if err != nil {
		t.Fatal(err)
	}
	return outcome{d: fd, conn: cd, note: fmt.Sprintf("our run up at %.1fs; we decoded %s", up.Seconds(), strings.Join(addrs, " "))}
}
