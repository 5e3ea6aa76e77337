package discovery_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/chorus-services/discovery"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Start discovery for a libp2p host, read the peers it finds (it also
// connects to them), and close it (sending goodbyes).
func ExampleNewMDNSDiscovery() {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"))
	if err != nil {
		return
	}
	defer h.Close()
	ctx := context.Background()
	disc, err := discovery.NewMDNSDiscovery(ctx, h, "CHORUS-dev-network",
		discovery.WithDialTimeout(30*time.Second),
		discovery.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		return
	}
	defer disc.Close()
	go func() {
		for ai := range disc.PeersChan() {
			slog.Info("discovered peer", "id", ai.ID, "addrs", ai.Addrs)
		}
	}()
	time.Sleep(10 * time.Second)
	m := disc.Metrics()
	slog.Info("discovery", "found", m.PeersDiscovered, "connected", m.ConnectionsSuccess, "failed", m.ConnectionsFailed)
}

// Switching from go-libp2p's mdns is a one-line import change; the
// Service also gives the metrics and the peers known.
func ExampleNewMdnsService() {
	h, err := libp2p.New()
	if err != nil {
		return
	}
	defer h.Close()
	svc := discovery.NewMdnsService(h, "", discovery.NotifeeFunc(func(ai peer.AddrInfo) {
		_ = h.Connect(context.Background(), ai)
	}))
	if err := svc.Start(); err != nil {
		return
	}
	defer svc.Close()
	time.Sleep(5 * time.Second)
	slog.Info("mdns", "peers", len(svc.Peers()), "found", svc.Metrics().PeersDiscovered)
}
