package discovery_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/chorus-services/discovery"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	coredisc "github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/p2p/discovery/backoff"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	dutil "github.com/libp2p/go-libp2p/p2p/discovery/util"
)

// mDNS for the LAN and the Kademlia DHT beyond it, side by side: both are a
// core/discovery.Discovery, so advertising, finding and go-libp2p's backoff
// discovery work the same way for each.
func Example_withKadDHT() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := libp2p.New()
	if err != nil {
		return
	}
	defer h.Close()

	lan, err := discovery.NewMDNSDiscovery(ctx, h, "my-app")
	if err != nil {
		return
	}
	defer lan.Close()
	kad, err := dht.New(h, dht.Mode(dht.ModeAuto))
	if err != nil {
		return
	}
	defer kad.Close()
	wan := drouting.NewRoutingDiscovery(kad)

	for _, d := range []coredisc.Discovery{lan, wan} {
		dutil.Advertise(ctx, d, "my-app")
		cached, err := backoff.NewBackoffDiscovery(d, backoff.NewFixedBackoff(time.Minute))
		if err != nil {
			return
		}
		peers, err := cached.FindPeers(ctx, "my-app")
		if err != nil {
			continue
		}
		go func() {
			for ai := range peers {
				if ai.ID != h.ID() {
					slog.Info("peer", "id", ai.ID, "addrs", ai.Addrs)
				}
			}
		}()
	}
	<-ctx.Done()
}
