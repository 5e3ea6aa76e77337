//go:build linux

package hostile

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/hardening/node"
	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/mdns"
	"github.com/miekg/dns"
)

// digBufSize is the EDNS0 UDP payload size `dig` (BIND 9.16+) advertises in
// its queries: the largest answer it can take, our limit for a "small"
// legacy answer.
const digBufSize = 1232

// TestAmplification (VU#550620): unicast queries to port 5353 of a `p2p-mdns
// run` node (host 1), sent from a namespace socket on host 2.
//
//   - OffLink: from 203.0.113.7 (not on the LAN's prefix; the node has a
//     route back to it, so an answer would arrive) the query is dropped and
//     counted, and nothing comes back.
//   - OnLink: from 198.51.100.12 and a random port, as `dig @198.51.100.11
//     -p 5353 _p2p._udp.local PTR` sends it (RD, EDNS0 with a 1232-byte
//     payload), exactly one answer comes back: the query's ID and
//     question, TTLs of at most 10 s (RFC 6762 §6.7), within the 1232
//     bytes dig can take; OnLinkNoEDNS0: without EDNS0, within 512 bytes.
//
// The real peer (host 2's node) is still in Peers() and connected after
// both.
func TestAmplification(t *testing.T) {
	nt := netns.New(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	a := node.Run(t, nt, 1, "--duration", "90s")
	r := node.Run(t, nt, 2, "--duration", "90s")
	if _, err := waitStats(ctx, a, func(s nodeStats) bool { return s.has(r.ID) && s.connected(r.ID) }); err != nil {
		t.Fatal(err)
	}
	// Wait for the node's announcements to end: answers are given only
	// after probing (§8.1).
	if _, err := waitStats(ctx, a, func(s nodeStats) bool { return s.Metrics.Responder.Announcements >= 3 }); err != nil {
		t.Fatal(err)
	}
	// A route from the node back to the off-link source: if the node
	// answered, the answer would reach the querier.
	if err := nt.AddAddr(2, offLinkSrc); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "-n", nt.Host(1).NS, "route", "add", "203.0.113.0/24", "dev", netns.LinkName).CombinedOutput(); err != nil {
		t.Fatalf("route: %v: %s", err, out)
	}
	node := &net.UDPAddr{IP: nt.Host(1).V4.Addr().AsSlice(), Port: 5353}
	query := func(id, edns uint16) []byte {
		m := new(dns.Msg)
		m.Id = id
		m.Question = []dns.Question{{Name: mdns.SpecService, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
		m.RecursionDesired = true
		if edns > 0 {
			m.SetEdns0(edns, false)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	t.Run("OffLink", func(t *testing.T) {
		_, c := udp4In(t, nt, 2, offLinkSrc.Addr().String()+":0", 64)
		before, err := nextStats(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		q := query(0x0bad, digBufSize)
		if _, err := c.WriteTo(q, node); err != nil {
			t.Fatal(err)
		}
		after, err := waitStats(ctx, a, func(s nodeStats) bool {
			return s.Metrics.Responder.DroppedOffLink > before.Metrics.Responder.DroppedOffLink
		})
		if err != nil {
			t.Fatalf("the off-link query was not counted as dropped: %v", err)
		}
		rb, ra := before.Metrics.Responder, after.Metrics.Responder
		if ra.AnswersLegacy != rb.AnswersLegacy || ra.AnswersUnicast != rb.AnswersUnicast || ra.SendErrors != rb.SendErrors {
			t.Errorf("responder answered or tried to: %+v → %+v", rb, ra)
		}
		// The node has decided (the drop is counted); anything it sent
		// would be here by now. Read what may have come, briefly.
		if n, from, err := readOne(c, 500*time.Millisecond); err == nil {
			t.Fatalf("off-link query answered: %d bytes from %v", n, from)
		}
		t.Logf("off-link query (%d bytes) dropped: DroppedOffLink %d → %d, no answer", len(q), rb.DroppedOffLink, ra.DroppedOffLink)
		nothingLost(t, after, r.ID)
	})

	// dig advertises 1232 bytes with EDNS0; a resolver without EDNS0 is
	// promised 512 (RFC 1035 §4.2.1).
	for _, v := range []struct {
		name  string
		edns  uint16
		limit int
	}{{"OnLink", digBufSize, digBufSize}, {"OnLinkNoEDNS0", 0, 512}} {
		t.Run(v.name, func(t *testing.T) {
			_, c := udp4In(t, nt, 2, nt.Host(2).V4.Addr().String()+":0", 64)
			q := query(0x4242, v.edns)
			if _, err := c.WriteTo(q, node); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 9000)
			if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no answer to an on-link legacy query: %v", err)
			}
			if from.(*net.UDPAddr).Port != 5353 || !from.(*net.UDPAddr).IP.Equal(node.IP) {
				t.Errorf("answer from %v", from)
			}
			m := new(dns.Msg)
			if err := m.Unpack(buf[:n]); err != nil {
				t.Fatal(err)
			}
			if m.Id != 0x4242 || !m.Response || len(m.Question) != 1 || m.Question[0].Name != mdns.SpecService || len(m.Answer) == 0 || m.Truncated {
				t.Errorf("answer %v", m)
			}
			for _, rr := range append(m.Answer, m.Extra...) {
				if rr.Header().Ttl > 10 {
					t.Errorf("legacy answer with TTL %d > 10: %v", rr.Header().Ttl, rr)
				}
			}
			if n > v.limit {
				t.Errorf("answer of %d bytes, more than the %d the querier can take", n, v.limit)
			}
			// Exactly one: nothing else arrives.
			if n2, from2, err := readOne(c, time.Second); err == nil {
				t.Errorf("a second answer: %d bytes from %v", n2, from2)
			}
			t.Logf("on-link legacy query: %d bytes → one answer of %d bytes (×%.1f), %d answers + %d additional records",
				len(q), n, float64(n)/float64(len(q)), len(m.Answer), len(m.Extra))
			s, err := nextStats(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			nothingLost(t, s, r.ID)
		})
	}
}

// readOne reads one datagram within d.
func readOne(c *net.UDPConn, d time.Duration) (int, net.Addr, error) {
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		return 0, nil, err
	}
	buf := make([]byte, 9000)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, nil, err
		}
	}
	return n, from, err
}
