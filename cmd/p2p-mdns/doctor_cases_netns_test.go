package main

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/doctor"
	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// finding returns the findings of rep for check.
func findings(rep doctor.Report, check string) []doctor.Finding {
	var out []doctor.Finding
	for _, f := range rep.Findings {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

// checkDoctorJSON checks a doctor report against its documented schema.
func checkDoctorJSON(t *testing.T, rep doctor.Report) {
	t.Helper()
	raw, _ := json.Marshal(rep)
	if err := checkSchema(docSchemas(t), "doctor", raw); err != nil {
		t.Error(err)
	}
}

// TestDoctorExclusivePortNetns: a program holding UDP 5353 over IPv4
// without sharing it kills IPv4 mDNS for everyone else: the doctor must say
// so (fail, naming the program and the family), not "sharing works", and
// exit 1, although its IPv6 socket works.
func TestDoctorExclusivePortNetns(t *testing.T) {
	nt := netns.New(t, 2)
	holdPort5353(t, nt, 2)
	rep, code, _ := runDoctorIn(t, nt, 2, doctorBin(t), "--iface", netns.LinkName, "--duration", "1s")
	checkDoctorJSON(t, rep)
	port := findings(rep, doctor.CheckPort)
	if code != 1 || rep.Verdict != doctor.StatusFail || len(port) != 1 || port[0].Status != doctor.StatusFail ||
		!strings.Contains(port[0].Message, "over IPv4 is held exclusively by p2p-mdns.test") || strings.Contains(port[0].Message, "sharing works") {
		t.Errorf("exit %d, verdict %s, port findings %+v", code, rep.Verdict, port)
	}
}

// TestDoctorNoIPv6Netns: with IPv6 disabled, the doctor says so once and
// gives no IPv6 route hint (`ip -6 route add` would fail); discovery can
// still work over IPv4.
func TestDoctorNoIPv6Netns(t *testing.T) {
	nt := netns.New(t, 2, netns.WithoutIPv6())
	rep, code, _ := runDoctorIn(t, nt, 2, doctorBin(t), "--iface", netns.LinkName, "--duration", "1s")
	checkDoctorJSON(t, rep)
	if code != 0 || rep.Verdict == doctor.StatusFail {
		t.Errorf("exit %d, verdict %s", code, rep.Verdict)
	}
	for _, f := range rep.Findings {
		if strings.Contains(f.Hint, "ip -6") || strings.Contains(f.Message, "ff02::fb is routed") || (f.Check == doctor.CheckRoutes && strings.Contains(f.Message, "ff02::fb")) {
			t.Errorf("IPv6 route finding with IPv6 disabled: %+v", f)
		}
	}
	v6 := findings(rep, doctor.CheckIPv6)
	if len(v6) != 1 || v6[0].Status != doctor.StatusWarn || !strings.Contains(v6[0].Message, "disable_ipv6") {
		t.Errorf("ipv6 findings %+v", v6)
	}
}

// TestDoctorFirewallNetns: an nftables rule dropping UDP 5353 on input is
// detected (our own queries never come back) and quoted; exit 1.
func TestDoctorFirewallNetns(t *testing.T) {
	peers.Require(t, "nft")
	nt := netns.New(t, 2)
	for _, args := range [][]string{
		{"add", "table", "inet", "dtest"},
		{"add", "chain", "inet", "dtest", "input", "{ type filter hook input priority 0; }"},
		{"add", "rule", "inet", "dtest", "input", "udp", "dport", "5353", "drop"},
	} {
		if out, err := nt.Exec(t.Context(), 2, "nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %q: %v: %s", args, err, out)
		}
	}
	rep, code, _ := runDoctorIn(t, nt, 2, doctorBin(t), "--iface", netns.LinkName, "--duration", "2s")
	checkDoctorJSON(t, rep)
	fw := findings(rep, doctor.CheckFirewall)
	if code != 1 || len(fw) != 1 || fw[0].Status != doctor.StatusFail || !strings.Contains(fw[0].Message, "udp dport 5353 drop") || !strings.Contains(fw[0].Hint, "5353") {
		t.Errorf("exit %d, firewall findings %+v", code, fw)
	}
}

// TestDoctorTagMismatchNetns: a peer of this module announcing
// CHORUS-peer-discovery (the library's default) while the doctor checks
// _p2p._udp (the CLI's): the doctor hears it (service enumeration, RFC 6763
// §9), shows its tag and gives the exact --service to use; a warning, not a
// tick.
func TestDoctorTagMismatchNetns(t *testing.T) {
	nt := netns.New(t, 2)
	bin := peers.Build(t, "github.com/chorus-services/discovery/cmd/p2p-mdns")
	an := peers.Start(t, "announce@h1", nt.Exec(t.Context(), 1, bin, "announce", "--random", "--json", "--iface", netns.LinkName, "--duration", "30s",
		"--service", "CHORUS-peer-discovery", "--addr", "/ip4/"+nt.Host(1).V4.Addr().String()+"/tcp/4001"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	self, err := an.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == evSelf })
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // its announcements are over: only the doctor's queries make it speak
	rep, code, _ := runDoctorIn(t, nt, 2, doctorBin(t), "--iface", netns.LinkName, "--duration", "3s")
	checkDoctorJSON(t, rep)
	var seen *doctor.PeerSeen
	for i := range rep.Peers {
		if rep.Peers[i].ID == self.Str("id") {
			seen = &rep.Peers[i]
		}
	}
	if seen == nil || seen.Tag != "CHORUS-peer-discovery" || seen.Found || seen.Flavour != flavourOurs {
		t.Fatalf("peer %+v in %+v", seen, rep.Peers)
	}
	var tag *doctor.Finding
	for i, f := range rep.Findings {
		if f.Check == doctor.CheckPeers && strings.Contains(f.Message, "another tag") {
			tag = &rep.Findings[i]
		}
	}
	if code != 0 || rep.Verdict != doctor.StatusWarn || tag == nil || tag.Status != doctor.StatusWarn || !strings.Contains(tag.Hint, "--service CHORUS-peer-discovery") {
		t.Errorf("exit %d, verdict %s, tag finding %+v", code, rep.Verdict, tag)
	}
}

// TestDoctorStreamsAndPassiveNetns: the checklist streams (the first
// findings are printed long before the active phase ends), and --passive
// sends nothing (a sniffer on the LAN hears no packet from the doctor's
// host), while the default mode sends queries.
func TestDoctorStreamsAndPassiveNetns(t *testing.T) {
	nt := netns.New(t, 2)
	bin := peers.Build(t, "github.com/chorus-services/discovery/cmd/p2p-mdns")
	h2 := nt.Host(2)
	from := func(passive bool) (heard int) {
		sn := peers.Start(t, "sniff@h1", nt.Exec(t.Context(), 1, bin, "sniff", "--json", "--iface", netns.LinkName, "--duration", "30s", "--log-level", "info"))
		lctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, _ = sn.WaitStderr(lctx, "listening") // doctor then runs anyway: its checks say what is missing
		cancel()
		args := []string{"doctor", "--iface", netns.LinkName, "--duration", "3s"}
		if passive {
			args = append(args, "--passive")
		}
		cmd := nt.Exec(t.Context(), 2, bin, args...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var firstFinding time.Duration
		var text strings.Builder
		for sc.Scan() {
			if firstFinding == 0 && strings.HasPrefix(sc.Text(), "  ✓ interfaces") {
				firstFinding = time.Since(start)
			}
			text.WriteString(sc.Text() + "\n")
		}
		_ = cmd.Wait()
		total := time.Since(start)
		t.Logf("doctor passive=%v: first finding after %v of %v\n%s", passive, firstFinding, total, text.String())
		if firstFinding == 0 || total-firstFinding < 2*time.Second {
			t.Errorf("passive=%v: first finding after %v of %v: not streamed", passive, firstFinding, total)
		}
		time.Sleep(500 * time.Millisecond)
		sn.Stop(5 * time.Second)
		for _, e := range sn.Events() {
			src := e.Str("src")
			if strings.HasPrefix(src, h2.V4.Addr().String()+":") || strings.HasPrefix(src, "["+h2.V6.Addr().String()+"]") || strings.HasPrefix(src, "["+h2.LinkLocal.String()) {
				heard++
			}
		}
		return heard
	}
	if n := from(true); n != 0 {
		t.Errorf("--passive: %d packets from the doctor's host", n)
	}
	if n := from(false); n == 0 {
		t.Error("default mode: no packet from the doctor's host (the sniffer hears nothing?)")
	}
}
