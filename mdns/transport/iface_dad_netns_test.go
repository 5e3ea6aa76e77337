//go:build linux

package transport_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// TestTentativeIPv6NotUsed: an IPv6 address under duplicate address
// detection (RFC 4862 §5.4; sends from it fail with EADDRNOTAVAIL) is not
// listed until detection ends, and the Watcher reports it added then, so
// that the responder probes and announces on IPv6 only once it can. After
// a link flap the only IPv6 address left, the link-local one, is tentative:
// the IPv6 group is not joined until it is usable.
func TestTentativeIPv6NotUsed(t *testing.T) {
	n := leakCheckedLAN(t, 1)
	p := listenIn(t, n, 1, transport.Config{Interfaces: []string{netns.LinkName}})
	lan := func() transport.Interface {
		t.Helper()
		ifs := p.c.Interfaces()
		if len(ifs) != 1 {
			t.Fatalf("Interfaces %+v", ifs)
		}
		return ifs[0]
	}
	extra := netip.MustParsePrefix("2001:db8:53::77/64")
	if err := n.AddAddr(1, extra); err != nil {
		t.Fatal(err)
	}
	added := time.Now()
	if err := p.c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(lan().Prefixes, extra) {
		t.Fatalf("tentative %v listed %v after it was added", extra, time.Since(added))
	}
	if err := n.WaitReady(1); err != nil {
		t.Fatal(err)
	}
	if err := p.c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(lan().Prefixes, extra) {
		t.Fatalf("%v not listed after duplicate address detection: %v", extra, lan().Prefixes)
	}
	t.Logf("listed once usable, %v after it was added", time.Since(added).Round(time.Millisecond))

	// A link flap flushes the static IPv6 addresses; the link-local one
	// comes back tentative.
	if err := n.SetLinkUp(1, false); err != nil {
		t.Fatal(err)
	}
	if err := n.SetLinkUp(1, true); err != nil {
		t.Fatal(err)
	}
	if err := p.c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if l := lan(); !l.V4 || l.V6 {
		t.Fatalf("right after link up: %+v, want IPv4 joined and IPv6 not (its only address is tentative)", l)
	}
	if err := n.WaitReady(1); err != nil {
		t.Fatal(err)
	}
	if err := p.c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if l := lan(); !l.V4 || !l.V6 {
		t.Fatalf("after detection: %+v, want both families joined", l)
	}
}
