package discovery_test

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorus-services/discovery"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestDropInNotifeeFuncMetricsPeers: a NotifeeFunc is a Notifee, and the
// Service of NewMdnsService gives the metrics and peers of the discovery
// behind it (zero and none before Start).
func TestDropInNotifeeFuncMetricsPeers(t *testing.T) {
	hs := newLAN(t, 2)
	var calls atomic.Int64
	f := discovery.NotifeeFunc(func(peer.AddrInfo) { calls.Add(1) })
	var _ discovery.Notifee = f
	s0 := discovery.NewMdnsService(hs[0].h, "", f, discovery.WithConn(hs[0].conn))
	s1 := discovery.NewMdnsService(hs[1].h, "", nil, discovery.WithConn(hs[1].conn))
	if m := s0.Metrics(); m.PeersDiscovered != 0 || s0.Peers() != nil {
		t.Errorf("before Start: %+v %v", m, s0.Peers())
	}
	for _, s := range []discovery.Service{s0, s1} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	other := hs[1].h.ID()
	known := func() bool {
		return slices.ContainsFunc(s0.Peers(), func(ai peer.AddrInfo) bool { return ai.ID == other })
	}
	testkit.WaitFor(t, "the notifee called and the peer known", 10*time.Second, func() bool { return calls.Load() > 0 && known() })
	if m := s0.Metrics(); m.PeersDiscovered != 1 || m.PeersKnown != 1 || m.Browser.Peers != 1 {
		t.Errorf("metrics %+v", m)
	}
}
