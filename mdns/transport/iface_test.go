package transport

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
)

// These tests need no sockets and run everywhere.

func mustPrefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func testListing() []Interface {
	return []Interface{
		{Index: 1, Name: "lo", MTU: 65536, Up: true, Loopback: true, Prefixes: mustPrefixes("127.0.0.1/8", "::1/128")},
		{Index: 2, Name: "eth0", MTU: 1500, Up: true, Multicast: true, Prefixes: mustPrefixes("192.0.2.10/24", "fe80::1/64")},
		{Index: 3, Name: "wlan0", MTU: 1500, Up: false, Multicast: true},
		{Index: 4, Name: "tun0", MTU: 1400, Up: true, Prefixes: mustPrefixes("10.8.0.2/24")},
		{Index: 5, Name: "eth1", MTU: 9000, Up: true, Multicast: true, Prefixes: mustPrefixes("fe80::2/64")},
	}
}

func names(ifs []Interface) []string {
	var out []string
	for _, ifc := range ifs {
		out = append(out, ifc.Name)
	}
	return out
}

func TestSelectInterfaces(t *testing.T) {
	all := testListing()
	for _, tc := range []struct {
		name     string
		names    []string
		loopback bool
		want     []string
		err      error
	}{
		{name: "default", want: []string{"eth0", "eth1"}},
		{name: "with loopback", loopback: true, want: []string{"lo", "eth0", "eth1"}},
		{name: "named, down included", names: []string{"wlan0", "tun0"}, want: []string{"wlan0", "tun0"}},
		{name: "named loopback", names: []string{"lo"}, want: []string{"lo"}},
		{name: "unknown", names: []string{"eth0", "eth7"}, err: ErrNoInterface},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectInterfaces(all, tc.names, tc.loopback, true)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(names(got), tc.want) {
				t.Fatalf("got %v, %v; want %v", names(got), err, tc.want)
			}
		})
	}
	// The result is a copy.
	got, _ := selectInterfaces(all, nil, false, true)
	got[0].Prefixes[0] = netip.MustParsePrefix("0.0.0.0/0")
	if all[1].Prefixes[0] != netip.MustParsePrefix("192.0.2.10/24") {
		t.Fatal("selectInterfaces shares Prefixes with its input")
	}
	// Not strict: unknown names are left out silently.
	got, err := selectInterfaces(all, []string{"eth7", "eth0"}, false, false)
	if err != nil || !slices.Equal(names(got), []string{"eth0"}) {
		t.Fatalf("lenient: %v, %v", names(got), err)
	}
}

