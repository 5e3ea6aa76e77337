package main

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// TestBrowseFlags: invalid invocations exit 2 before any socket is opened.
func TestBrowseFlags(t *testing.T) {
	checkUsage(t, "browse", []usageCase{
		{"bad flag", []string{"--bogus"}, ""},
		{"bad service", []string{"--service", "a..b"}, ""},
		{"comma service", []string{"--service", "a,b"}, ""},
		{"no family", []string{"--ipv4=false", "--ipv6=false"}, "nothing to listen on"},
		{"negative duration", []string{"--duration", "-1s"}, "duration"},
		{"bad duration", []string{"--duration", "soon"}, "duration"},
		{"bad log level", []string{"--log-level", "loud"}, "log-level"},
		{"extra argument", []string{"extra"}, "unexpected"},
	}, "-duration")
}

// TestBrowseAnnounceNetns: `announce` in namespace 1 is found by `browse`
// in namespace 2 with its ID and addresses, and reported lost after the
// goodbyes announce sends when it is stopped; both exit cleanly.
func TestBrowseAnnounceNetns(t *testing.T) {
	setup := time.Now()
	nt := netns.New(t, 2)
	bin := peers.P2PMdns(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	h1 := nt.Host(1)
	v4 := "/ip4/" + h1.V4.Addr().String() + "/tcp/4001"
	v6 := "/ip6/" + h1.V6.Addr().String() + "/udp/4001/quic-v1"

	start := time.Now()
	br := peers.Start(t, "browse@h2", nt.Exec(t.Context(), 2, bin, "browse", "--json", "--iface", netns.LinkName, "--duration", "50s"))
	an := peers.Start(t, "announce@h1", nt.Exec(t.Context(), 1, bin, "announce", "--random", "--json", "--iface", netns.LinkName, "--addr", v4, "--addr", v6, "--duration", "50s"))
	self, err := an.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == evSelf })
	if err != nil {
		t.Fatalf("no self event: %v\n%s", err, an.Stderr())
	}
	id := self.Str("id")
	if got := self.Strs("addrs"); !slices.Equal(got, []string{v4, v6}) {
		t.Errorf("self addrs %v", got)
	}
	found, err := br.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == evFound && e.Str("id") == id })
	if err != nil {
		t.Fatalf("browse did not find %s: %v\nbrowse: %v\n%s", id, err, br.Events(), br.Stderr())
	}
	t.Logf("found after %s (build and namespace setup before that took %s)", time.Since(start).Round(time.Millisecond), start.Sub(setup).Round(time.Millisecond))
	got := found.Strs("addrs")
	slices.Sort(got)
	if want := []string{v4, v6}; !slices.Equal(got, want) {
		t.Errorf("found addrs %v, want %v", got, want)
	}
	if found.Str("flavour") == "" {
		t.Errorf("found without flavour: %v", found)
	}

	if err := an.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := an.Wait(ctx); err != nil {
		t.Errorf("announce: %v\n%s", err, an.Stderr())
	}
	if _, err := br.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == evLost && e.Str("id") == id }); err != nil {
		t.Fatalf("browse did not report the goodbye: %v\n%v", err, br.Events())
	}
	t.Logf("lost after %s", time.Since(start).Round(time.Millisecond))
	if err := br.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := br.Wait(ctx); err != nil {
		t.Errorf("browse: %v\n%s", err, br.Stderr())
	}
	for _, e := range br.Events() {
		if e.Str("id") != id {
			t.Errorf("unexpected event %v", e)
		}
	}
}

// TestBrowseEveryTagNetns: a peer announced under the library's default
// tag (CHORUS-peer-discovery, NewMDNSDiscovery with "") and one under
// go-libp2p's (_p2p._udp) are both listed by a plain `browse` (no
// --service), each with its tag; `browse --service _p2p._udp` lists only
// the second.
func TestBrowseEveryTagNetns(t *testing.T) {
	nt := netns.New(t, 3)
	bin := peers.P2PMdns(t)
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	tags := map[int]string{1: "CHORUS-peer-discovery", 2: "_p2p._udp"}
	ids := map[string]string{} // id → tag
	for i, tag := range tags {
		h := nt.Host(i)
		p := peers.Start(t, "announce@"+tag, nt.Exec(t.Context(), i, bin, "announce", "--json", "--iface", netns.LinkName, "--random",
			"--service", tag, "--addr", "/ip4/"+h.V4.Addr().String()+"/tcp/4001", "--duration", "40s"))
		ev := p.WaitSelf(t, ctx)
		ids[ev.Str("id")] = tag
	}
	time.Sleep(2 * time.Second) // both announced: idle peers that only answer
	all := peers.Start(t, "browse", nt.Exec(t.Context(), 3, bin, "browse", "--json", "--iface", netns.LinkName, "--duration", "30s"))
	only := peers.Start(t, "browse --service _p2p._udp", nt.Exec(t.Context(), 3, bin, "browse", "--json", "--iface", netns.LinkName, "--service", "_p2p._udp", "--duration", "30s"))
	start := time.Now()
	for id, tag := range ids {
		ev, err := all.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "found" && e.Str("id") == id })
		if err != nil {
			t.Fatalf("browse did not list the peer under %s: %v\n%s", tag, err, all.Stderr())
		}
		if ev.Str("tag") != tag {
			t.Errorf("peer under %s listed with tag %q", tag, ev.Str("tag"))
		}
		t.Logf("browse found the peer under %s after %v", tag, time.Since(start).Round(time.Millisecond))
	}
	if _, err := only.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "found" && ids[e.Str("id")] == "_p2p._udp" }); err != nil {
		t.Fatal(err)
	}
	for _, e := range only.Events() {
		if e.Str("event") == "found" && ids[e.Str("id")] == "CHORUS-peer-discovery" {
			t.Errorf("browse --service _p2p._udp listed the CHORUS-peer-discovery peer")
		}
	}
}
