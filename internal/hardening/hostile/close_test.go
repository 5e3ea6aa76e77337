//go:build linux

package hostile

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery"
	"github.com/chorus-services/discovery/internal/hardening/hostile/flood"
	"github.com/chorus-services/discovery/internal/hardening/node"
	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"
)

// closeBound is how long Close may take under a flood.
const closeBound = 3 * time.Second

// Environment of the child process of TestCloseDuringFlood.
const (
	childEnv   = "HOSTILE_CLOSE_CHILD" // the real peer's ID
	childLine  = "CLOSE-RESULT "
	childReady = "CLOSE-READY"
)

// closeResult is what the child reports.
type closeResult struct {
	CloseMillis     int64  `json:"close_ms"`
	Goroutines      int    `json:"goroutines_before_close"`
	Packets         uint64 `json:"browser_packets"`
	Evicted         uint64 `json:"browser_evicted"`
	Attempts        uint64 `json:"dial_attempts"`
	RealInPeers     bool   `json:"real_in_peers"`
	RealConnected   bool   `json:"real_connected"`
	LeakCheckFailed string `json:"leak_check_failed,omitempty"`
}

// TestCloseDuringFlood runs the facade (NewMDNSDiscovery with auto-connect,
// on real sockets) in a child process started inside host 1's namespace,
// so that every socket it and its libp2p host open (mDNS, TCP listen,
// dials to the fake peers) stays on the namespace LAN. Host 2 runs a real
// peer, host 3 floods host 1 at -flood.rate from the moment the child has
// found, connected and established the real peer. Once the facade has evicted
// thousands of fake peers and still has the real peer (nothing lost),
// Close must return within 3 s, and after the host is closed too goleak
// must find no goroutine beyond those that existed before the host and
// the facade were created.
func TestCloseDuringFlood(t *testing.T) {
	if id := os.Getenv(childEnv); id != "" {
		closeChild(t, id)
		return
	}
	nt := netns.New(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	r := node.Run(t, nt, 2, "--duration", "90s")
	r.Watch()

	child := nt.Exec(ctx, 1, os.Args[0], "-test.run=^TestCloseDuringFlood$", "-test.v", "-test.count=1")
	child.Env = append(os.Environ(), childEnv+"="+r.ID)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = child.Stdout
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	fctx, stopFlood := context.WithCancel(ctx)
	defer stopFlood()
	var wait func() flood.Report

	var res *closeResult
	var log strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, childLine); ok {
			res = new(closeResult)
			if err := json.Unmarshal([]byte(rest), res); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if line == childReady && wait == nil {
			wait = floodPlan{from: 3, dst: nt.Host(1).V4.Addr(), peerRate: *floodRate, duration: 60 * time.Second}.start(t, nt, fctx)
			continue
		}
		if !strings.HasPrefix(line, "ts=") { // go-libp2p's fx logs
			log.WriteString(line + "\n")
		}
	}
	cerr := child.Wait()
	stopFlood()
	if wait != nil {
		t.Logf("flood: %v", wait())
	}
	if cerr != nil || res == nil {
		t.Fatalf("child: %v; result %+v; output:\n%s", cerr, res, log.String())
	}
	t.Logf("child: %+v", *res)
	if res.LeakCheckFailed != "" {
		t.Errorf("goleak after Close:\n%s", res.LeakCheckFailed)
	}
	if res.CloseMillis > closeBound.Milliseconds() {
		t.Errorf("Close took %d ms under the flood, bound %v", res.CloseMillis, closeBound)
	}
	if !res.RealInPeers || !res.RealConnected {
		t.Errorf("nothing lost: before Close the real peer was in Peers() %v, connected %v", res.RealInPeers, res.RealConnected)
	}
}

// closeChild is the child's side of TestCloseDuringFlood: its whole
// process is in host 1's namespace.
func closeChild(t *testing.T, realID string) {
	var res closeResult
	defer func() {
		b, _ := json.Marshal(res)
		fmt.Println(childLine + string(b))
	}()
	want, err := peer.Decode(realID)
	if err != nil {
		t.Fatal(err)
	}
	ignore := goleak.IgnoreCurrent()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := discovery.NewMDNSDiscovery(context.Background(), h, mdns.SpecTag, discovery.WithInterfaces(netns.LinkName))
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	// The real peer found, established (its records refreshed) and
	// connected; then the parent floods.
	if !testkit.Eventually(20*time.Second, 50*time.Millisecond, func() bool {
		return slices.ContainsFunc(d.Peers(), func(ai peer.AddrInfo) bool { return ai.ID == want }) &&
			h.Network().Connectedness(want) == network.Connected && d.Metrics().Browser.Established == 1
	}) {
		d.Close()
		h.Close()
		t.Fatal("the real peer was not found, connected and established in 20 s")
	}
	fmt.Println(childReady)
	// Flooded (thousands of fake peers evicted), with the real peer still
	// found and connected.
	if !testkit.Eventually(30*time.Second, 100*time.Millisecond, func() bool {
		m := d.Metrics()
		res.Packets, res.Evicted, res.Attempts = m.Browser.Packets, m.Browser.Evicted, m.Dialer.Attempts
		res.RealInPeers = slices.ContainsFunc(d.Peers(), func(ai peer.AddrInfo) bool { return ai.ID == want })
		res.RealConnected = h.Network().Connectedness(want) == network.Connected
		return m.Browser.Evicted > 5000 && res.RealInPeers && res.RealConnected
	}) {
		t.Errorf("not flooded with the real peer found and connected after 30 s: %+v", res)
	}
	res.Goroutines = runtime.NumGoroutine()
	start := time.Now()
	cerr := d.Close()
	res.CloseMillis = time.Since(start).Milliseconds()
	if cerr != nil {
		t.Errorf("Close: %v", cerr)
	}
	if err := h.Close(); err != nil {
		t.Errorf("host Close: %v", err)
	}
	if err := goleak.Find(ignore); err != nil {
		res.LeakCheckFailed = err.Error()
	}
}
