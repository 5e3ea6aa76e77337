package transport

import (
	"log/slog"
	"net/netip"
	"slices"
	"testing"
)

// These tests need no sockets and run everywhere.

func TestDiffStates(t *testing.T) {
	p := netip.MustParsePrefix
	old := map[int]ifState{
		2: {name: "eth0", up: true, prefixes: []netip.Prefix{p("192.0.2.1/24"), p("fe80::1/64")}},
		3: {name: "eth1", up: true, prefixes: []netip.Prefix{p("198.51.100.1/24")}},
		4: {name: "wlan0", up: false},
	}
	next := map[int]ifState{
		2: {name: "eth0", up: true, prefixes: []netip.Prefix{p("192.0.2.1/24"), p("192.0.2.2/24")}},
		// 3 vanished
		4: {name: "wlan0", up: true, prefixes: []netip.Prefix{p("fe80::4/64")}},
		5: {name: "usb0", up: false, prefixes: []netip.Prefix{p("10.0.0.1/8")}},
	}
	got := diffStates(old, next)
	want := []Event{
		{Kind: AddrRemoved, IfIndex: 2, IfName: "eth0", Prefix: p("fe80::1/64")},
		{Kind: AddrAdded, IfIndex: 2, IfName: "eth0", Prefix: p("192.0.2.2/24")},
		{Kind: IfaceDown, IfIndex: 3, IfName: "eth1"},
		{Kind: AddrRemoved, IfIndex: 3, IfName: "eth1", Prefix: p("198.51.100.1/24")},
		{Kind: IfaceUp, IfIndex: 4, IfName: "wlan0"},
		{Kind: AddrAdded, IfIndex: 4, IfName: "wlan0", Prefix: p("fe80::4/64")},
		{Kind: AddrAdded, IfIndex: 5, IfName: "usb0", Prefix: p("10.0.0.1/8")},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%v\nwant\n%v", got, want)
	}
	if evs := diffStates(next, next); len(evs) != 0 {
		t.Fatalf("no change gave %v", evs)
	}
}

func TestWatcherFilterAndDropOldest(t *testing.T) {
	w := &Watcher{
		cfg:    WatcherConfig{Interfaces: []string{"eth0", "wlan0"}},
		log:    slog.New(slog.DiscardHandler),
		events: make(chan Event, 2),
	}
	st := w.states(testListing())
	if len(st) != 2 || st[2].name != "eth0" || st[3].name != "wlan0" || st[3].up {
		t.Fatalf("states %v, want eth0 and the down wlan0", st)
	}
	for i := 1; i <= 5; i++ {
		w.emit(Event{Kind: AddrAdded, IfIndex: i})
	}
	if d := w.Dropped(); d != 3 {
		t.Fatalf("Dropped %d, want 3", d)
	}
	if a, b := <-w.events, <-w.events; a.IfIndex != 4 || b.IfIndex != 5 {
		t.Fatalf("kept %d,%d, want the newest 4,5", a.IfIndex, b.IfIndex)
	}
	// Default selection: multicast non-loopback, up or down.
	w.cfg.Interfaces = nil
	if st := w.states(testListing()); len(st) != 3 || st[3].name != "wlan0" {
		t.Fatalf("default states %v", st)
	}
}
