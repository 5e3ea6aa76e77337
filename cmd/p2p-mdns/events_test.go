package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

const testPeerID = "12D3KooWMxqzRsw4HnxR6p53QLxNWYC4EMMxgPAP65SGJ2SXjQte"

// TestEventWriterJSON pins the stable event format: key order, addrs never
// null, flavour never empty, file, error and reason only when set; lost
// carries the last known addresses and flavour.
func TestEventWriterJSON(t *testing.T) {
	id, err := peer.Decode(testPeerID)
	if err != nil {
		t.Fatal(err)
	}
	a := ma.StringCast("/ip4/198.51.100.11/tcp/4001")
	var b bytes.Buffer
	w := newEventWriter(&b, true, true)
	for _, ev := range []peerEvent{
		newEvent(evFound, id, []ma.Multiaddr{a}, "go", 1.5),
		newEvent(evSelf, id, nil, flavourOurs, 0),
		func() peerEvent {
			ev := newEvent(evDialFailed, id, nil, "", 2)
			ev.Error, ev.Reason = "no route", "unreachable"
			return ev
		}(),
		newEvent(evLost, id, nil, "", 3),
	} {
		if err := w.emit(ev); err != nil {
			t.Fatal(err)
		}
	}
	w.file = "x.pcap"
	if err := w.emit(newEvent(evConnected, id, []ma.Multiaddr{a}, "", 0.000123)); err != nil {
		t.Fatal(err)
	}
	if err := w.comment("ignored in JSON mode"); err != nil {
		t.Fatal(err)
	}
	want := `{"event":"found","id":"` + testPeerID + `","addrs":["/ip4/198.51.100.11/tcp/4001"],"flavour":"go","t":1.5}
{"event":"self","id":"` + testPeerID + `","addrs":[],"flavour":"discovery","t":0}
{"event":"dial_failed","id":"` + testPeerID + `","addrs":[],"flavour":"go","t":2,"error":"no route","reason":"unreachable"}
{"event":"lost","id":"` + testPeerID + `","addrs":["/ip4/198.51.100.11/tcp/4001"],"flavour":"go","t":3}
{"event":"connected","id":"` + testPeerID + `","addrs":["/ip4/198.51.100.11/tcp/4001"],"flavour":"unknown","t":0.000123,"file":"x.pcap"}
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestEventWriterTable(t *testing.T) {
	id, _ := peer.Decode(testPeerID)
	addrs := []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/1"), ma.StringCast("/ip6/::1/tcp/2"), ma.StringCast("/ip4/1.2.3.4/udp/1/quic-v1"), ma.StringCast("/ip6/::2/tcp/2")}
	for _, short := range []bool{false, true} {
		var b bytes.Buffer
		w := newEventWriter(&b, false, short)
		w.comment("file %s", "a.pcap")
		w.emit(newEvent(evUpdated, id, addrs, "js", 12.3456))
		ev := newEvent(evDialFailed, id, nil, "", 3)
		ev.Reason, ev.Error = "unreachable", "failed to dial: all dials failed\n  * [/ip4/1.2.3.4/tcp/1] dial tcp4 1.2.3.4:1: connect: connection refused"
		w.emit(ev)
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 4 || lines[0] != "# file a.pcap" || strings.Fields(lines[1])[1] != "EVENT" {
			t.Fatalf("short %v: lines %q", short, lines)
		}
		f := strings.Fields(lines[2])
		wantID, wantAddrs := testPeerID, []string{"/ip4/1.2.3.4/tcp/1", "/ip6/::1/tcp/2", "/ip4/1.2.3.4/udp/1/quic-v1", "/ip6/::2/tcp/2"}
		if short {
			// IPv4 first, then TCP: the likeliest to be dialled.
			wantID, wantAddrs = "12D3…SXjQte", []string{"/ip4/1.2.3.4/tcp/1", "/ip4/1.2.3.4/udp/1/quic-v1", "(+2", "more,", "--wide)"}
		}
		if f[0] != "12.346" || f[1] != "updated" || f[2] != wantID || f[3] != "js" || strings.Join(f[4:], " ") != strings.Join(wantAddrs, " ") {
			t.Errorf("short %v: table line %q", short, lines[2])
		}
		if !strings.Contains(lines[3], "dial_failed") || !strings.Contains(lines[3], "  js  ") || !strings.Contains(lines[3], "cause: unreachable (connection refused)") ||
			strings.Contains(lines[3], "error=") == short {
			t.Errorf("short %v: table line %q", short, lines[3])
		}
	}
}
