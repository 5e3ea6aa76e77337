package sniff_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chorus-services/discovery/internal/malformed"
	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/internal/sniff"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// TestSniffCaptures: over every capture, the sniffer classifies each packet
// and reports every peer the sidecar expects, in both output formats.
func TestSniffCaptures(t *testing.T) {
	caps, err := pcapread.ReadDir("../../testdata/pcap")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		dgs := c.Datagrams
		s := sniff.New(mdns.SpecService)
		var table, js bytes.Buffer
		tp, jp := sniff.NewPrinter(&table, false), sniff.NewPrinter(&js, true)
		peers := map[string]bool{}
		kinds := map[string]int{}
		for _, d := range dgs {
			p := transport.Packet(d.Packet)
			r := s.Describe(&p, d.Time.Sub(dgs[0].Time), "br0")
			kinds[r.Kind]++
			if r.Kind == "malformed" || r.Kind == "invalid" {
				t.Errorf("%s frame %d: %s", c.Name, d.Frame, r.Error)
			}
			if r.Kind == "response" || r.Kind == "goodbye" {
				for _, p := range r.Peers {
					peers[p.ID] = true
				}
			}
			if err := tp.Print(&r); err != nil {
				t.Fatal(err)
			}
			if err := jp.Print(&r); err != nil {
				t.Fatal(err)
			}
		}
		lines := strings.Split(strings.TrimSpace(js.String()), "\n")
		if len(lines) != len(dgs) {
			t.Errorf("%d JSON lines for %d datagrams", len(lines), len(dgs))
		}
		for _, l := range lines {
			var r sniff.Report
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("bad JSON line %q: %v", l, err)
			}
		}
		for id := range peers {
			if !strings.Contains(table.String(), id) {
				t.Errorf("table lacks peer %s", id)
			}
		}
		if kinds["query"]+kinds["probe"] == 0 || kinds["response"]+kinds["goodbye"] == 0 {
			t.Errorf("%s: kinds %v", c.Name, kinds)
		}
		t.Logf("%s: %v, %d peers", c.Name, kinds, len(peers))
	}
}

func TestSniffMalformed(t *testing.T) {
	s := sniff.New(mdns.SpecService)
	for _, c := range malformed.Cases() {
		p := transport.Packet{Data: c.Data}
		r := s.Describe(&p, 0, "")
		if !c.Parse && r.Kind != "malformed" {
			t.Errorf("%s: kind %s", c.Name, r.Kind)
		}
		if len(r.Peers) != 0 {
			t.Errorf("%s: peers %v", c.Name, r.Peers)
		}
	}
}

// TestSniffOtherService: a custom service is decoded from its PTR without
// being configured.
func TestSniffOtherService(t *testing.T) {
	dgs, _, err := pcapread.ReadFile("../../testdata/pcap/d_golibp2p_two_nodes.pcap")
	if err != nil {
		t.Fatal(err)
	}
	s := sniff.New() // no configured service
	n := 0
	for _, d := range dgs {
		p := transport.Packet(d.Packet)
		r := s.Describe(&p, 0, "")
		n += len(r.Peers)
	}
	if n == 0 {
		t.Fatal("no peers without a configured service")
	}
}
