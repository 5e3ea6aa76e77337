package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/doctor"
	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// TestDoctorUsage checks the flag errors, which are found before any socket
// is opened (so this runs anywhere).
func TestDoctorUsage(t *testing.T) {
	for _, args := range [][]string{
		{"doctor", "--bogus"},
		{"doctor", "--ipv4=false", "--ipv6=false"},
		{"doctor", "--duration", "0s"},
		{"doctor", "--service", "a..b"},
		{"doctor", "extra"},
	} {
		var out, errb bytes.Buffer
		if code := realMain(args, &out, &errb); code != 2 {
			t.Errorf("%q: code %d, want 2 (%s)", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := realMain([]string{"doctor", "-h"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "active phase") || !strings.Contains(out.String(), "5s") || !strings.Contains(out.String(), "-passive") {
		t.Errorf("-h: code %d, %q", code, out.String())
	}
	errb.Reset()
	realMain(nil, &out, &errb)
	if !strings.Contains(errb.String(), "doctor") {
		t.Errorf("usage lacks doctor: %q", errb.String())
	}
}

// TestDoctorVerdict checks the exit-code logic: only fail findings make
// discovery impossible, and the error names them.
func TestDoctorVerdict(t *testing.T) {
	ok := doctor.Report{Findings: []doctor.Finding{
		{Check: doctor.CheckInterfaces, Status: doctor.StatusOK, Message: "lan0: up"},
		{Check: doctor.CheckQueries, Status: doctor.StatusWarn, Message: "no response"},
	}}
	if err := doctorVerdict(ok); err != nil {
		t.Errorf("warnings only: %v", err)
	}
	bad := ok
	bad.Findings = append(bad.Findings, doctor.Finding{Check: doctor.CheckSockets, Status: doctor.StatusFail, Message: "the mDNS group is joined on no interface"})
	err := doctorVerdict(bad)
	if err == nil || !strings.Contains(err.Error(), "sockets: the mDNS group is joined on no interface") {
		t.Errorf("fail: %v", err)
	}
	var text, js bytes.Buffer
	if err := printDoctorReport(&text, bad, false); err != nil || !strings.Contains(text.String(), "✗ sockets") || !strings.Contains(text.String(), "cannot work") {
		t.Errorf("text: %v\n%s", err, text.String())
	}
	var back doctor.Report
	if err := printDoctorReport(&js, bad, true); err != nil || json.Unmarshal(js.Bytes(), &back) != nil || len(back.Findings) != 3 || back.Findings[2].Status != "fail" {
		t.Errorf("json: %v\n%s", err, js.String())
	}
}

// runDoctorIn runs `p2p-mdns doctor ARGS --json` in host i and decodes the
// report.
func runDoctorIn(t *testing.T, nt *netns.Net, i int, bin string, args ...string) (doctor.Report, int, string) {
	t.Helper()
	return startDoctorIn(t, nt, i, bin, args...)()
}

// startDoctorIn starts `p2p-mdns doctor ARGS --json` in host i; the
// returned function waits for it and decodes the report.
func startDoctorIn(t *testing.T, nt *netns.Net, i int, bin string, args ...string) func() (doctor.Report, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := nt.Exec(ctx, i, bin, append([]string{"doctor", "--json"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() (doctor.Report, int, string) {
		t.Helper()
		defer cancel()
		code := 0
		if err := cmd.Wait(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("doctor: %v\n%s", err, errb.String())
			}
			code = ee.ExitCode()
		}
		var rep doctor.Report
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("bad JSON report (code %d): %v\n%s\n%s", code, err, out.String(), errb.String())
		}
		t.Logf("doctor in h%d: exit %d\n%s%s", i, code, out.String(), errb.String())
		return rep, code, errb.String()
	}
}

// TestDoctorNetns: with a go-libp2p node in h1 and avahi-daemon in h2, the
// doctor in h2 exits 0, lists the go peer with flavour go and avahi-daemon
// as a holder of port 5353 with which sharing works.
func TestDoctorNetns(t *testing.T) {
	nt := netns.New(t, 2)
	bin := peers.P2PMdns(t)
	peers.StartAvahi(t, nt, 2, "doc-h2")
	node := peers.GoNode(t, nt, 1, "-duration", "20s")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	self := node.WaitSelf(t, ctx)
	id := self.Str("id")

	rep, code, _ := runDoctorIn(t, nt, 2, bin, "--iface", netns.LinkName, "--duration", "4s")
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("as a checklist:\n%s", text.String())
	if code != 0 || !rep.OK() {
		t.Errorf("exit %d, ok %v", code, rep.OK())
	}
	var goPeer *doctor.PeerSeen
	for i := range rep.Peers {
		if rep.Peers[i].ID == id {
			goPeer = &rep.Peers[i]
		}
	}
	switch {
	case goPeer == nil:
		t.Errorf("go peer %s not listed", id)
	case goPeer.Flavour != "go" || !goPeer.Found || goPeer.Iface != netns.LinkName || len(goPeer.Addrs) == 0 || !strings.HasPrefix(goPeer.CanSeeUs, "yes"):
		t.Errorf("go peer %+v", *goPeer)
	}
	if rep.QueriesSent == 0 || rep.Responses == 0 {
		t.Errorf("queries %d, responses %d", rep.QueriesSent, rep.Responses)
	}
	var port *doctor.Finding
	for i, f := range rep.Findings {
		if f.Check == doctor.CheckPort {
			port = &rep.Findings[i]
		}
	}
	if port == nil || port.Status != doctor.StatusOK || !strings.Contains(port.Message, "avahi-daemon") || !strings.Contains(port.Message, "sharing works") {
		t.Errorf("port finding %+v", port)
	}
}

// TestDoctorLinkDownNetns: with lan0 down the doctor exits 1 with a fail
// finding about the interfaces.
func TestDoctorLinkDownNetns(t *testing.T) {
	nt := netns.New(t, 2)
	bin := peers.P2PMdns(t)
	if err := nt.SetLinkUp(2, false); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--iface", netns.LinkName}, nil} {
		rep, code, stderr := runDoctorIn(t, nt, 2, bin, append(args, "--duration", "1s")...)
		if code != 1 || rep.OK() {
			t.Errorf("%q: exit %d, ok %v", args, code, rep.OK())
		}
		failed := false
		for _, f := range rep.Findings {
			failed = failed || (f.Check == doctor.CheckInterfaces && f.Status == doctor.StatusFail)
		}
		if !failed || !strings.Contains(stderr, "no usable interface") {
			t.Errorf("%q: no interface failure; stderr %q", args, stderr)
		}
		// The down interface is what to fix: a warning with the command, no tick.
		for _, f := range rep.Findings {
			if f.Check == doctor.CheckInterfaces && strings.HasPrefix(f.Message, netns.LinkName) && (f.Status != doctor.StatusWarn || f.Hint != "ip link set lan0 up") {
				t.Errorf("%q: %+v", args, f)
			}
		}
	}
}

// TestDoctorFlavoursNetns: a js-libp2p node (h1) and a go-libp2p node with
// another service tag (h3); the doctor in h2 lists both, says why go-libp2p
// peers cannot find the js one, and that the other tag does not match.
func TestDoctorFlavoursNetns(t *testing.T) {
	nt := netns.New(t, 3)
	bin := peers.P2PMdns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids := map[string]string{}
	waitSelf := func(name string, p *peers.Proc) {
		self := p.WaitSelf(t, ctx)
		ids[self.Str("id")] = name
	}
	// The js node answers our queries whenever it runs; the go node on
	// the other tag is heard when it queries for its own service and
	// answers itself, which zeroconf does at start and then at growing
	// intervals: start it while the doctor listens.
	waitSelf("js", peers.JSNode(t, nt, 1, "20", "--interval", "1000"))
	wait := startDoctorIn(t, nt, 2, bin, "--iface", netns.LinkName, "--duration", "6s")
	time.Sleep(500 * time.Millisecond)
	waitSelf("other", peers.GoNode(t, nt, 3, "-duration", "20s", "-service", "other-tag"))
	rep, code, _ := wait()
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	seen := map[string]bool{}
	for _, p := range rep.Peers {
		switch ids[p.ID] {
		case "js":
			seen["js"] = true
			if p.Flavour != "js" || !p.Found || !strings.Contains(p.CanSeeUs, "cannot be found by go-libp2p peers") {
				t.Errorf("js peer %+v", p)
			}
		case "other":
			seen["other"] = true
			if p.Flavour != "go" || p.Found || p.Service != "other-tag.local." || !strings.HasPrefix(p.CanSeeUs, "no:") {
				t.Errorf("other-tag peer %+v", p)
			}
		}
	}
	if !seen["js"] || !seen["other"] {
		t.Errorf("peers seen %v: %+v", seen, rep.Peers)
	}
}

// findings returns the findings of rep for check.
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
	rep, code, _ := runDoctorIn(t, nt, 2, peers.P2PMdns(t), "--iface", netns.LinkName, "--duration", "1s")
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
	rep, code, _ := runDoctorIn(t, nt, 2, peers.P2PMdns(t), "--iface", netns.LinkName, "--duration", "1s")
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
	rep, code, _ := runDoctorIn(t, nt, 2, peers.P2PMdns(t), "--iface", netns.LinkName, "--duration", "2s")
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
	bin := peers.P2PMdns(t)
	an := peers.Start(t, "announce@h1", nt.Exec(t.Context(), 1, bin, "announce", "--random", "--json", "--iface", netns.LinkName, "--duration", "30s",
		"--service", "CHORUS-peer-discovery", "--addr", "/ip4/"+nt.Host(1).V4.Addr().String()+"/tcp/4001"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	self, err := an.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == evSelf })
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // its announcements are over: only the doctor's queries make it speak
	rep, code, _ := runDoctorIn(t, nt, 2, peers.P2PMdns(t), "--iface", netns.LinkName, "--duration", "3s")
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
	bin := peers.P2PMdns(t)
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
