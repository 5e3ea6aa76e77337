package faults

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/hardening/node"
	"github.com/chorus-services/discovery/internal/netns"
)

// TestIfaceDownUp takes node A's lan0 down for two seconds and up again, in
// a LAN of three `run` nodes, and checks exactly this:
//
//   - A never reports B and C lost: its browser cuts the records learnt on
//     an interface that goes down to a few seconds (RFC 6762 §10.3) instead
//     of flushing them, and a 2 s flap ends before; after the link comes
//     back A browses again without them in its known answers, and B and C
//     answer and renew them.
//   - B and C never report A lost and list it in every stats event: its
//     records' TTLs (120 s / 4500 s) run for longer than the outage, A could
//     send no goodbye on a link that is down, and nothing else (POOF,
//     RFC 6762 §10.5, needs unanswered queries over 10 s) removes them.
//   - After the link comes back A probes and announces again (RFC 6762 §8,
//     "link change": three more probes, at least two more announcements,
//     §8.1 and §8.3) and browses again (§5.2): B and C answer its query.
//     None of its sends fails: IPv6 is taken up
//     again only once the link-local address has passed duplicate address
//     detection.
//   - Linux flushes a static IPv6 address on administrative down
//     (keep_addr_on_down=0), so A's address set changes: B and C re-find A
//     with it (an `updated` event with A's IPv4 addresses only). When the
//     address comes back (as a network manager re-adds it), they update A
//     to its original full set.
//   - Nothing lost: all three list and are connected to each other.
func TestIfaceDownUp(t *testing.T) {
	nt, ctx := faultLAN(t, 3, 75*time.Second)
	all := meshed(t, ctx, nt, 1, 2, 3)
	a, b, c := all[0], all[1], all[2]
	full := lanAddrs(a.Addrs, nil)
	v6 := nt.Host(1).V6
	v4only := lanAddrs(a.Addrs, func(s string) bool { return strings.HasPrefix(s, "/ip6/") })
	ma, mb, mc := a.Mark(), b.Mark(), c.Mark()
	before := lastStats(t, ctx, a, 0)

	down := time.Now()
	if err := nt.SetLinkUp(1, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2*time.Second - time.Since(down)) // the outage itself, not an assertion
	// Sends may fail in the moment between link down and A hearing of it
	// (the kernel's news is asynchronous): failures count from here.
	outage := lastStats(t, ctx, a, ma)
	ma2 := a.Mark()
	if err := nt.SetLinkUp(1, true); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	if err := nt.WaitReady(1); err != nil {
		t.Fatal(err)
	}
	// Responses reach A again after the link comes back (B's and C's
	// answers to its query; the proof that they renewed B's and C's
	// records is below: nothing expires after the grace).
	after0, _ := waitFrom(t, ctx, a, ma2, "responses after link up", func(e node.Event) bool {
		return e.Str("event") == "stats" && counter(e, "metrics", "browser", "responses") >= counter(before, "metrics", "browser", "responses")+2
	})
	t.Logf("A's browser received responses again %v after link up", a.At(after0).Sub(up).Round(time.Millisecond))
	for _, o := range []*node.Node{b, c} {
		e, _ := waitFrom(t, ctx, o, map[*node.Node]int{b: mb, c: mc}[o], "updated A to its IPv4-only set", func(e node.Event) bool {
			return e.Str("event") == "updated" && e.Str("id") == a.ID && sameSet(e.Strs("addrs"), v4only)
		})
		t.Logf("%v re-found A (its IPv6 address flushed by the kernel) %v after link up", o, o.At(e).Sub(up).Round(time.Millisecond))
	}
	delta := func(e node.Event, k string) float64 {
		return counter(e, "metrics", "responder", k) - counter(before, "metrics", "responder", k)
	}
	after, _ := waitFrom(t, ctx, a, ma2, "stats with ≥ 3 more probes and ≥ 2 more announcements (RFC 6762 §8.1, §8.3)", func(e node.Event) bool {
		return e.Str("event") == "stats" && delta(e, "probes") >= 3 && delta(e, "announcements") >= 2
	})
	t.Logf("A re-probed and re-announced: %v probes, %v announcements since the flap", delta(after, "probes"), delta(after, "announcements"))
	// No send failed: IPv6 is used again only once its link-local address
	// has passed duplicate address detection (sends from a tentative one
	// fail with EADDRNOTAVAIL, which lost every IPv6 probe and announcement
	// after link up before mdns/transport left such addresses out).
	if d := counter(after, "metrics", "transport", "write_errors") - counter(outage, "metrics", "transport", "write_errors"); d != 0 {
		t.Errorf("%v sends failed after the flap:\n%s", d, node.Tail(a.Stderr(), 20))
	}

	// The address comes back: B and C see A's full set again.
	mb2, mc2 := b.Mark(), c.Mark()
	if err := nt.AddAddr(1, v6); err != nil {
		t.Fatal(err)
	}
	readd := time.Now()
	for _, o := range []*node.Node{b, c} {
		waitFrom(t, ctx, o, map[*node.Node]int{b: mb2, c: mc2}[o], "updated A to its full set", func(e node.Event) bool {
			return e.Str("event") == "updated" && e.Str("id") == a.ID && sameSet(e.Strs("addrs"), full)
		})
	}
	t.Logf("B and C updated A to its full set %v after its IPv6 address came back", time.Since(readd).Round(time.Millisecond))

	// A's peers outlive the grace: renewed, not merely not yet expired.
	time.Sleep(6 * time.Second) // beyond the 5 s grace, not an assertion of timing
	keptThroughout(t, a, ma, b.ID, c.ID)
	keptThroughout(t, b, mb, a.ID, c.ID)
	keptThroughout(t, c, mc, a.ID, b.ID)
	nothingLost(t, ctx, all...)
}

