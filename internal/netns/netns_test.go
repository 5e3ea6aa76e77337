package netns_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/netns"
)

func namespaces(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func TestLANUnicastBothFamiliesAndCleanup(t *testing.T) {
	var prefix string
	t.Run("lan", func(t *testing.T) {
		n := netns.New(t, 2)
		prefix = n.Prefix()
		if !strings.Contains(namespaces(t), n.Bridge()) {
			t.Fatalf("bridge namespace %s missing", n.Bridge())
		}
		h1, h2 := n.Host(1), n.Host(2)
		if h1.IfIndex == 0 || !h1.LinkLocal.IsLinkLocalUnicast() || h2.V4.Addr() != netip.MustParseAddr("198.51.100.12") {
			t.Fatalf("unexpected hosts %+v %+v", h1, h2)
		}
		if h1.MAC.String() != "02:53:00:00:00:01" {
			t.Fatalf("MAC %v", h1.MAC)
		}
		var stop func() error
		pcap := t.TempDir() + "/br0.pcap"
		if _, err := exec.LookPath("tcpdump"); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if stop, err = n.Capture(ctx, pcap); err != nil {
				t.Fatal(err)
			}
		}
		for _, dst := range []netip.Addr{h2.V4.Addr(), h2.V6.Addr(), h2.LinkLocal} {
			exchange(t, n, dst)
		}
		if stop != nil {
			if err := stop(); err != nil {
				t.Fatalf("stop capture: %v", err)
			}
			// More than the 24-byte pcap header: the bridge saw the LAN.
			if fi, err := os.Stat(pcap); err != nil || fi.Size() <= 24 {
				t.Fatalf("capture %v: %v", fi, err)
			}
		}
	})
	if prefix == "" {
		return // skipped
	}
	if ns := namespaces(t); strings.Contains(ns, prefix) {
		t.Fatalf("namespaces of %s left after cleanup:\n%s", prefix, ns)
	}
}

// exchange sends one UDP datagram from host 1 to dst on host 2.
func exchange(t *testing.T, n *netns.Net, dst netip.Addr) {
	t.Helper()
	var rc *net.UDPConn
	zone := ""
	if dst.IsLinkLocalUnicast() {
		zone = strconv.Itoa(n.Host(2).IfIndex)
	}
	if err := n.Do(2, func() error {
		var err error
		rc, err = net.ListenUDP("udp", &net.UDPAddr{IP: dst.AsSlice(), Port: 40000, Zone: zone})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var sc *net.UDPConn
	if err := n.Do(1, func() error {
		var err error
		sc, err = net.ListenUDP("udp", nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	// Zones are numeric: interface names would be looked up in the
	// calling thread's namespace.
	to := &net.UDPAddr{IP: dst.AsSlice(), Port: 40000}
	if zone != "" {
		to.Zone = strconv.Itoa(n.Host(1).IfIndex)
	}
	if _, err := sc.WriteToUDP([]byte("ping"), to); err != nil {
		t.Fatalf("send to %v: %v", to, err)
	}
	_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	nb, from, err := rc.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("receive at %v: %v", dst, err)
	}
	if string(buf[:nb]) != "ping" {
		t.Fatalf("got %q", buf[:nb])
	}
	t.Logf("%v → %v ok", from, dst)
}

func TestWithoutIPv6AndFaults(t *testing.T) {
	n := netns.New(t, 1, netns.WithoutIPv6())
	h := n.Host(1)
	if h.V6.IsValid() || h.LinkLocal.IsValid() {
		t.Fatalf("IPv6 present: %+v", h)
	}
	out, err := n.Exec(context.Background(), 1, "ip", "-o", "addr", "show", "dev", netns.LinkName).CombinedOutput()
	if err != nil {
		t.Fatalf("exec: %v: %s", err, out)
	}
	if strings.Contains(string(out), "inet6") || !strings.Contains(string(out), "198.51.100.11/24") {
		t.Fatalf("addresses:\n%s", out)
	}
	extra := netip.MustParsePrefix("198.51.100.111/24")
	if err := n.AddAddr(1, extra); err != nil {
		t.Fatal(err)
	}
	if err := n.DelAddr(1, extra); err != nil {
		t.Fatal(err)
	}
	if err := n.SetLinkUp(1, false); err != nil {
		t.Fatal(err)
	}
	out, err = n.Exec(context.Background(), 1, "ip", "-o", "link", "show", "dev", netns.LinkName).CombinedOutput()
	if err != nil || strings.Contains(string(out), ",UP") {
		t.Fatalf("link still up (%v):\n%s", err, out)
	}
	if err := n.SetLinkUp(1, true); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitReady(1); err != nil {
		t.Fatal(err)
	}
}

func TestSweepOnlyStaleHarnessNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
	if _, err := netns.Sweep("other-"); err == nil {
		t.Fatal("Sweep accepted a prefix outside the harness's")
	}
	// A namespace named like one of a dead process (pids stay below
	// 2^22) and one of a live process (this one, created via New).
	n := netns.New(t, 1)
	stale := netns.Prefix + "4194999-1-st"
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", stale).Run() })
	// Another test binary's sweep (they run concurrently under go test
	// ./...) may remove it first; Sweep then reports nothing removed.
	removed, err := netns.Sweep(netns.Prefix + "4194999-")
	if err != nil || removed > 1 {
		t.Fatalf("Sweep = %d, %v", removed, err)
	}
	ns := namespaces(t)
	if strings.Contains(ns, stale) {
		t.Fatal("stale namespace still there")
	}
	if !strings.Contains(ns, n.Bridge()) {
		t.Fatal("Sweep removed a live namespace")
	}
	if _, err := netns.Sweep(netns.Prefix); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if !strings.Contains(namespaces(t), n.Bridge()) {
		t.Fatal("Sweep removed a live namespace")
	}
}

// TestBuildManyHostsAndClose: the program constructor builds a LAN of 30
// hosts without DAD quickly, every host is ready, and
// Close deletes every namespace (and is idempotent).
func TestBuildManyHostsAndClose(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace tests do not run with -short")
	}
	if err := netns.Available(); err != nil {
		if os.Getenv(netns.RequireEnv) == "1" {
			t.Fatalf("%v (and %s=1 requires namespace tests to run)", err, netns.RequireEnv)
		}
		t.Skip(err)
	}
	if _, err := netns.Build(0); err == nil {
		t.Fatal("Build(0) succeeded")
	}
	start := time.Now()
	n, err := netns.Build(30, netns.WithoutDAD())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	t.Logf("30 hosts ready in %v", time.Since(start).Round(time.Millisecond))
	if n.Len() != 30 {
		t.Fatalf("Len = %d", n.Len())
	}
	for i := 1; i <= n.Len(); i++ {
		h := n.Host(i)
		if h.IfIndex == 0 || !h.LinkLocal.IsLinkLocalUnicast() || h.V4.Addr() != netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}) {
			t.Fatalf("host %d: %+v", i, h)
		}
	}
	out, err := n.Exec(context.Background(), 30, "ip", "-o", "addr", "show", "dev", netns.LinkName).CombinedOutput()
	if err != nil || strings.Contains(string(out), "tentative") || !strings.Contains(string(out), "2001:db8:53::40/64") {
		t.Fatalf("host 30 addresses (%v):\n%s", err, out)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if ns := namespaces(t); strings.Contains(ns, n.Prefix()) {
		t.Fatalf("namespaces of %s left after Close:\n%s", n.Prefix(), ns)
	}
}
