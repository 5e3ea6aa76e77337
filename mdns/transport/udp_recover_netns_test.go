package transport_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns/transport"
)

// TestUDPReopenAfterSocketFault breaks host 1's real socket of one family
// under its Conn (BreakSocket, the seam of export_test.go) and checks that
// the Conn reopens it — in host 1's namespace, although the reader runs on
// a thread of the test's — joined to the group again, so that multicast
// flows both ways once more, while the other family's socket is untouched.
// "close" is a socket that is gone (reopened after the first 50 ms delay);
// "deadline" makes every read time out, an error that does not say the
// socket is gone (retried with backoff, reopened after 750 ms).
func TestUDPReopenAfterSocketFault(t *testing.T) {
	p1, p2 := exchangeLAN(t)
	round := 0
	for _, fault := range []string{"close", "deadline"} {
		for _, v4 := range []bool{true, false} {
			fam, group := "v6", transport.GroupV6
			if v4 {
				fam, group = "v4", transport.GroupV4
			}
			t.Run(fault+"/"+fam, func(t *testing.T) {
				round++
				send := func(from, to *peer, what string) {
					payload := fmt.Sprintf("%s %d: %d→%d", what, round, from.host.Index, to.host.Index)
					sendUntil(t, from, transport.Packet{Data: []byte(payload), Dst: group, IfIndex: from.host.IfIndex}, to)
				}
				send(p2, p1, "before")
				before := p1.c.Stats()
				t0 := time.Now()
				if err := transport.BreakSocket(p1.c, v4, fault); err != nil {
					t.Fatal(err)
				}
				sawFailure := false
				testkit.WaitFor(t, "the socket reopened", waitLimit, func() bool {
					for _, p := range p1.c.Problems() {
						sawFailure = sawFailure || p.Step == "read"
					}
					return p1.c.Stats().Reopens != before.Reopens
				})
				reopened := time.Since(t0)
				send(p2, p1, "after") // received on the new socket: the group is joined again
				send(p1, p2, "after") // and sent from it
				flowing := time.Since(t0)
				t.Logf("%s %s: reopened after %v, traffic both ways after %v", fault, fam, reopened.Round(time.Millisecond), flowing.Round(time.Millisecond))

				st := p1.c.Stats()
				if st.Reopens != before.Reopens+1 || st.ReadErrors <= before.ReadErrors || st.ReopenFailures != 0 {
					t.Errorf("Stats %+v (before %+v): want exactly one more reopen and new read errors", st, before)
				}
				if fault == "deadline" {
					// The 750 ms of failures were listed while they lasted.
					if !sawFailure {
						t.Error("the read failure never showed in Problems")
					}
					if reopened < 700*time.Millisecond {
						t.Errorf("reopened after %v, before the backoff of persistent failures ran out", reopened)
					}
				}
				if ps := p1.c.Problems(); len(ps) != 0 {
					t.Errorf("Problems after recovery: %v", ps)
				}
				if ifs := p1.c.Interfaces(); len(ifs) != 1 || !ifs[0].V4 || !ifs[0].V6 {
					t.Errorf("Interfaces after recovery: %+v", ifs)
				}
			})
		}
	}
}
