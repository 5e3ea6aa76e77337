package faults

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/hardening/node"
	"github.com/chorus-services/discovery/internal/netns"
)

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
	t.Parallel()
	nt := netns.New(t, 3)
	ctx := withTimeout(t, 60*time.Second)
	a, b := startNode(t, nt, 1), startNode(t, nt, 2)
	waitMesh(t, ctx, nil, a, b)
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
		return e.Str("event") == "stats" && counter(e, "metrics", "Transport", "Reopens") >= 2
	})
	t.Logf("A reopened its sockets within %v (stats every %s): Transport %v", time.Since(fault).Round(time.Millisecond), node.StatsEvery, st["metrics"].(map[string]any)["Transport"])
	if n := counter(st, "metrics", "Transport", "ReadErrors"); n < 2 {
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