// TestAddrAddRemove adds an IPv4 and an IPv6 address to node A's lan0 and
// removes them again, with B and C running and a sniffer on host 3:
//
//   - added: A announces them (RFC 6762 §8.4: changed records are
//     announced again) and B and C update A to an address set with them;
//   - removed: A sends goodbyes (TTL 0, RFC 6762 §10.1) for the A and AAAA
//     records of the removed addresses and announces its new TXT with the
//     cache-flush bit (§10.2), so B and C update A to an address set
//     without them;
//   - B and C never lose A; nothing lost at the end.
func TestAddrAddRemove(t *testing.T) {
	nt, ctx := faultLAN(t, 3, 60*time.Second)
	all := meshed(t, ctx, nt, 1, 2, 3)
	a, b, c := all[0], all[1], all[2]
	sn := startSniff(t, nt, 3)
	extra := []netip.Prefix{netip.MustParsePrefix("198.51.100.200/24"), netip.MustParsePrefix("2001:db8:53::200/64")}
	prefixes := []string{"/ip4/198.51.100.200/", "/ip6/2001:db8:53::200/"}
	mb, mc := b.Mark(), c.Mark()
	marks := map[*node.Node]int{b: mb, c: mc}

	added := time.Now()
	for _, p := range extra {
		if err := nt.AddAddr(1, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []*node.Node{b, c} {
		waitFrom(t, ctx, o, marks[o], "updated A with the added addresses", func(e node.Event) bool {
			return e.Str("event") == "updated" && e.Str("id") == a.ID && anyHasPrefix(e.Strs("addrs"), prefixes[0]) && anyHasPrefix(e.Strs("addrs"), prefixes[1])
		})
	}
	t.Logf("the added addresses reached B and C in %v", time.Since(added).Round(time.Millisecond))

	sm := sn.Mark()
	for o := range marks {
		marks[o] = o.Mark()
	}
	removed := time.Now()
	for _, p := range extra {
		if err := nt.DelAddr(1, p); err != nil {
			t.Fatal(err)
		}
	}
	want := lanAddrs(a.Addrs, nil)
	for _, o := range []*node.Node{b, c} {
		waitFrom(t, ctx, o, marks[o], "updated A back to its original set", func(e node.Event) bool {
			return e.Str("event") == "updated" && e.Str("id") == a.ID && sameSet(e.Strs("addrs"), want)
		})
	}
	t.Logf("B and C dropped the removed addresses %v after removal", time.Since(removed).Round(time.Millisecond))
	for _, g := range []struct{ typ, data string }{{"A", "198.51.100.200"}, {"AAAA", "2001:db8:53::200"}} {
		waitFrom(t, ctx, sn, sm, "goodbye for "+g.typ+" "+g.data, func(e node.Event) bool {
			if !strings.HasPrefix(e.Str("src"), "198.51.100.11:") && !strings.Contains(e.Str("src"), ":53::11]") && !strings.HasPrefix(e.Str("src"), "[fe80::53:ff:fe00:1") {
				return false
			}
			for _, r := range records(e) {
				if r.Type == g.typ && r.Data == g.data && r.TTL == 0 {
					return true
				}
			}
			return false
		})
	}
	keptThroughout(t, b, mb, a.ID, c.ID)
	keptThroughout(t, c, mc, a.ID, b.ID)
	nothingLost(t, ctx, all...)
}

// TestSocketErrors destroys node A's mDNS sockets from outside the process
// while it runs: `ss -K` in A's namespace aborts every UDP socket bound to
// port 5353 (SOCK_DESTROY; a pending read fails with ECONNABORTED). Then:
//
//   - A reports it: a Warn log per family ("read failed"), and in its stats
//     Metrics.Transport.ReadErrors ≥ 2 and Reopens ≥ 2 (one per family);
//   - A reopens both sockets (mdns/transport's recovery: a socket that is
//     gone is reopened after 50 ms, joined to the group again) and
//     discovery goes on over the new ones: node C, started after the
//     fault, and A find each other (A must receive C's announcements and
//     answer its queries, RFC 6762 §6) and connect;
//   - B never loses A nor A B; nothing lost at the end.
func TestSocketErrors(t *testing.T) {
	nt, ctx := faultLAN(t, 3, 60*time.Second)
	ab := meshed(t, ctx, nt, 1, 2)
	a, b := ab[0], ab[1]
	ma, mb := a.Mark(), b.Mark()

	fault := time.Now()
	out, err := nt.Exec(ctx, 1, "ss", "-K", "-u", "-a", "sport = :5353").CombinedOutput()
	if err != nil || strings.Count(string(out), ":mdns") < 2 {
		msg := "ss -K destroyed no mDNS socket (needs CONFIG_INET_DIAG_DESTROY and ss from iproute2): " + strings.TrimSpace(string(out))
		if err != nil {
			msg += ": " + err.Error()
		}
		if os.Getenv(netns.RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Logf("ss -K destroyed:\n%s", out)
	st, _ := waitFrom(t, ctx, a, ma, "stats with both sockets reopened", func(e node.Event) bool {
		return e.Str("event") == "stats" && counter(e, "metrics", "transport", "reopens") >= 2
	})
	t.Logf("A reopened its sockets within %v (stats every %s): Transport %v", time.Since(fault).Round(time.Millisecond), node.StatsEvery, st["metrics"].(map[string]any)["transport"])
	if n := counter(st, "metrics", "transport", "read_errors"); n < 2 {
		t.Errorf("ReadErrors %v, want ≥ 2 (one per family)", n)
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		if !hasLine(a.Stderr(), "level=WARN", "read failed", "family="+fam) {
			t.Errorf("no Warn log for the %s failure in A's stderr:\n%s", fam, node.Tail(a.Stderr(), 20))
		}
	}

	// Discovery goes on over the new sockets: a node that starts now.
	c := startNode(t, nt, 3)
	started := time.Now()
	waitMesh(t, ctx, map[*node.Node]int{a: ma, b: mb}, a, b, c)
	t.Logf("C, started after the fault, and A found each other and connected in %v", time.Since(started).Round(time.Millisecond))
	keptThroughout(t, a, ma, b.ID)
	keptThroughout(t, b, mb, a.ID)
	nothingLost(t, ctx, a, b, c)
}

// hasLine reports whether one line of s contains every one of parts.
func hasLine(s string, parts ...string) bool {
	for _, l := range strings.Split(s, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}
