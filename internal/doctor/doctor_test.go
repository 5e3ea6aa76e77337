package doctor

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/chorus-services/discovery/internal/sniff"
	"github.com/chorus-services/discovery/mdns/transport"
)

const procNetUDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  335: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 21335 2 0000000000000000 0
  742: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 24680 2 0000000000000000 0
  742: FB0000E0:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 13579 2 0000000000000000 0
  743: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 55555 2 0000000000000000 0
  744: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 77777 2 0000000000000000 0
`

const procNetUDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  742: 00000000000000000000000000000000:14E9 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 24681 2 0000000000000000 0
  900: 000080FE000000000000000001000000:14E9 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 24682 2 0000000000000000 0
  901: 000080FE000000000000000001000000:1F90 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 24683 2 0000000000000000 0
`

func TestDoctorParseProcNetUDP(t *testing.T) {
	socks, err := ParseProcNetUDP(strings.NewReader(procNetUDP), 5353)
	if err != nil {
		t.Fatal(err)
	}
	want := []Socket{
		{netip.MustParseAddr("0.0.0.0"), 5353, 104, 24680},
		{netip.MustParseAddr("224.0.0.251"), 5353, 0, 13579},
		{netip.MustParseAddr("0.0.0.0"), 5353, 1000, 55555},
		{netip.MustParseAddr("0.0.0.0"), 5353, 0, 77777},
	}
	if len(socks) != len(want) {
		t.Fatalf("got %+v", socks)
	}
	for i := range want {
		if socks[i] != want[i] {
			t.Errorf("socket %d: %+v, want %+v", i, socks[i], want[i])
		}
	}
	socks, err = ParseProcNetUDP(strings.NewReader(procNetUDP6), 5353)
	if err != nil || len(socks) != 2 || socks[0].Addr != netip.IPv6Unspecified() || socks[1].Addr != netip.MustParseAddr("fe80::1") || socks[1].Inode != 24682 {
		t.Errorf("udp6: %+v %v", socks, err)
	}
	for _, bad := range []string{
		"  1: 0000000014E9 00000000:0000 07 0 0 0 0 0 1 2\n",
		"  1: 0000000:14E9 00000000:0000 07 0 0 0 0 0 1 2\n",
		"  1: 00000000:14E9 00000000:0000 07 0 0 0 0 0 x 2\n",
	} {
		if _, err := ParseProcNetUDP(strings.NewReader(bad), 5353); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestDoctorFindHolders runs over a fake /proc tree.
func TestDoctorFindHolders(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := FindHolders(t.TempDir(), 5353, 0); err == nil {
			t.Error("no error outside Linux")
		}
		return
	}
	root := t.TempDir()
	write := func(path, data string) {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(pid, fd, target string) {
		if err := os.MkdirAll(filepath.Join(root, pid, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, pid, "fd", fd)); err != nil {
			t.Fatal(err)
		}
	}
	write("net/udp", procNetUDP)
	write("net/udp6", procNetUDP6)
	write("100/comm", "avahi-daemon\n")
	link("100", "12", "socket:[24680]")
	link("100", "13", "socket:[24681]")
	link("100", "14", "socket:[24682]")
	link("100", "0", "/dev/null")
	write("200/comm", "systemd-resolve\n")
	link("200", "5", "socket:[13579]")
	link("200", "6", "socket:[21335]")
	write("300/comm", "p2p-mdns\n")
	link("300", "3", "socket:[77777]")
	write("self/comm", "not a pid\n")

	hs, err := FindHolders(root, 5353, 300)
	if err != nil {
		t.Fatal(err)
	}
	want := []Holder{{0, "", 1000}, {100, "avahi-daemon", 104}, {200, "systemd-resolve", 0}}
	if len(hs) != len(want) {
		t.Fatalf("got %+v", hs)
	}
	for i := range want {
		if hs[i] != want[i] {
			t.Errorf("holder %d: %+v, want %+v", i, hs[i], want[i])
		}
	}
	if s := hs[0].String(); !strings.Contains(s, "uid 1000") {
		t.Errorf("unknown holder %q", s)
	}
	if s := hs[1].String(); s != "avahi-daemon (pid 100)" {
		t.Errorf("holder %q", s)
	}
	if _, err := FindHolders(filepath.Join(root, "missing"), 5353, 0); err == nil {
		t.Error("missing proc: no error")
	}
}

func TestDoctorCanSeeUs(t *testing.T) {
	ours := "_p2p._udp.local."
	for flavour, want := range map[string]string{
		"go":      "yes: go-libp2p finds us",
		"js":      "js-libp2p peers cannot be found by go-libp2p peers: they send no SRV/A/AAAA",
		"rust":    "ephemeral port with IP TTL 1, which we accept",
		"dnssd":   "dnsaddr TXT strings",
		"unknown": "unknown",
	} {
		if got := CanSeeUs(flavour, "_P2P._udp.local", ours); !strings.Contains(got, want) {
			t.Errorf("%s: %q lacks %q", flavour, got, want)
		}
	}
	if got := CanSeeUs("rust", "_p2p._udp.local.", ours); !strings.Contains(got, "IPv4 only") || !strings.Contains(got, "additional section") {
		t.Errorf("rust: %q", got)
	}
	if got := CanSeeUs("go", "chorus.local.", ours); !strings.HasPrefix(got, "no:") || !strings.Contains(got, "same service tag") {
		t.Errorf("other service: %q", got)
	}
}

func statuses(fs []Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Status)
	}
	return strings.Join(s, ",")
}

