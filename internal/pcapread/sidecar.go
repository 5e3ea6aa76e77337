package pcapread

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
)

// Sidecar is the part of a capture's sidecar (<name>.json beside
// <name>.pcap, see testdata/pcap/README.md) that the tests check against.
type Sidecar struct {
	Expected struct {
		Peers []ExpectedPeer `json:"peers"`
	} `json:"expected"`
}

// ExpectedPeer is one libp2p peer a browser should find in a capture.
type ExpectedPeer struct {
	PeerID   string `json:"peer_id"`
	Instance string `json:"instance"`
	// Multiaddrs are the dnsaddr strings on the wire, with /p2p/<id>.
	Multiaddrs []string `json:"multiaddrs"`
	// Goodbye is set when a TTL-0 TXT record withdraws the peer.
	Goodbye bool `json:"goodbye"`
}

// ReadSidecar reads the sidecar of the capture at pcapPath.
func ReadSidecar(pcapPath string) (*Sidecar, error) {
	raw, err := os.ReadFile(strings.TrimSuffix(pcapPath, ".pcap") + ".json")
	if err != nil {
		return nil, err
	}
	var sc Sidecar
	if err := json.Unmarshal(raw, &sc); err != nil {
		return nil, fmt.Errorf("pcapread: sidecar of %s: %w", pcapPath, err)
	}
	return &sc, nil
}

// BrowserAddrs returns the multiaddrs a browser with the default address
// rules reports for p: without the /p2p/<id> suffix, loopback addresses
// dropped (no captured packet came from loopback), IPv6 link-local ones
// with the receiving interface's zone.
func (p ExpectedPeer) BrowserAddrs(zone string) ([]string, error) {
	var out []string
	for _, s := range p.Multiaddrs {
		a, err := ma.NewMultiaddr(strings.TrimSuffix(s, "/p2p/"+p.PeerID))
		if err != nil {
			return nil, fmt.Errorf("pcapread: sidecar multiaddr %q: %w", s, err)
		}
		var ip netip.Addr
		if c := a[0]; c.Code() == ma.P_IP4 || c.Code() == ma.P_IP6 {
			ip, _ = netip.AddrFromSlice(c.RawValue())
		}
		switch {
		case ip.IsLoopback():
		case ip.Is6() && ip.IsLinkLocalUnicast():
			out = append(out, "/ip6zone/"+zone+a.String())
		default:
			out = append(out, a.String())
		}
	}
	return out, nil
}

// Mismatches compares what was found (peer ID → set of addresses, and the
// peers reported lost or withdrawn) with the sidecar; addrs gives the
// expected addresses of a peer in the form found uses. A peer that said
// goodbye must be lost; with exactGoodbye, a lost peer must also have said
// goodbye. It returns one line per difference, nil when all match.
func (s *Sidecar) Mismatches(found map[string]map[string]bool, lost map[string]bool, addrs func(ExpectedPeer) ([]string, error), exactGoodbye bool) []string {
	var out []string
	expected := map[string]bool{}
	for _, p := range s.Expected.Peers {
		expected[p.PeerID] = true
		want, err := addrs(p)
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		var have []string
		for a := range found[p.PeerID] {
			have = append(have, a)
		}
		sort.Strings(want)
		sort.Strings(have)
		if !slices.Equal(want, have) {
			out = append(out, fmt.Sprintf("peer %s:\n got %v\nwant %v", p.PeerID, have, want))
		}
		if p.Goodbye && !lost[p.PeerID] {
			out = append(out, fmt.Sprintf("peer %s said goodbye but was not lost", p.PeerID))
		}
		if exactGoodbye && !p.Goodbye && lost[p.PeerID] {
			out = append(out, fmt.Sprintf("peer %s was lost without a goodbye", p.PeerID))
		}
	}
	var extra []string
	for id := range found {
		if !expected[id] {
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	for _, id := range extra {
		out = append(out, "unexpected peer "+id)
	}
	return out
}
