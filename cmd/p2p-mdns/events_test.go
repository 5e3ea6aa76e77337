package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

const testPeerID = "12D3KooWMxqzRsw4HnxR6p53QLxNWYC4EMMxgPAP65SGJ2SXjQte"

// TestEventWriterJSON pins the stable event format: key order, addrs never
// null, file and error only when set.
func TestEventWriterJSON(t *testing.T) {
	id, err := peer.Decode(testPeerID)
	if err != nil {
		t.Fatal(err)
	}
	a := ma.StringCast("/ip4/198.51.100.11/tcp/4001")
	var b bytes.Buffer
	w := newEventWriter(&b, true)
	if err := w.emit(evFound, id, []ma.Multiaddr{a}, "go", 1.5); err != nil {
		t.Fatal(err)
	}
	if err := w.emit(evSelf, id, nil, "", 0); err != nil {
		t.Fatal(err)
	}
	if err := w.emitError(evDialFailed, id, nil, "rust", 2, errors.New("no route")); err != nil {
		t.Fatal(err)
	}
	w.file = "x.pcap"
	if err := w.emit(evLost, id, []ma.Multiaddr{a}, "dnssd", 0.000123); err != nil {
		t.Fatal(err)
	}
	if err := w.header("ignored in JSON mode"); err != nil {
		t.Fatal(err)
	}
	want := `{"event":"found","id":"` + testPeerID + `","addrs":["/ip4/198.51.100.11/tcp/4001"],"flavour":"go","t":1.5}
{"event":"self","id":"` + testPeerID + `","addrs":[],"flavour":"","t":0}
{"event":"dial_failed","id":"` + testPeerID + `","addrs":[],"flavour":"rust","t":2,"error":"no route"}
{"event":"lost","id":"` + testPeerID + `","addrs":["/ip4/198.51.100.11/tcp/4001"],"flavour":"dnssd","t":0.000123,"file":"x.pcap"}
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestEventWriterTable(t *testing.T) {
	id, _ := peer.Decode(testPeerID)
	var b bytes.Buffer
	w := newEventWriter(&b, false)
	w.header("file %s", "a.pcap")
	w.emit(evUpdated, id, []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/1"), ma.StringCast("/ip6/::1/tcp/2")}, "js", 12.3456)
	w.emitError(evDialFailed, id, nil, "", 3, errors.New("boom"))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "# file a.pcap" {
		t.Fatalf("lines %q", lines)
	}
	if f := strings.Fields(lines[1]); len(f) != 6 || f[0] != "12.346" || f[1] != "updated" || f[2] != testPeerID || f[3] != "js" || f[4] != "/ip4/1.2.3.4/tcp/1" || f[5] != "/ip6/::1/tcp/2" {
		t.Errorf("table line %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) != 5 || f[1] != "dial_failed" || f[3] != "-" || f[4] != `error="boom"` {
		t.Errorf("table line %q", lines[2])
	}
}