func TestDoctorInterfaceFindings(t *testing.T) {
	lan := Iface{Name: "lan0", Index: 2, Up: true, Running: true, Multicast: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.12/24")}}
	lo := Iface{Name: "lo", Index: 1, Up: true, Running: true, Multicast: false, Loopback: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}}
	tun := Iface{Name: "tun0", Index: 3, Up: true, Running: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.8.0.2/24")}}
	down := lan
	down.Up, down.Running = false, false
	v6only := lan
	v6only.Prefixes = []netip.Prefix{netip.MustParsePrefix("fe80::1/64")}

	if got := statuses(InterfaceFindings([]Iface{lo, lan, tun}, nil, false, true, true)); got != "ok,info" {
		t.Errorf("lan0 + tun0: %s", got)
	}
	fs := InterfaceFindings([]Iface{lo, down, tun}, nil, false, true, true)
	// A down interface is no green tick: with nothing usable it is what to fix.
	if got := statuses(fs); got != "warn,info,fail" || !strings.Contains(fs[1].Message, "multicast") || fs[0].Hint != "ip link set lan0 up" {
		t.Errorf("down + tun0: %s %+v", got, fs)
	}
	fs = InterfaceFindings([]Iface{lo, down}, []string{"lan0"}, false, true, true)
	if got := statuses(fs); got != "warn,fail" || fs[0].Hint != "ip link set lan0 up" {
		t.Errorf("named down: %s %+v", got, fs)
	}
	if got := statuses(InterfaceFindings([]Iface{lan}, []string{"eth9"}, false, true, true)); got != "fail,fail" {
		t.Errorf("missing: %s", got)
	}
	if got := statuses(InterfaceFindings([]Iface{v6only}, nil, false, true, false)); got != "info,fail" {
		t.Errorf("v6 only with IPv6 off: %s", got)
	}
	noCarrier := lan
	noCarrier.Running = false
	if got := statuses(InterfaceFindings([]Iface{noCarrier}, nil, false, true, true)); got != "warn" {
		t.Errorf("no carrier: %s", got)
	}
}

func TestDoctorSocketFindings(t *testing.T) {
	both := transport.Interface{Name: "lan0", V4: true, V6: true}
	v4 := transport.Interface{Name: "wlan0", V4: true}
	prob := transport.Problem{Interface: "wlan0", Family: "ipv6", Step: "join", Err: errors.New("no address")}
	if got := statuses(SocketFindings([]transport.Interface{both, v4}, []transport.Problem{prob}, nil, true, true)); got != "warn,ok,ok" {
		t.Errorf("got %s", got)
	}
	fs := SocketFindings(nil, nil, transport.ErrNoInterface, true, true)
	if statuses(fs) != "fail" || !strings.Contains(fs[0].Hint, "interface") {
		t.Errorf("no interface: %+v", fs)
	}
	fs = SocketFindings(nil, nil, syscall.EADDRINUSE, true, true)
	if statuses(fs) != "fail" || !strings.Contains(fs[0].Hint, "port 5353") {
		t.Errorf("in use: %+v", fs)
	}
	if got := statuses(SocketFindings([]transport.Interface{{Name: "lan0"}}, nil, nil, true, true)); got != "warn,fail" {
		t.Errorf("nothing joined: %s", got)
	}
}

func TestDoctorPortFinding(t *testing.T) {
	avahi := Holder{PID: 7, Name: "avahi-daemon"}
	resolved := Holder{PID: 8, Name: "systemd-resolved"}
	if f := PortFinding([]Holder{avahi}, nil, nil); f.Status != StatusOK || !strings.Contains(f.Message, "avahi-daemon (pid 7)") || !strings.Contains(f.Message, "sharing works") {
		t.Errorf("shared: %+v", f)
	}
	if f := PortFinding([]Holder{resolved}, nil, syscall.EADDRINUSE); f.Status != StatusFail || !strings.Contains(f.Hint, "MulticastDNS=no") {
		t.Errorf("resolved exclusive: %+v", f)
	}
	if f := PortFinding([]Holder{avahi}, nil, transport.ErrNoInterface); f.Status != StatusOK {
		t.Errorf("join failure is not the port's: %+v", f)
	}
	if f := PortFinding(nil, nil, nil); f.Status != StatusOK {
		t.Errorf("alone: %+v", f)
	}
	if f := PortFinding(nil, errors.New("only supported on Linux"), nil); f.Status != StatusOK || !strings.Contains(f.Message, "not checked") {
		t.Errorf("skipped: %+v", f)
	}
}

func TestDoctorRouteAndIPv6(t *testing.T) {
	if f := routeFinding("224.0.0.251", "lan0", nil, []string{"lan0"}); f.Status != StatusOK {
		t.Errorf("%+v", f)
	}
	if f := routeFinding("224.0.0.251", "", syscall.ENETUNREACH, []string{"wlan0"}); f.Status != StatusWarn || f.Hint != "ip route add 224.0.0.0/4 dev wlan0" {
		t.Errorf("%+v", f)
	}
	if f := routeFinding("224.0.0.251", "docker0", nil, []string{"wlan0"}); f.Status != StatusWarn || !strings.Contains(f.Message, "docker0") {
		t.Errorf("%+v", f)
	}
	if f := routeFinding("ff02::fb", "", syscall.ENETUNREACH, nil); !strings.HasPrefix(f.Hint, "ip -6 route add") {
		t.Errorf("%+v", f)
	}
	if f := IPv6Finding(false, []transport.Interface{{Name: "lan0", V6: true}}, nil, false); f.Status != StatusOK {
		t.Errorf("%+v", f)
	}
	if f := IPv6Finding(false, []transport.Interface{{Name: "lan0", V4: true}}, nil, true); f.Status != StatusWarn || !strings.Contains(f.Message, "disable_ipv6") {
		t.Errorf("%+v", f)
	}
	if f := IPv6Finding(true, nil, nil, false); f.Status != StatusOK {
		t.Errorf("%+v", f)
	}
}

func TestDoctorActiveFindings(t *testing.T) {
	goPeer := PeerSeen{ID: "a", Flavour: "go", Found: true}
	fs := ActiveFindings(BrowseStats{QueriesSent: 5}, 0, 3, nil, nil, true)
	if statuses(fs) != "warn,warn" || !strings.Contains(fs[0].Message, "without any response") || !strings.Contains(fs[0].Hint, "firewall on UDP 5353") || !strings.Contains(fs[0].Message, "inbound multicast works") {
		t.Errorf("silence: %+v", fs)
	}
	fs = ActiveFindings(BrowseStats{QueriesSent: 5, DroppedTTL: 1}, 4, 0, []string{"response from 198.51.100.11 with TTL 64 (unicast)"}, []PeerSeen{goPeer}, true)
	if statuses(fs) != "ok,ok,ok" || !strings.Contains(fs[1].Message, "TTL 64") || !strings.Contains(fs[2].Message, "1 go") {
		t.Errorf("found: %+v", fs)
	}
	fs = ActiveFindings(BrowseStats{QueriesSent: 5, DroppedTTL: 2}, 4, 0, nil, nil, true)
	if statuses(fs) != "ok,warn,ok" {
		t.Errorf("ttl drops, no peer: %+v", fs)
	}
	if statuses(ActiveFindings(BrowseStats{}, 0, 0, nil, nil, true)) != "warn,warn" {
		t.Error("no query sent")
	}
	// None of these fail: silence is a warning, not a verdict.
	for _, f := range fs {
		if f.Status == StatusFail {
			t.Errorf("fail %+v", f)
		}
	}
}

// TestDoctorCollector merges raw packets and browser results.
func TestDoctorCollector(t *testing.T) {
	own := netip.MustParseAddr("198.51.100.12")
	c := newCollector("_p2p._udp.local.", []transport.Interface{{Prefixes: []netip.Prefix{netip.PrefixFrom(own, 24)}}})
	other := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.11"), 5353)
	c.packet(&sniff.Report{Kind: "query"}, netip.AddrPortFrom(own, 5353), 255, true)
	c.packet(&sniff.Report{Kind: "query"}, other, 255, true)
	c.packet(&sniff.Report{Kind: "response", Iface: "lan0", Peers: []sniff.Peer{
		{ID: "js1", Flavour: "js", Service: "_p2p._udp.local.", Addrs: []string{"/ip4/198.51.100.11/tcp/1"}},
		{ID: "x", Flavour: "go", Service: "other.local.", Addrs: []string{"/ip4/198.51.100.11/tcp/2"}},
	}}, other, 64, false)
	c.found(Found{ID: "js1", Flavour: "js", Addrs: []string{"/ip4/198.51.100.11/tcp/1", "/ip4/198.51.100.11/tcp/3"}})
	r := c.result()
	if r.responses != 1 || r.queriesHeard != 1 || len(r.badTTL) != 1 || !strings.Contains(r.badTTL[0], "TTL 64 (unicast)") {
		t.Errorf("counts %+v", r)
	}
	if len(r.peers) != 2 || r.peers[0].ID != "js1" || !r.peers[0].Found || len(r.peers[0].Addrs) != 2 || r.peers[0].Iface != "lan0" ||
		!strings.Contains(r.peers[0].CanSeeUs, "go-libp2p") || r.peers[1].Found || !strings.HasPrefix(r.peers[1].CanSeeUs, "no:") {
		t.Errorf("peers %+v", r.peers)
	}
}

func TestDoctorReportOK(t *testing.T) {
	r := Report{Findings: []Finding{{CheckInterfaces, StatusOK, "a", ""}, {CheckQueries, StatusWarn, "b", "h"}}}
	var b strings.Builder
	if !r.OK() || len(r.Reasons()) != 0 || r.WriteText(&b) != nil || !strings.Contains(b.String(), "can work") || !strings.Contains(b.String(), "hint: h") {
		t.Errorf("ok report: %s", b.String())
	}
	r.Findings = append(r.Findings, Finding{CheckSockets, StatusFail, "c", ""})
	b.Reset()
	if r.OK() || r.Reasons()[0] != "sockets: c" || r.WriteText(&b) != nil || !strings.Contains(b.String(), "✗ sockets") {
		t.Errorf("failed report: %s", b.String())
	}
}

func TestDoctorLoopbackInterface(t *testing.T) {
	lo := Iface{Name: "lo", Index: 1, Up: true, Running: true, Loopback: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}}
	if got := statuses(InterfaceFindings([]Iface{lo}, nil, true, true, true)); got != "ok" {
		t.Errorf("--loopback: %s", got)
	}
	if got := statuses(InterfaceFindings([]Iface{lo}, nil, false, true, true)); got != "fail" {
		t.Errorf("without --loopback: %s", got)
	}
}

