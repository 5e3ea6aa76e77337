package faults

import (
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/hardening/node"
	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/internal/testkit"
)

// conflictName is the instance name both announcers are forced to.
const conflictName = "libp2p-conflict"

// TestNameConflict starts two `p2p-mdns announce --name libp2p-conflict`
// processes (different peer IDs) on hosts 1 and 2 at the same time, with a
// `run --no-connect` node C and a sniffer on host 3:
//
//   - their probes overlap, so each sees the other's probe for the same
//     names: the RFC 6762 §8.2 tie-break makes exactly one of them lose
//     (it logs "simultaneous probe lost"), which renames itself and probes
//     again (§9); the other completes probing for libp2p-conflict and never
//     renames. The
//     winner is host 2: the first authority records compared are the A
//     records of the shared host name, and 198.51.100.12 sorts after
//     198.51.100.11;
//   - on the wire (sniffer), the winner answers as libp2p-conflict and the
//     loser under its new name;
//   - C finds both peers with their full address sets (each one's --addr
//     list), so both stay discoverable;
//   - nothing lost: C lists both in Peers() at the end. (They are
//     announce-only peers with no libp2p host behind their addresses, so
//     C runs --no-connect and connections are not part of this check.)
func TestNameConflict(t *testing.T) {
	nt, ctx := faultLAN(t, 3, 60*time.Second)
	c := startNode(t, nt, 3, "--no-connect")
	sn := startSniff(t, nt, 3)
	var ann [2]*node.Node
	for i := range ann {
		h := nt.Host(i + 1)
		args := []string{"announce", "--json", "--iface", netns.LinkName, "--random", "--name", conflictName, "--duration", "60s", "--log-level", "debug",
			"--addr", "/ip4/" + h.V4.Addr().String() + "/tcp/4001", "--addr", "/ip6/" + h.V6.Addr().String() + "/udp/4001/quic-v1"}
		ann[i] = node.Start(t, nt, i+1, args...) // both at once: the probes must be simultaneous
	}
	for _, n := range ann {
		ev, _ := waitFrom(t, ctx, n, 0, "self event", func(e node.Event) bool { return e.Str("event") == "self" })
		n.ID, n.Addrs = ev.Str("id"), ev.Strs("addrs")
	}

	// C finds both with their full address sets.
	for _, n := range ann {
		waitFrom(t, ctx, c, 0, "found "+n.String()+" with its full address set", func(e node.Event) bool {
			return (e.Str("event") == "found" || e.Str("event") == "updated") && e.Str("id") == n.ID && sameSet(e.Strs("addrs"), n.Addrs)
		})
	}

	// Exactly one lost the tie-break and renamed; the other finished
	// probing with the name and never renamed. (C finds both from their
	// probes already, so the loser may still be about to rename: wait.)
	var loser, winner *node.Node
	testkit.Eventually(15*time.Second, 100*time.Millisecond, func() bool {
		loser, winner = nil, nil
		for _, n := range ann {
			lost := hasLine(n.Stderr(), "simultaneous probe lost")
			renamed := hasLine(n.Stderr(), "name conflict, renamed", "old="+conflictName)
			switch {
			case lost && renamed && loser == nil:
				loser = n
			case !lost && !renamed && hasLine(n.Stderr(), "probing done", "name="+conflictName) && winner == nil:
				// It may never have seen the loser's probe: a host that
				// loses before its first probe defers (§8.2) without sending.
				winner = n
			}
		}
		return loser != nil && winner != nil
	})
	if loser == nil || winner == nil {
		t.Fatalf("want one tie-break loser that renamed and one winner that did not; stderr:\n%v:\n%s\n%v:\n%s",
			ann[0], node.Tail(ann[0].Stderr(), 15), ann[1], node.Tail(ann[1].Stderr(), 15))
	}
	// §8.2: the probes' authority records are compared in order (class,
	// type, rdata), and the first is the A record of the shared host name
	// libp2p-conflict.local.: 198.51.100.12 is lexicographically later
	// than 198.51.100.11, so host 2 wins.
	if winner.Host != 2 {
		t.Errorf("host %d won the tie-break, want host 2 (its A record 198.51.100.12 sorts after 198.51.100.11)", winner.Host)
	}
	t.Logf("%v won the RFC 6762 §8.2 tie-break, %v lost and renamed: %s", winner, loser, grepLine(loser.Stderr(), "renamed"))

	// On the wire: the winner answers as libp2p-conflict, the loser under
	// another name.
	instance := func(id string) string {
		var inst string
		for _, e := range sn.Events() {
			for _, p := range sniffedPeers(e) {
				if p.ID == id {
					inst = p.Instance
				}
			}
		}
		return inst
	}
	waitFrom(t, ctx, sn, 0, "the loser's packets under its new name", func(node.Event) bool {
		li := instance(loser.ID)
		return li != "" && !strings.HasPrefix(li, conflictName+".")
	})
	if wi := instance(winner.ID); !strings.HasPrefix(wi, conflictName+".") && wi != conflictName {
		t.Errorf("the winner is on the wire as %q, want %s", wi, conflictName)
	}
	t.Logf("on the wire: winner %q, loser %q", instance(winner.ID), instance(loser.ID))

	// Nothing lost: C still lists both.
	m := c.Mark()
	waitFrom(t, ctx, c, m, "stats listing both announcers", func(e node.Event) bool { return node.Lists(e, false, ann[0].ID, ann[1].ID) })
	for _, n := range ann {
		if l := eventsOf(c.EventsFrom(0, "lost"), n.ID); len(l) > 0 {
			t.Errorf("C reported %v lost", n)
		}
	}
}

// grepLine returns the first line of s containing part.
func grepLine(s, part string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, part) {
			return l
		}
	}
	return ""
}
