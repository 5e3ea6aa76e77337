// Command golibp2p-node is a minimal go-libp2p node that uses go-libp2p's
// own mDNS discovery (github.com/libp2p/go-libp2p/p2p/discovery/mdns), the
// reference this project must interoperate with. It prints JSON lines:
//
//	{"event":"self","id":...,"addrs":[...]}
//	{"event":"peer:discovery","id":...,"addrs":[...]}
//	{"event":"connected","id":...,"dir":"out"}
//	{"event":"dial_failed","id":...,"error":...}
//	{"event":"stopped"}
//
// It connects to every peer it discovers with h.Connect in HandlePeerFound,
// as go-libp2p's users do (-no-dial: it only reports what it finds).
// and stops (closing mdns, which sends goodbyes) on SIGINT/SIGTERM or after
// -duration.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"

	"github.com/chorus-services/discovery"
)

var (
	outMu sync.Mutex
	enc   = json.NewEncoder(os.Stdout)
)

func emit(v map[string]any) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = enc.Encode(v)
}

type notifee struct {
	h       host.Host
	connect bool
}

func (n *notifee) HandlePeerFound(ai peer.AddrInfo) {
	emit(map[string]any{"event": "peer:discovery", "id": ai.ID.String(), "addrs": strs(ai)})
	if n.connect && ai.ID != n.h.ID() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.h.Connect(ctx, ai); err != nil {
				emit(map[string]any{"event": "dial_failed", "id": ai.ID.String(), "error": err.Error()})
				return
			}
			emit(map[string]any{"event": "connected", "id": ai.ID.String(), "dir": "out"})
		}()
	}
}

func strs(ai peer.AddrInfo) []string {
	out := make([]string, 0, len(ai.Addrs))
	for _, a := range ai.Addrs {
		out = append(out, a.String())
	}
	return out
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var listen list
	service := flag.String("service", "", "mdns service tag (empty: _p2p._udp)")
	duration := flag.Duration("duration", 20*time.Second, "run this long")
	connect := flag.Bool("connect", true, "connect to discovered peers (h.Connect in HandlePeerFound)")
	noDial := flag.Bool("no-dial", false, "do not connect to discovered peers (same as -connect=false)")
	seed := flag.String("seed", "", "derive the identity from this seed (default: random)")
	impl := flag.String("impl", "go-libp2p", "mdns implementation: go-libp2p (p2p/discovery/mdns) or ours (discovery.NewMdnsService, the drop-in)")
	flag.Var(&listen, "listen", "listen multiaddr (repeatable; default /ip4/0.0.0.0/tcp/4001 and /ip6/::/tcp/4001)")
	flag.Parse()
	if *noDial {
		*connect = false
	}
	if len(listen) == 0 {
		listen = list{"/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"}
	}
	opts := []libp2p.Option{libp2p.ListenAddrStrings(listen...)}
	if *seed != "" {
		r := strings.NewReader(strings.Repeat(*seed, 64/len(*seed)+1))
		sk, _, err := crypto.GenerateEd25519Key(r)
		if err != nil {
			fail(err)
		}
		opts = append(opts, libp2p.Identity(sk))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		fail(err)
	}
	self := peer.AddrInfo{ID: h.ID()}
	self.Addrs, _ = h.Network().InterfaceListenAddresses()
	emit(map[string]any{"event": "self", "id": h.ID().String(), "addrs": strs(self)})
	var svc interface {
		Start() error
		Close() error
	}
	switch *impl {
	case "go-libp2p":
		svc = mdns.NewMdnsService(h, *service, &notifee{h: h, connect: *connect})
	case "ours":
		svc = discovery.NewMdnsService(h, *service, &notifee{h: h, connect: *connect})
	default:
		fail(fmt.Errorf("unknown -impl %q", *impl))
	}
	if err := svc.Start(); err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(*duration):
	}
	_ = svc.Close()
	_ = h.Close()
	emit(map[string]any{"event": "stopped"})
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "golibp2p-node:", err)
	os.Exit(1)
}
