package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// nsecEnvBefore names another p2p-mdns binary (e.g. one built before
// negative answers) to measure beside this one: what the queriers do with
// it is logged, nothing about it is asserted.
const nsecEnvBefore = "DISCOVERY_NSEC_BEFORE_BIN"

const (
	nsecPeer = "nsecpeer0000000000000000000000000" // the instance label announced
	nsecHost = nsecPeer + ".local."
)

// nsecRec is one record of a `p2p-mdns sniff --json` line.
type nsecRec struct {
	Section, Name, Type, Data string
	TTL                       uint32
	Flush                     bool
}

// nsecTally is what the sniffer saw about our host name: the questions of
// the querier, and the records of our responder.
type nsecTally struct {
	asked map[string]int // questions of the querier for our host name, by type
	ours  []nsecRec      // records of our host name in our responses
}

func (n nsecTally) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "querier asked A %d×, AAAA %d×; we sent", n.asked["A"], n.asked["AAAA"])
	for _, r := range n.ours {
		fmt.Fprintf(&b, " [%s %s %q ttl %d flush %v]", r.Section, r.Type, r.Data, r.TTL, r.Flush)
	}
	return b.String()
}

// sniffTally reads `p2p-mdns sniff --json` output.
func sniffTally(out, querier, responder string) nsecTally {
	n := nsecTally{asked: map[string]int{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Kind    string    `json:"kind"`
			Src     string    `json:"src"`
			Records []nsecRec `json:"records"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		for _, r := range l.Records {
			switch {
			case !strings.EqualFold(r.Name, nsecHost):
			case strings.HasPrefix(l.Src, querier+":") && r.Section == "qd":
				n.asked[r.Type]++
			case strings.HasPrefix(l.Src, responder+":") && l.Kind == "response":
				n.ours = append(n.ours, r)
			}
		}
	}
	return n
}

// nsecLAN is an IPv4-only LAN: `p2p-mdns announce` in host 1 (announced),
// `p2p-mdns sniff` in host 3, host 2 free for a querier.
type nsecLAN struct {
	nt       *netns.Net
	announce *exec.Cmd
	sniff    *exec.Cmd
	sniffOut strings.Builder
}

func startNSECLAN(t *testing.T, bin string) *nsecLAN {
	t.Helper()
	l := &nsecLAN{nt: netns.New(t, 3, netns.WithoutIPv6())}
	l.sniff = l.nt.Exec(t.Context(), 3, bin, "sniff", "--json", "--iface", netns.LinkName, "--duration", "60s")
	l.sniff.Stdout = &l.sniffOut
	l.announce = l.nt.Exec(t.Context(), 1, bin, "announce", "--random", "--name", nsecPeer, "--iface", netns.LinkName,
		"--addr", "/ip4/"+l.nt.Host(1).V4.Addr().String()+"/tcp/4001", "--duration", "60s")
	for _, c := range []*exec.Cmd{l.sniff, l.announce} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Second) // probing and announcements (≤ 4 s), then past the 1 s rate limit
	return l
}

// stop ends announce (with goodbyes) and sniff, and tallies the capture.
func (l *nsecLAN) stop(t *testing.T) nsecTally {
	t.Helper()
	for _, c := range []*exec.Cmd{l.announce, l.sniff} {
		if err := c.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(); err != nil {
			t.Errorf("%s: %v", c.Args, err)
		}
	}
	return sniffTally(l.sniffOut.String(), l.nt.Host(2).V4.Addr().String(), l.nt.Host(1).V4.Addr().String())
}

// checkNSECAnswers fails unless every record we sent about the host name
// is its A record or its NSEC listing A only, unique with TTL 120 s (RFC
// 6762 §6.1), and at least one NSEC was sent in the given section.
func checkNSECAnswers(t *testing.T, n nsecTally, section string) {
	t.Helper()
	nsecs := 0
	for _, r := range n.ours {
		switch {
		case r.Type == "A":
		case r.Type == "NSEC" && r.Data == nsecHost+" A" && r.TTL == 120 && r.Flush:
			if r.Section == section {
				nsecs++
			}
		default:
			t.Errorf("unexpected record of our host name: %+v", r)
		}
	}
	if nsecs == 0 {
		t.Errorf("no NSEC in section %s: %v", section, n)
	}
}

// nsecBins returns the binaries to run: this one, and the one named by
// DISCOVERY_NSEC_BEFORE_BIN.
func nsecBins(t *testing.T) (this string, before string) {
	t.Helper()
	if testing.Short() {
		t.Skip("namespace tests do not run with -short")
	}
	return peers.P2PMdns(t), os.Getenv(nsecEnvBefore)
}

// TestNSECAvahiNetns: on an IPv4-only link, avahi-daemon resolving our
// host name (BCT: NSEC / negative responses, on the wire with a real
// querier). `avahi-resolve -6` asks AAAA and gets our NSEC listing A only
// in the answer section each time; `avahi-resolve` (both families) gets
// the A record with that NSEC and resolves the IPv4 address; `avahi-resolve
// -4` gets the A record with the NSEC as additional (§6.2). Avahi 0.8
// keeps no negative cache: it asks AAAA as often with or without the NSEC
// (the counts are logged, and measured for an older binary when
// DISCOVERY_NSEC_BEFORE_BIN is set).
func TestNSECAvahiNetns(t *testing.T) {
	this, before := nsecBins(t)
	run := func(t *testing.T, bin string, args ...string) (nsecTally, string) {
		l := startNSECLAN(t, bin)
		av := peers.StartAvahi(t, l.nt, 2, "querier-h2")
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		defer cancel()
		out, _ := av.Command(ctx, "avahi-resolve", append(args, "-n", strings.TrimSuffix(nsecHost, "."))...).CombinedOutput()
		return l.stop(t), strings.TrimSpace(string(out))
	}
	t.Run("AAAA", func(t *testing.T) {
		n, out := run(t, this, "-6")
		t.Logf("avahi-resolve -6: %s; %s", out, n)
		if n.asked["AAAA"] == 0 || !strings.Contains(out, "Timeout") {
			t.Errorf("avahi-resolve -6 %q: %v", out, n)
		}
		checkNSECAnswers(t, n, "an")
	})
	t.Run("both", func(t *testing.T) {
		n, out := run(t, this)
		t.Logf("avahi-resolve: %s; %s", out, n)
		if !strings.Contains(out, "\t"+"198.51.100.11") {
			t.Errorf("avahi-resolve: %q", out)
		}
		checkNSECAnswers(t, n, "an")
	})
	t.Run("A", func(t *testing.T) {
		n, out := run(t, this, "-4")
		t.Logf("avahi-resolve -4: %s; %s", out, n)
		if !strings.Contains(out, "\t"+"198.51.100.11") {
			t.Errorf("avahi-resolve -4: %q", out)
		}
		checkNSECAnswers(t, n, "ar")
	})
	if before != "" {
		for _, args := range [][]string{{"-6"}, nil, {"-4"}} {
			n, out := run(t, before, args...)
			t.Logf("before (%s), avahi-resolve %v: %s; %s", before, args, out, n)
		}
	}
}

// TestNSECPythonZeroconfNetns: python-zeroconf (Debian's) asks AAAA of our
// host name on an IPv4-only link and caches our answer: one NSEC for the
// host name, next name itself, types [A], TTL 120 s, unique (RFC 6762
// §6.1), parsed from the restricted form we send.
func TestNSECPythonZeroconfNetns(t *testing.T) {
	this, before := nsecBins(t)
	run := func(t *testing.T, bin string) (nsecTally, []peers.Event) {
		l := startNSECLAN(t, bin)
		p := peers.Python(t, l.nt, 2, "zc_nsec.py", "--host", nsecHost, "--tries", "3")
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if _, err := p.WaitFor(ctx, func(e peers.Event) bool { return e.Str("event") == "stopped" }); err != nil {
			t.Fatal(err)
		}
		return l.stop(t), p.Events()
	}
	n, evs := run(t, this)
	t.Logf("python-zeroconf: %v; %s", evs, n)
	checkNSECAnswers(t, n, "an")
	var got []peers.Event
	for _, e := range evs {
		if e.Str("event") == "nsec" {
			got = append(got, e)
		}
	}
	if len(got) != 1 || !strings.EqualFold(got[0].Str("name"), nsecHost) || !strings.EqualFold(got[0].Str("next"), nsecHost) ||
		fmt.Sprint(got[0]["types"]) != "[1]" || got[0]["ttl"] != 120.0 || got[0]["unique"] != true {
		t.Errorf("python-zeroconf cached %v, want one NSEC %s → itself, types [1] (A), TTL 120, unique", got, nsecHost)
	}
	if slices.ContainsFunc(evs, func(e peers.Event) bool { return e.Str("event") == "address" }) {
		t.Errorf("python-zeroconf cached an address record for an AAAA question: %v", evs)
	}
	if before != "" {
		n, evs := run(t, before)
		t.Logf("before (%s), python-zeroconf: %v; %s", before, evs, n)
	}
}