func TestValidate(t *testing.T) {
	for _, cfg := range []Config{
		{DisableIPv4: true, DisableIPv6: true},
		{Interfaces: []string{""}},
		{Interfaces: []string{"eth0", "eth0"}},
		{QueueLen: -1},
		{PollInterval: -1},
	} {
		if err := cfg.setDefaults(); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	in := []string{"eth0"}
	cfg := Config{Interfaces: in}
	err := cfg.setDefaults()
	if err != nil || cfg.Logger == nil {
		t.Fatalf("%+v %v", cfg, err)
	}
	in[0] = "changed"
	if cfg.Interfaces[0] != "eth0" {
		t.Fatal("validate did not copy Interfaces")
	}
	if _, err := NewWatcher(WatcherConfig{Interfaces: []string{""}}); err == nil {
		t.Error("NewWatcher accepted an empty name")
	}
}

func TestWantJoin(t *testing.T) {
	all := testListing()
	for _, tc := range []struct {
		idx            int
		named, v4, out bool
	}{
		{idx: 2, v4: true, out: true},
		{idx: 2, v4: false, out: true},              // link-local suffices
		{idx: 3, v4: true, named: true, out: false}, // down
		{idx: 4, v4: true, out: false},              // no multicast flag
		{idx: 4, v4: true, named: true, out: true},  // named: tried anyway
		{idx: 5, v4: true, out: false},              // no IPv4 address
		{idx: 1, v4: true, out: true},               // loopback
	} {
		ifc := all[slices.IndexFunc(all, func(i Interface) bool { return i.Index == tc.idx })]
		if got := wantJoin(&ifc, tc.v4, tc.named); got != tc.out {
			t.Errorf("%s v4=%v named=%v: %v, want %v", ifc.Name, tc.v4, tc.named, got, tc.out)
		}
	}
}

func TestToInterface(t *testing.T) {
	ifi := &net.Interface{Index: 7, Name: "en0", MTU: 1500, Flags: net.FlagUp | net.FlagMulticast}
	addrs := []net.Addr{
		&net.IPNet{IP: net.ParseIP("fe80::1"), Mask: net.CIDRMask(64, 128)},
		&net.IPNet{IP: net.ParseIP("192.0.2.1"), Mask: net.CIDRMask(120, 128)}, // 16-byte form
		&net.IPNet{IP: net.ParseIP("192.0.2.2").To4(), Mask: net.CIDRMask(24, 32)},
		&net.IPAddr{IP: net.ParseIP("2001:db8::1")},
	}
	ifc := toInterface(ifi, addrs)
	want := mustPrefixes("192.0.2.1/24", "192.0.2.2/24", "2001:db8::1/128", "fe80::1/64")
	if !slices.Equal(ifc.Prefixes, want) {
		t.Fatalf("prefixes %v, want %v", ifc.Prefixes, want)
	}
	if !ifc.Up || !ifc.Multicast || ifc.Loopback || ifc.Index != 7 || ifc.MTU != 1500 {
		t.Fatalf("%+v", ifc)
	}
	back := netInterface(&ifc)
	if back.Index != 7 || back.Flags != ifi.Flags {
		t.Fatalf("netInterface %+v", back)
	}
}

func TestOnLinkAndMaxPayload(t *testing.T) {
	eth := testListing()[1]
	for a, want := range map[string]bool{
		"192.0.2.77":        true,
		"::ffff:192.0.2.77": true,
		"198.51.100.1":      false,
		"fe80::99":          true,
		"fe80::99%eth0":     true,
		"2001:db8::1":       false,
		"127.0.0.1":         false,
		"ff02::fb":          false,
	} {
		if got := eth.OnLink(netip.MustParseAddr(a)); got != want {
			t.Errorf("OnLink(%s) = %v", a, got)
		}
	}
	lo := testListing()[0]
	if !lo.OnLink(netip.MustParseAddr("198.51.100.11")) {
		t.Error("a LAN source on a loopback interface (this host's own packet) off-link")
	}
	if !lo.OnLink(netip.MustParseAddr("127.0.0.5")) {
		t.Error("loopback not on-link on lo")
	}
	if got := eth.MaxPayload(true); got != 1472 {
		t.Errorf("MaxPayload v4 = %d", got)
	}
	if got := eth.MaxPayload(false); got != 1452 {
		t.Errorf("MaxPayload v6 = %d", got)
	}
	if got := (&Interface{}).MaxPayload(false); got != 1452 {
		t.Errorf("MaxPayload unknown MTU = %d", got)
	}
	if got := eth.Addrs(true); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("192.0.2.10")}) {
		t.Errorf("Addrs v4 = %v", got)
	}
}

func TestZoneIndexAndAddrPort(t *testing.T) {
	if zoneIndex("") != 0 || zoneIndex("12") != 12 || zoneIndex("no-such-interface-x") != 0 {
		t.Error("zoneIndex")
	}
	ap, zone := addrPortOf(&net.UDPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 5353})
	if ap != netip.MustParseAddrPort("192.0.2.1:5353") || zone != "" {
		t.Errorf("mapped: %v %q", ap, zone)
	}
	ap, zone = addrPortOf(&net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 5353, Zone: "3"})
	if ap != netip.MustParseAddrPort("[fe80::1]:5353") || zone != "3" {
		t.Errorf("zoned: %v %q", ap, zone)
	}
}

func TestProblemString(t *testing.T) {
	p := Problem{Interface: "eth0", Family: "ipv6", Step: "join", Err: errors.New("boom")}
	if got := p.String(); got != "ipv6 join on eth0: boom" {
		t.Errorf("%q", got)
	}
}
