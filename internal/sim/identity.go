package sim

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// identity returns node i's peer ID: an Ed25519 key (the libp2p default,
// "12D3KooW…") derived from seed and i, so runs are reproducible.
func identity(seed uint64, i int) (peer.ID, error) {
	rng := rand.New(rand.NewPCG(seed, 0x1d<<32|uint64(i)))
	var s [ed25519.SeedSize]byte
	for k := range s {
		s[k] = byte(rng.Uint32())
	}
	pub := ed25519.NewKeyFromSeed(s[:]).Public().(ed25519.PublicKey)
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pk)
}

// addrs returns 2–4 multiaddrs of a typical libp2p host listening on TCP
// and QUIC (v1) at port 4001: IPv4 TCP and QUIC always, then IPv6 TCP and
// QUIC (a global documentation address derived from the IPv4 one) with
// probability 1/2 each, chosen by rng. The responder appends /p2p/<id>.
func addrs(rng *rand.Rand, v4 netip.Addr) ([]ma.Multiaddr, error) {
	b := v4.As4()
	v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1, 14: b[3], 13: b[2]})
	list := []string{
		fmt.Sprintf("/ip4/%s/tcp/4001", v4),
		fmt.Sprintf("/ip4/%s/udp/4001/quic-v1", v4),
	}
	for _, s := range []string{"/ip6/%s/tcp/4001", "/ip6/%s/udp/4001/quic-v1"} {
		if rng.IntN(2) == 1 {
			list = append(list, fmt.Sprintf(s, v6))
		}
	}
	out := make([]ma.Multiaddr, 0, len(list))
	for _, s := range list {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
