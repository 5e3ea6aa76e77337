package discovery

import (
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// TestAnnounceAddrsSuitable: of the resolved listen addresses, only those
// usable on a LAN are announced (no browser-only transports, no DNS names
// outside .local).
func TestAnnounceAddrsSuitable(t *testing.T) {
	got := suitableAddrs([]ma.Multiaddr{
		ma.StringCast("/ip4/198.51.100.11/tcp/4001"),
		ma.StringCast("/ip4/198.51.100.11/tcp/4001/ws"),
		ma.StringCast("/dns4/example.com/tcp/4001"),
		ma.StringCast("/dns4/h1.local/tcp/4001"),
	})
	if len(got) != 2 || got[0].String() != "/ip4/198.51.100.11/tcp/4001" || got[1].String() != "/dns4/h1.local/tcp/4001" {
		t.Errorf("suitableAddrs: %v", got)
	}
}

// TestAnnounceAddrsListening: the announced addresses are the listen
// addresses resolved against a fresh interface listing (here a loopback
// listener, kept as is), and a host that does not listen announces none
// rather than failing (as the swarm's cached listing behaved).
func TestAnnounceAddrsListening(t *testing.T) {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	got, err := announceAddrs(h)
	if err != nil || len(got) != 1 || !strings.HasPrefix(got[0].String(), "/ip4/127.0.0.1/tcp/") {
		t.Errorf("listening host: %v, %v", got, err)
	}
	quiet, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport))
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	if got, err := announceAddrs(quiet); err != nil || len(got) != 0 {
		t.Errorf("host without listen addresses: %v, %v", got, err)
	}
}
