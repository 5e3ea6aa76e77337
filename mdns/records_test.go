package mdns_test

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	testID   = "12D3KooWSfsqkSUU6DTgDKK6RuxGJs7poPksfrxQEFwNNvmy32vT"
	testName = "k3v9q0b7x2m4n8p1r5t6w0y3z7a9c2e4"
)

func testPeer(t testing.TB, n int) mdns.Peer {
	t.Helper()
	id, err := peer.Decode(testID)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []ma.Multiaddr
	for i := 0; i < n; i++ {
		var s string
		switch i % 4 {
		case 0:
			s = fmt.Sprintf("/ip4/198.51.100.%d/tcp/4001", 11+i/4)
		case 1:
			s = fmt.Sprintf("/ip4/198.51.100.%d/udp/4001/quic-v1", 11+i/4)
		case 2:
			s = fmt.Sprintf("/ip6/2001:db8:53::%x/tcp/4001", 0x11+i/4)
		case 3:
			s = fmt.Sprintf("/ip6/2001:db8:53::%x/udp/4001/quic-v1", 0x11+i/4)
		}
		addrs = append(addrs, ma.StringCast(s))
	}
	return mdns.Peer{Service: mdns.SpecService, PeerName: testName, ID: id, Addrs: addrs}
}

var hostIPs = []netip.Addr{netip.MustParseAddr("198.51.100.11"), netip.MustParseAddr("2001:db8:53::11")}

// golden compares packets with testdata/golden/<name>.hex (one packet per
// line, hex), rewriting it with -update.
func golden(t *testing.T, name string, packets [][]byte) {
	t.Helper()
	var b strings.Builder
	for _, p := range packets {
		b.WriteString(hex.EncodeToString(p))
		b.WriteByte('\n')
	}
	path := filepath.Join("..", "testdata", "golden", name+".hex")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./mdns -run Golden -update to create)", err)
	}
	if string(want) != b.String() {
		t.Errorf("%s: packets differ from golden file %s", name, path)
	}
}

func TestServiceName(t *testing.T) {
	ok := map[string]string{
		"":                      "_p2p._udp.local.",
		"_p2p._udp":             "_p2p._udp.local.",
		"CHORUS-peer-discovery": "CHORUS-peer-discovery.local.",
		"CHORUS-dev":            "CHORUS-dev.local.",
		".CHORUS-dev.":          "CHORUS-dev.local.",
		"_chorus._tcp":          "_chorus._tcp.local.",
	}
	for tag, want := range ok {
		got, err := mdns.ServiceName(tag)
		if err != nil || got != want {
			t.Errorf("ServiceName(%q) = %q, %v; want %q", tag, got, err, want)
		}
	}
	bad := []string{".", "a..b", strings.Repeat("x", 64), "a,_sub", "has space", "x.local", "tab\there", "é", strings.Repeat("abcdefgh.", 30)}
	for _, tag := range bad {
		if got, err := mdns.ServiceName(tag); err == nil || !errors.Is(err, mdns.ErrBadTag) {
			t.Errorf("ServiceName(%q) = %q, %v; want ErrBadTag", tag, got, err)
		}
	}
}