// TestDoctorPortExclusive: a family whose socket could not bind 5353 is a
// failure, naming the holder, even when the other family works.
func TestDoctorPortExclusive(t *testing.T) {
	holder := Holder{PID: 9, Name: "python3"}
	probs := []transport.Problem{{Family: "ipv4", Step: "listen", Err: fmt.Errorf("bind: %w", syscall.EADDRINUSE)}}
	fs := PortFindings([]Holder{holder}, nil, nil, probs)
	if len(fs) != 1 || fs[0].Status != StatusFail || !strings.Contains(fs[0].Message, "IPv4") || !strings.Contains(fs[0].Message, "python3 (pid 9)") ||
		strings.Contains(fs[0].Message, "sharing works") {
		t.Errorf("exclusive v4: %+v", fs)
	}
	if fs := PortFindings([]Holder{holder}, nil, nil, nil); len(fs) != 1 || fs[0].Status != StatusOK {
		t.Errorf("shared: %+v", fs)
	}
}

func TestDoctorFirewallFinding(t *testing.T) {
	if f := FirewallFinding(3, 0, []string{"udp dport 5353 drop"}); f.Status != StatusFail || !strings.Contains(f.Message, "udp dport 5353 drop") || !strings.Contains(f.Hint, "5353") {
		t.Errorf("dropped: %+v", f)
	}
	if f := FirewallFinding(3, 2, nil); f.Status != StatusOK {
		t.Errorf("fine: %+v", f)
	}
	if f := FirewallFinding(0, 0, nil); f.Status != StatusWarn {
		t.Errorf("no query: %+v", f)
	}
}

