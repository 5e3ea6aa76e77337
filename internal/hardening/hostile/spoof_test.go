//go:build linux

package hostile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/dialer"
	"github.com/chorus-services/discovery/internal/hardening/hostile/flood"
	"github.com/chorus-services/discovery/internal/hardening/node"
	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
)

var mdnsGroup = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}

// TestSpoof: on one namespace LAN (host 1: the node under test, host 2: a
// real peer, host 3: the attacker), spoofed announcements are dropped and
// counted by reason, and a peer announcing another peer's ID neither
// displaces the real peer's addresses nor makes the node dial in a loop.
// After each subtest the real peer is still in Peers() and connected.
func TestSpoof(t *testing.T) {
	nt := netns.New(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	keyFile, realID := writeKey(t)
	a := node.Run(t, nt, 1, "--duration", "150s")

	// The impostor: a libp2p host on host 3 (its own identity Y, announced
	// under another service so that only the stolen-ID announcement below
	// concerns the node) and an announcement of the real peer's ID X with
	// that host's address.
	impostorAddr := "/ip4/" + nt.Host(3).V4.Addr().String() + "/tcp/4001"
	node.Up(t, nt, 3, "run", "--json", "--iface", netns.LinkName,
		"--service", "impostor-host", "--no-connect", "--listen", impostorAddr, "--duration", "150s")
	announceImpostor := func() *node.Node {
		return node.Up(t, nt, 3, "announce", "--json", "--iface", netns.LinkName,
			"--peer-key", keyFile, "--addr", impostorAddr, "--duration", "150s")
	}
	var r *node.Node

	t.Run("StolenID", func(t *testing.T) {
		// 1. The impostor announces X before the real peer exists: the
		// node dials it, the handshake fails (the key is Y's), the failure
		// is reported once and not retried while the impostor keeps
		// answering the node's queries.
		imp := announceImpostor()
		failed, err := waitEvent(ctx, a, func(e nodeEvent) bool { return e.Event == "dial_failed" && e.ID == realID })
		if err != nil {
			t.Fatalf("no dial_failed for the impostor: %v", err)
		}
		if !strings.Contains(strings.ToLower(failed.Error), "peer id mismatch") {
			t.Errorf("dial_failed error %q, want a peer ID mismatch (failed handshake)", failed.Error)
		}
		s, err := waitStats(ctx, a, func(s nodeStats) bool { return s.T >= failed.T+6 })
		if err != nil {
			t.Fatal(err)
		}
		if n := len(eventsOf(a, realID, "dial_failed")); n != 1 || s.Metrics.Dialer.Attempts != 1 || s.Metrics.Dialer.Failures[dialer.ReasonIdentity] != 1 {
			t.Fatalf("6 s after the failed handshake: %d dial_failed events, %d attempts, failures %v; want 1, 1, identity 1",
				n, s.Metrics.Dialer.Attempts, s.Metrics.Dialer.Failures)
		}
		if s.connected(realID) {
			t.Fatal("connected to the impostor")
		}
		t.Logf("impostor: 1 attempt, failed in the handshake (%s), not retried in 6 s", failed.Error)

		// 2. The real peer starts: its addresses join the impostor's, the
		// node connects to it (the real key), and the impostor's addresses
		// do not displace the real ones.
		r = node.Run(t, nt, 2, "--peer-key", keyFile, "--duration", "150s")
		if r.ID != realID {
			t.Fatalf("real peer has ID %s, want %s", r.ID, realID)
		}
		realAddr := "/ip4/" + nt.Host(2).V4.Addr().String() + "/"
		hasReal := func(e nodeEvent) bool {
			return e.ID == realID && (e.Event == "found" || e.Event == "updated") &&
				slices.ContainsFunc(e.Addrs, func(s string) bool { return strings.HasPrefix(s, realAddr) })
		}
		// The real peer may connect to the node (inbound) before its own
		// announcement has reached it: wait for both.
		if _, err := waitEvent(ctx, a, hasReal); err != nil {
			t.Fatalf("the real peer's addresses never reached the node: %v", err)
		}
		if _, err := waitStats(ctx, a, func(s nodeStats) bool { return s.has(realID) && s.connected(realID) }); err != nil {
			t.Fatalf("the real peer was not connected: %v", err)
		}
		checkAddrs := func(when string) {
			t.Helper()
			evs := append(eventsOf(a, realID, "found"), eventsOf(a, realID, "updated")...)
			slices.SortFunc(evs, func(x, y nodeEvent) int { return int((x.T - y.T) * 1e6) })
			if last := evs[len(evs)-1]; !hasReal(last) {
				t.Errorf("%s: the node's addresses of %s are %v: the real peer's (%s…) were displaced", when, node.Short(realID), last.Addrs, realAddr)
			}
		}
		checkAddrs("real peer joined")

		// 3. The impostor re-announces (a new instance: goodbye, then a
		// fresh announcement) while the real peer is connected.
		imp.Stop(5 * time.Second)
		announceImpostor()
		s, err = nextStats(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		s, err = waitStats(ctx, a, func(x nodeStats) bool { return x.T >= s.T+4 })
		if err != nil {
			t.Fatal(err)
		}
		checkAddrs("impostor re-announced")
		nothingLost(t, s, realID)
		if n := len(eventsOf(a, realID, "dial_failed")); n > 2 || s.Metrics.Dialer.Attempts > 3 {
			t.Errorf("%d dial_failed events and %d attempts for the stolen ID: a dial loop", n, s.Metrics.Dialer.Attempts)
		}
		t.Logf("stolen ID: %d attempts in all, failures %v", s.Metrics.Dialer.Attempts, s.Metrics.Dialer.Failures)
	})
	if r == nil {
		t.Fatal("the real peer never started")
	}
	a.Watch(realID)

	self := nt.Host(3).V4.Addr().String()
	if err := nt.AddAddr(3, offLinkSrc); err != nil {
		t.Fatal(err)
	}
	onLink, _ := udp4In(t, nt, 3, self+":5353", 255)
	ttl64, _ := udp4In(t, nt, 3, self+":5353", 64)
	offLink, _ := udp4In(t, nt, 3, offLinkSrc.Addr().String()+":5353", 255)
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	fakes, err := flood.NewFakePeers(flood.FakePeerConfig{Templates: 1, Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, mdns.MaxPacketSize)

	// spoofCase sends 5 copies of pkt on conn to the mDNS group and waits
	// for the node's counter to rise by 5; then it checks that nothing of
	// it became a peer, and that the same announcement sent correctly
	// (on-link, TTL 255, port 5353) is accepted: the drops are due to the
	// spoofed property, not to the packet.
	spoofCase := func(t *testing.T, conn *ipv4.PacketConn, pkt []byte, counter func(nodeStats) uint64, valid []byte) {
		t.Helper()
		ids := candidateIDs(t, pkt)
		before, err := nextStats(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if _, err := conn.WriteTo(pkt, nil, mdnsGroup); err != nil {
				t.Fatal(err)
			}
		}
		after, err := waitStats(ctx, a, func(s nodeStats) bool { return counter(s) >= counter(before)+5 })
		if err != nil {
			t.Fatalf("the drops were not counted: %v", err)
		}
		if d := counter(after) - counter(before); d != 5 {
			t.Errorf("counter rose by %d, want 5", d)
		}
		for _, id := range ids {
			if after.has(id) || after.Metrics.PeersDiscovered != before.Metrics.PeersDiscovered {
				t.Errorf("spoofed peer %s accepted", node.Short(id))
			}
		}
		if valid != nil {
			want := candidateIDs(t, valid)[0]
			if _, err := onLink.WriteTo(valid, nil, mdnsGroup); err != nil {
				t.Fatal(err)
			}
			if _, err := waitStats(ctx, a, func(s nodeStats) bool { return s.has(want) }); err != nil {
				t.Errorf("control: the same announcement sent correctly was not accepted: %v", err)
			}
		}
		s, err := nextStats(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		nothingLost(t, s, realID)
	}
	fresh := func() []byte { return append([]byte(nil), fakes.Next(buf)...) }

	t.Run("TTL", func(t *testing.T) {
		p := fresh()
		spoofCase(t, ttl64, p, func(s nodeStats) uint64 { return s.Metrics.Browser.DroppedTTL }, p)
	})
	t.Run("OffLink", func(t *testing.T) {
		p := fresh()
		spoofCase(t, offLink, p, func(s nodeStats) uint64 { return s.Metrics.Browser.DroppedOffLink }, p)
	})
	t.Run("MismatchedID", func(t *testing.T) {
		// One TXT record whose dnsaddrs name two different peers.
		id1, id2 := testkit.ID(t, 2), testkit.ID(t, 3)
		p := mismatched(t, id1, id2, self)
		spoofCase(t, onLink, p, func(s nodeStats) uint64 { return s.Metrics.Browser.DroppedMalformed }, nil)
		s, err := nextStats(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if s.has(id1.String()) || s.has(id2.String()) {
			t.Error("a peer of the mismatched record was accepted")
		}
	})
}

// writeKey writes the real peer's identity (testkit.Key 1, which the
// impostor steals) and returns its file and peer ID.
func writeKey(t *testing.T) (string, string) {
	t.Helper()
	raw, err := crypto.MarshalPrivateKey(testkit.Key(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "real.key")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, testkit.ID(t, 1).String()
}

// candidateIDs returns the IDs the decoder reads in pkt, or, when it
// rejects them, the IDs named by its dnsaddrs.
func candidateIDs(t *testing.T, pkt []byte) []string {
	t.Helper()
	m, err := mdns.Parse(pkt)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false).Candidates {
		ids = append(ids, c.ID.String())
	}
	return ids
}

// mismatched is a go-libp2p style announcement whose TXT names id1 in one
// dnsaddr and id2 in the other.
func mismatched(t *testing.T, id1, id2 peer.ID, ip string) []byte {
	t.Helper()
	name := mdns.NewPeerName(nil)
	inst := mdns.InstanceName(name, mdns.SpecService)
	m := new(dns.Msg)
	m.Response, m.Authoritative = true, true
	m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: mdns.SpecService, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4500}, Ptr: inst}}
	m.Extra = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeTXT, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: 4500}, Txt: []string{
		fmt.Sprintf("dnsaddr=/ip4/%s/tcp/4001/p2p/%s", ip, id1), fmt.Sprintf("dnsaddr=/ip4/%s/tcp/4002/p2p/%s", ip, id2),
	}}}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