// TestServiceTag: ServiceTag undoes ServiceName, keeping the case.
func TestServiceTag(t *testing.T) {
	for _, tag := range []string{"_p2p._udp", "CHORUS-peer-discovery", "a.b"} {
		name, err := mdns.ServiceName(tag)
		if err != nil {
			t.Fatal(err)
		}
		if got := mdns.ServiceTag(name); got != tag {
			t.Errorf("ServiceTag(%q) = %q, want %q", name, got, tag)
		}
	}
	for in, want := range map[string]string{"x.LOCAL.": "x", "x.local": "x", "local.": "local", "_http._tcp.example.": "_http._tcp.example"} {
		if got := mdns.ServiceTag(in); got != want {
			t.Errorf("ServiceTag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewPeerName(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		n := mdns.NewPeerName(nil)
		if len(n) < 32 || len(n) > 63 || !mdns.IsPeerName(n) || strings.ToLower(n) != n {
			t.Fatalf("bad peer name %q", n)
		}
		if strings.Contains(n, testID) {
			t.Fatal("peer name contains a peer ID")
		}
		seen[n] = true
	}
	if len(seen) < 1990 {
		t.Fatalf("only %d distinct names in 2000", len(seen))
	}
}

func TestChildLabel(t *testing.T) {
	if l, ok := mdns.ChildLabel("Abc._P2P._udp.local.", "_p2p._udp.local."); !ok || l != "Abc" {
		t.Errorf("got %q %v", l, ok)
	}
	for _, n := range []string{"_p2p._udp.local.", "a.b._p2p._udp.local.", "x.local.", "x_p2p._udp.local."} {
		if _, ok := mdns.ChildLabel(n, "_p2p._udp.local."); ok {
			t.Errorf("%s is not a child", n)
		}
	}
}

// announcement packs the RFC 6762 §8.3 announcement: every record in the
// answer section (TXT last so it can be split).
func announcement(rs *mdns.RecordSet, max int) ([][]byte, int, error) {
	ans := append([]dns.RR{rs.PTR, rs.SRV}, rs.HostRecords(hostIPs)...)
	return mdns.PackResponse(&mdns.Response{Answers: ans, TXT: rs.TXT, TXTInAnswer: true, MaxSize: max})
}

// ptrAnswer packs the answer to a PTR query: PTR in answers, SRV, TXT and
// A/AAAA as additional records (RFC 6763 §12.1).
func ptrAnswer(rs *mdns.RecordSet, max int) ([][]byte, int, error) {
	return mdns.PackResponse(&mdns.Response{Answers: []dns.RR{rs.PTR}, Additional: append([]dns.RR{rs.SRV}, rs.HostRecords(hostIPs)...), TXT: rs.TXT, MaxSize: max})
}

func TestRecordSetGolden(t *testing.T) {
	cases := []struct {
		name  string
		addrs int
		max   int
		pack  func(*mdns.RecordSet, int) ([][]byte, int, error)
		want  int // packets
	}{
		{"announce_8addrs", 8, 1472, announcement, 1},
		{"ptr_answer_8addrs", 8, 1472, ptrAnswer, 1},
		{"ptr_answer_40addrs_v4", 40, 1472, ptrAnswer, 4},
		{"ptr_answer_40addrs_v6", 40, 1452, ptrAnswer, 4},
		{"announce_0addrs", 0, 1472, announcement, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := mdns.NewRecordSet(testPeer(t, c.addrs))
			if err != nil {
				t.Fatal(err)
			}
			pkts, skipped, err := c.pack(rs, c.max)
			if err != nil || skipped != 0 {
				t.Fatalf("pack: %v, skipped %d", err, skipped)
			}
			if len(pkts) != c.want {
				t.Errorf("%d packets, want %d", len(pkts), c.want)
			}
			golden(t, c.name, pkts)
			checkSelfContained(t, rs, pkts, c.max)
		})
	}
}

// checkSelfContained verifies the packing contract: each packet fits, parses,
// carries PTR+SRV+A/AAAA, is read by every decoder, and together they carry
// every address exactly once.
func checkSelfContained(t *testing.T, rs *mdns.RecordSet, pkts [][]byte, max int) {
	t.Helper()
	dec := mdns.NewDecoder(rs.Service, 0)
	union := map[string]int{}
	for i, p := range pkts {
		if len(p) > max {
			t.Errorf("packet %d: %d bytes > %d", i, len(p), max)
		}
		m, err := mdns.Parse(p)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !m.Response || !m.Authoritative || m.Id != 0 || len(m.Question) != 0 {
			t.Errorf("packet %d: header %+v", i, m.MsgHdr)
		}
		res := dec.Decode(m, false)
		if len(rs.Addrs) == 0 {
			continue
		}
		if len(res.Candidates) != 1 || res.Candidates[0].ID != rs.ID || res.Candidates[0].Flavour != mdns.FlavourDiscovery {
			t.Fatalf("packet %d: decoded %+v", i, res)
		}
		for _, a := range res.Candidates[0].Addrs {
			union[a.String()]++
		}
		for view, got := range map[string]map[peer.ID][]ma.Multiaddr{
			"go-libp2p/zeroconf": zeroconfView(m, rs.Service),
			"rust-libp2p":        rustView(m),
			"js-libp2p":          jsView(m),
		} {
			if view == "rust-libp2p" && len(m.Extra) == 0 {
				continue // announcements carry TXT in answers; rust learns from query answers
			}
			if len(got[rs.ID]) != len(res.Candidates[0].Addrs) {
				t.Errorf("packet %d: %s sees %d addrs, want %d", i, view, len(got[rs.ID]), len(res.Candidates[0].Addrs))
			}
		}
	}
	for i, a := range rs.Addrs {
		tr, _ := peer.SplitAddr(a)
		if union[tr.String()] != 1 {
			t.Errorf("addr %d %s carried %d times", i, tr, union[tr.String()])
		}
	}
}

func TestRecordSetShape(t *testing.T) {
	rs, err := mdns.NewRecordSet(testPeer(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	if rs.PTR.Hdr.Name != "_p2p._udp.local." || rs.PTR.Ptr != testName+"._p2p._udp.local." || mdns.IsCacheFlush(rs.PTR) {
		t.Errorf("PTR %v", rs.PTR)
	}
	if rs.SRV.Target != testName+".local." || rs.SRV.Port != 4001 || !mdns.IsCacheFlush(rs.SRV) || rs.SRV.Hdr.Ttl != 120 {
		t.Errorf("SRV %v", rs.SRV)
	}
	if len(rs.TXT.Txt) != 4 || !mdns.IsCacheFlush(rs.TXT) || rs.TXT.Hdr.Ttl != 4500 || rs.PTR.Hdr.Ttl != 4500 {
		t.Errorf("TXT %v", rs.TXT)
	}
	if rs.TXT.Txt[0] != "dnsaddr=/ip4/198.51.100.11/tcp/4001/p2p/"+testID {
		t.Errorf("TXT[0] = %q", rs.TXT.Txt[0])
	}
	if rs.Meta.Hdr.Name != mdns.MetaQuery || rs.Meta.Ptr != "_p2p._udp.local." {
		t.Errorf("meta %v", rs.Meta)
	}
	for _, rr := range rs.HostRecords(hostIPs) {
		if rr.Header().Name != testName+".local." || !mdns.IsCacheFlush(rr) || rr.Header().Ttl != 120 {
			t.Errorf("host record %v", rr)
		}
	}
	gb := mdns.WithTTL([]dns.RR{rs.PTR, rs.TXT}, 0)
	if gb[0].Header().Ttl != 0 || rs.PTR.Hdr.Ttl != 4500 {
		t.Error("WithTTL must copy")
	}
}

func TestRecordSetErrors(t *testing.T) {
	p := testPeer(t, 2)
	other, _ := peer.Decode("12D3KooWHbcHt8rxiyd2YnNxXquxWitt23FNNhZ15F74c7QnqYWb")
	p.Addrs = append(p.Addrs, ma.StringCast("/ip4/198.51.100.9/tcp/1/p2p/"+other.String()))
	if _, err := mdns.NewRecordSet(p); err == nil {
		t.Error("an address with a foreign /p2p ID must be rejected")
	}
	p = testPeer(t, 2)
	p.ID = ""
	if _, err := mdns.NewRecordSet(p); !errors.Is(err, mdns.ErrNoID) {
		t.Errorf("got %v", err)
	}
	p = testPeer(t, 2)
	p.PeerName = "a.b"
	if _, err := mdns.NewRecordSet(p); err == nil {
		t.Error("a peer name with a dot must be rejected")
	}
}

// TestLongAddrSkipped: a dnsaddr string over 255 bytes cannot be one TXT
// character-string; it is skipped and counted, never a pack error.
func TestLongAddrSkipped(t *testing.T) {
	p := testPeer(t, 2)
	p.Addrs = append(p.Addrs, ma.StringCast("/dns4/"+strings.Repeat("a", 63)+"."+strings.Repeat("b", 63)+"."+strings.Repeat("c", 63)+".local/tcp/1"))
	rs, err := mdns.NewRecordSet(p)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Skipped != 1 || len(rs.Strings) != 2 {
		t.Fatalf("skipped %d, strings %d", rs.Skipped, len(rs.Strings))
	}
	if _, _, err := announcement(rs, 1472); err != nil {
		t.Fatal(err)
	}
}

func TestPackTooSmall(t *testing.T) {
	rs, _ := mdns.NewRecordSet(testPeer(t, 2))
	if _, _, err := announcement(rs, 100); !errors.Is(err, mdns.ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
}

// TestPackQueryKnownAnswers: a known-answer list that does not fit is
// continued in further packets with TC set on all but the last (§7.2).
func TestPackQueryKnownAnswers(t *testing.T) {
	var known []dns.RR
	for i := 0; i < 60; i++ {
		known = append(known, &dns.PTR{Hdr: dns.RR_Header{Name: mdns.SpecService, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4500}, Ptr: mdns.NewPeerName(nil) + "." + mdns.SpecService})
	}
	q := &mdns.Query{Questions: []dns.Question{{Name: mdns.SpecService, Qtype: dns.TypePTR, Qclass: dns.ClassINET | mdns.CacheFlushBit}}, Known: known, MaxSize: 1472}
	pkts, err := mdns.PackQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) < 2 {
		t.Fatalf("%d packets", len(pkts))
	}
	total := 0
	for i, p := range pkts {
		m, err := mdns.Parse(p)
		if err != nil || len(p) > 1472 {
			t.Fatalf("packet %d: %v (%d bytes)", i, err, len(p))
		}
		if m.Truncated != (i < len(pkts)-1) {
			t.Errorf("packet %d: TC=%v", i, m.Truncated)
		}
		if (len(m.Question) == 1) != (i == 0) {
			t.Errorf("packet %d: %d questions", i, len(m.Question))
		}
		if k, _ := mdns.Classify(m); k != mdns.KindQuery {
			t.Errorf("packet %d: kind %v", i, k)
		}
		if i == 0 && !mdns.IsQU(m.Question[0]) {
			t.Error("QU bit lost")
		}
		total += len(m.Answer)
	}
	if total != 60 {
		t.Errorf("%d known answers, want 60", total)
	}
}

func TestClassify(t *testing.T) {
	rs, _ := mdns.NewRecordSet(testPeer(t, 2))
	q := &mdns.Query{Questions: []dns.Question{{Name: rs.Instance, Qtype: dns.TypeANY, Qclass: dns.ClassINET}}}
	pk, _ := mdns.PackQuery(q)
	probe := &mdns.Query{Questions: q.Questions, Authority: []dns.RR{rs.SRV, rs.TXT}}
	pp, _ := mdns.PackQuery(probe)
	resp, _, _ := announcement(rs, 1472)
	gb, _, _ := mdns.PackResponse(&mdns.Response{Answers: mdns.WithTTL([]dns.RR{rs.PTR, rs.SRV, rs.TXT}, 0)})
	for want, p := range map[mdns.Kind][]byte{mdns.KindQuery: pk[0], mdns.KindProbe: pp[0], mdns.KindResponse: resp[0], mdns.KindGoodbye: gb[0]} {
		m, err := mdns.Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := mdns.Classify(m); got != want || err != nil {
			t.Errorf("got %v %v, want %v", got, err, want)
		}
	}
	m, _ := mdns.Parse(pk[0])
	m.Opcode = dns.OpcodeUpdate
	if _, err := mdns.Classify(m); !errors.Is(err, mdns.ErrOpcode) {
		t.Errorf("opcode: %v", err)
	}
}
