package discovery_test

import (
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

func tcpTransport() any { return tcp.NewTCPTransport }

type peerInfo = peer.AddrInfo

type notifeeFunc func(peer.AddrInfo)

func (f notifeeFunc) HandlePeerFound(ai peer.AddrInfo) { f(ai) }