// TestDoctorTagFinding: peers heard only under another tag give a warning
// naming the exact --service to use.
func TestDoctorTagFinding(t *testing.T) {
	ours := "_p2p._udp.local."
	other := PeerSeen{ID: "a", Service: "CHORUS-peer-discovery.local.", Tag: "CHORUS-peer-discovery"}
	f := tagFinding(ours, []PeerSeen{other})
	if f.Status != StatusWarn || !strings.Contains(f.Hint, "--service CHORUS-peer-discovery") || !strings.Contains(f.Message, "_p2p._udp") {
		t.Errorf("mismatch: %+v", f)
	}
	mine := PeerSeen{ID: "b", Service: ours, Tag: "_p2p._udp"}
	if f := tagFinding(ours, []PeerSeen{mine, other}); f.Status != StatusOK || !strings.Contains(f.Hint, "CHORUS-peer-discovery") {
		t.Errorf("mixed: %+v", f)
	}
	if f := tagFinding(ours, []PeerSeen{mine}); f.Status != StatusOK {
		t.Errorf("ours: %+v", f)
	}
	if fs := TagFindings(ours, nil); len(fs) != 0 {
		t.Errorf("no peer: %+v", fs)
	}
}

func TestDoctorVerdict(t *testing.T) {
	for _, tc := range []struct {
		st   []string
		want string
	}{{[]string{"ok", "info"}, "ok"}, {[]string{"ok", "warn", "info"}, "warn"}, {[]string{"warn", "fail", "ok"}, "fail"}} {
		var fs []Finding
		for _, s := range tc.st {
			fs = append(fs, Finding{Status: s})
		}
		if got := verdict(fs); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.st, got, tc.want)
		}
	}
}
