package browser

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

// replayIface is the browser's interface for replays: on the captures'
// link (198.51.100.0/24, 2001:db8:53::/64, fe80::/64), so that the §11
// on-link check passes as it would on the captured LAN.
var replayIface = memnet.IfaceConfig{Name: "eth0", Prefixes: []netip.Prefix{
	netip.MustParsePrefix("198.51.100.1/24"),
	netip.MustParsePrefix("2001:db8:53::1/64"),
	netip.MustParsePrefix("fe80::1/64"),
}}

// TestReplayCaptures feeds every capture through a browser on virtual time
// (sleeping to each packet's offset and injecting it on the memnet link)
// and checks that exactly the sidecar's peers are found, with exactly its
// multiaddrs (after the default address rules, see
// pcapread.ExpectedPeer.BrowserAddrs), and that the peers that said goodbye
// are Lost. The sidecars list what responses carry (their rule ignores
// probes), so the exact check runs with IgnoreProbes; by default the
// browser also finds peers from their probes, so there every sidecar peer
// must be found the same and any other peer (one proposed in a probe and
// never announced, as avahi's too-large TXT in g1) must end lost.
func TestReplayCaptures(t *testing.T) {
	for _, strict := range []bool{true, false} {
		t.Run(map[bool]string{true: "strict", false: "probe hints"}[strict], func(t *testing.T) { replayCaptures(t, strict) })
	}
}

func replayCaptures(t *testing.T, strict bool) {
	files, _ := filepath.Glob("../testdata/pcap/*.pcap")
	if len(files) == 0 {
		t.Fatal("no captures")
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".pcap")
		t.Run(name, func(t *testing.T) {
			sc, err := pcapread.ReadSidecar(path)
			if err != nil {
				t.Fatal(err)
			}
			dgs, _, err := pcapread.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, envOpt{ifaces: []memnet.IfaceConfig{replayIface}, cfg: func(c *Config) { c.IgnoreProbes = strict }})
				t0 := dgs[0].Time
				for _, dg := range dgs {
					time.Sleep(dg.Time.Sub(t0) - e.since())
					p := transport.Packet(dg.Packet)
					if err := e.LAN.Inject("", e.iface, p); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(2 * time.Second) // goodbyes take effect after 1 s
				syncWait()
				got := map[string]map[string]bool{}
				lost := map[string]bool{}
				for _, ev := range e.evs() {
					id := ev.Peer.ID.String()
					if got[id] == nil {
						got[id] = map[string]bool{}
					}
					for _, a := range ev.Peer.Addrs {
						got[id][a.String()] = true
					}
					if ev.Kind == Lost {
						lost[id] = true
					}
				}
				st := e.b.Stats()
				// c_python_zeroconf has one unicast reply with hop limit 64:
				// dropped by the TTL rule, its peer is found through the
				// multicast answers, so DroppedTTL is not asserted.
				if st.DroppedMalformed+st.DroppedOffLink+st.QueueFull > 0 {
					t.Errorf("drops: %+v", st)
				}
				// The browser's default rules: loopback dropped, link-local
				// zoned with the receiving interface.
				browserView := func(p pcapread.ExpectedPeer) ([]string, error) { return p.BrowserAddrs(replayIface.Name) }
				if !strict {
					expected := map[string]bool{}
					for _, p := range sc.Expected.Peers {
						expected[p.PeerID] = true
					}
					for id := range got {
						if !expected[id] && lost[id] {
							delete(got, id) // proposed in a probe only, and lost
							delete(lost, id)
						}
					}
				}
				for _, m := range sc.Mismatches(got, lost, browserView, false) {
					t.Error(m)
				}
				t.Logf("%d peers, %d packets, stats %+v", len(sc.Expected.Peers), len(dgs), st)
			})
		})
	}
}
