package mdns_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/mdns"
)

type seenPeer struct {
	addrs   map[string]bool
	goodbye bool
	flav    map[string]bool
}

// decodeCapture runs every datagram of a capture through Parse, Classify and
// Decode, and returns per peer ID the union of multiaddrs (with /p2p/<id>,
// as the sidecars list them) and whether a goodbye was seen.
func decodeCapture(t *testing.T, path string) map[string]*seenPeer {
	t.Helper()
	dgs, st, err := pcapread.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Incomplete > 0 {
		t.Logf("%s: %d fragments never completed", filepath.Base(path), st.Incomplete)
	}
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	peers := map[string]*seenPeer{}
	instanceID := map[string]string{}
	for _, dg := range dgs {
		m, err := mdns.Parse(dg.Packet.Data)
		if err != nil {
			t.Fatalf("frame %d: %v", dg.Frame, err)
		}
		kind, err := mdns.Classify(m)
		if err != nil {
			t.Fatalf("frame %d: %v", dg.Frame, err)
		}
		if kind != mdns.KindResponse && kind != mdns.KindGoodbye {
			continue
		}
		res := dec.Decode(m, false)
		for _, r := range res.Rejected {
			t.Errorf("frame %d: rejected %s: %v", dg.Frame, r.Instance, r.Err)
		}
		for _, c := range res.Candidates {
			id := c.ID.String()
			p := peers[id]
			if p == nil {
				p = &seenPeer{addrs: map[string]bool{}, flav: map[string]bool{}}
				peers[id] = p
			}
			instanceID[strings.ToLower(c.Instance)] = id
			for _, a := range c.Addrs {
				p.addrs[a.String()+"/p2p/"+id] = true
			}
			if c.TTL > 0 { // a goodbye zeroes every TTL: its layout tells go and discovery apart no more
				p.flav[c.Flavour.String()] = true
			}
			if c.TTL == 0 {
				p.goodbye = true
			}
		}
		for _, inst := range res.Withdrawn {
			if id, ok := instanceID[inst]; ok {
				peers[id].goodbye = true
			}
		}
	}
	return peers
}

func captures(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../testdata/pcap/*.pcap")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in testdata/pcap: %v", err)
	}
	return files
}

// TestCapturesDecodeExpectedPeers checks, for every real capture, that the
// decoder finds exactly the peers and multiaddrs its sidecar lists.
func TestCapturesDecodeExpectedPeers(t *testing.T) {
	for _, path := range captures(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".pcap")
		t.Run(name, func(t *testing.T) {
			sc, err := pcapread.ReadSidecar(path)
			if err != nil {
				t.Fatal(err)
			}
			found, lost := map[string]map[string]bool{}, map[string]bool{}
			for id, g := range decodeCapture(t, path) {
				found[id], lost[id] = g.addrs, g.goodbye
			}
			asWire := func(p pcapread.ExpectedPeer) ([]string, error) { return p.Multiaddrs, nil }
			for _, m := range sc.Mismatches(found, lost, asWire, true) {
				t.Error(m)
			}
			t.Logf("%d peers as expected", len(sc.Expected.Peers))
		})
	}
}

// TestCaptureFlavours checks the flavour detection on captures of one
// implementation each.
func TestCaptureFlavours(t *testing.T) {
	cases := map[string]string{
		"d_golibp2p_two_nodes":     "go",
		"g2_golibp2p_many_addrs":   "go",
		"e2_jslibp2p_two_nodes":    "js",
		"r1_rustlike_two_nodes":    "rust",
		"r4_rustlike_ipv6":         "rust",
		"s1_rustlibp2p_two_nodes":  "rust",
		"s2_rustlibp2p_many_addrs": "rust",
		// py-libp2p: go's layout (PTR, SRV, one TXT, A) with
		// python-zeroconf's RFC 6762 §10 TTLs, as ours (see
		// FlavourDiscovery); its numbered keys (dnsaddr2=) when it
		// announces several addresses make it go.
		"y1_pylibp2p_two_nodes":      "discovery",
		"y2_pylibp2p_many_addrs":     "go",
		"c_python_zeroconf":          "dnssd",
		"a_avahi_announce_goodbye":   "dnssd",
		"g3_avahi_many_instances_tc": "dnssd",
		"o1_discovery_two_nodes":     "discovery",
		"o4_many_addrs":              "discovery",
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			got := decodeCapture(t, "../testdata/pcap/"+name+".pcap")
			if len(got) == 0 {
				t.Fatal("no peers")
			}
			for id, p := range got {
				if len(p.flav) != 1 || !p.flav[want] {
					t.Errorf("peer %s: flavours %v, want only %s", id, p.flav, want)
				}
			}
		})
	}
}

// TestCapturesFilterKeepsRelevant checks that the prefilter passes every
// datagram that decodes into a candidate (no false negatives on real data).
func TestCapturesFilterKeepsRelevant(t *testing.T) {
	f := mdns.NewFilter(mdns.FilterLabels(mdns.SpecService, mdns.MetaQuery)...)
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	for _, path := range captures(t) {
		dgs, _, err := pcapread.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, dg := range dgs {
			m, err := mdns.Parse(dg.Packet.Data)
			if err != nil {
				t.Fatal(err)
			}
			if res := dec.Decode(m, true); len(res.Candidates) > 0 && !f.Match(dg.Packet.Data) {
				t.Errorf("%s frame %d: filter dropped a packet with %d candidates", filepath.Base(path), dg.Frame, len(res.Candidates))
			}
		}
	}
}
