package sim

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/miekg/dns"
)

func TestClassify(t *testing.T) {
	id, err := identity(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	as, err := addrs(rand.New(rand.NewPCG(1, 1)), netip.MustParseAddr("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := mdns.NewRecordSet(mdns.Peer{PeerName: mdns.NewPeerName(rand.New(rand.NewPCG(1, 2))), ID: id, Addrs: as})
	if err != nil {
		t.Fatal(err)
	}
	one := func(pkts [][]byte, err error) []byte {
		t.Helper()
		if err != nil || len(pkts) == 0 {
			t.Fatalf("pack: %v", err)
		}
		return pkts[0]
	}
	resp := func(r *mdns.Response) ([][]byte, error) { p, _, err := mdns.PackResponse(r); return p, err }
	q := []dns.Question{{Name: mdns.SpecService, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
	known := make([]dns.RR, 60)
	for i := range known {
		known[i] = &dns.PTR{Hdr: dns.RR_Header{Name: mdns.SpecService, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4500},
			Ptr: strings.Repeat("a", 40) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "." + mdns.SpecService}
	}
	multi, err := mdns.PackQuery(&mdns.Query{Questions: q, Known: known})
	if err != nil || len(multi) < 2 {
		t.Fatalf("multi-packet query: %d packets, %v", len(multi), err)
	}
	goodbye := dns.Copy(rs.PTR).(*dns.PTR)
	goodbye.Hdr.Ttl = 0
	cases := []struct {
		name string
		data []byte
		uni  bool
		want pktInfo
	}{
		{"probe", one(mdns.PackQuery(&mdns.Query{Questions: []dns.Question{{Name: rs.Instance, Qtype: dns.TypeANY, Qclass: dns.ClassINET}}, Authority: []dns.RR{rs.SRV}})), false,
			pktInfo{kind: KindProbe}},
		{"query", one(mdns.PackQuery(&mdns.Query{Questions: q})), false, pktInfo{kind: KindQuery, questions: 1}},
		{"query TC", multi[0], false, pktInfo{kind: KindQuery, questions: 1, tc: true, known: strings.Count(string(multi[0]), strings.Repeat("a", 40))}},
		{"continuation", multi[len(multi)-1], false, pktInfo{kind: KindQuery, cont: true, known: strings.Count(string(multi[len(multi)-1]), strings.Repeat("a", 40))}},
		{"announcement", one(resp(&mdns.Response{Answers: []dns.RR{rs.PTR, rs.Meta, rs.SRV}, TXT: rs.TXT, TXTInAnswer: true})), false, pktInfo{kind: KindAnnouncement}},
		{"answer", one(resp(&mdns.Response{Answers: []dns.RR{rs.PTR}, Additional: []dns.RR{rs.SRV}, TXT: rs.TXT})), false, pktInfo{kind: KindResponse}},
		{"unicast answer", one(resp(&mdns.Response{Answers: []dns.RR{rs.PTR}})), true, pktInfo{kind: KindResponse, unicast: true}},
		{"goodbye", one(resp(&mdns.Response{Answers: []dns.RR{goodbye}})), false, pktInfo{kind: KindGoodbye}},
		{"garbage", []byte{1, 2, 3}, false, pktInfo{kind: KindOther}},
	}
	var m dns.Msg
	for _, c := range cases {
		got := classify(&m, c.data, !c.uni)
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
	if multi[0][2]&0x02 == 0 {
		t.Error("first packet of a multi-packet query without TC")
	}
}

func TestCountsAndDist(t *testing.T) {
	var a, b Counts
	a.add(&pktInfo{kind: KindQuery, questions: 1, tc: true, known: 20}, 1400)
	a.add(&pktInfo{kind: KindQuery, cont: true, known: 5}, 300)
	b.add(&pktInfo{kind: KindResponse, unicast: true}, 200)
	a.merge(&b)
	if a.Total() != 3 || a.TotalBytes() != 1900 || a.QueryMessages != 1 || a.QueryTC != 1 || a.QueryContinuations != 1 ||
		a.KnownAnswers != 25 || a.UnicastResponses != 1 || a.Packets[KindQuery] != 2 {
		t.Errorf("counts %+v", a)
	}
	d := dist([]float64{5, 1, 3, 2, 4})
	if d != (Dist{Mean: 3, Min: 1, Median: 3, P99: 5, Max: 5}) {
		t.Errorf("dist %+v", d)
	}
	if got := percentile([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90); got != 9 {
		t.Errorf("p90 = %v", got)
	}
}

func TestParams(t *testing.T) {
	stack := Stack(func(NodeConfig) (Node, error) { return nil, nil })
	p, err := Params{N: 2, Stack: stack}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if p.Family != FamilyV4 || p.Startup != DefaultStartup || p.Steady != DefaultSteady || p.Latency != DefaultLatency ||
		p.QueueLen != DefaultQueueLen || p.Bin != DefaultBin || p.LogLimit != DefaultLogLimit {
		t.Errorf("defaults %+v", p)
	}
	if p, _ := (Params{N: 2, Stack: stack, Steady: -1, Latency: -1}).withDefaults(); p.Steady != 0 || p.Latency != 0 {
		t.Errorf("negative means none: %+v", p)
	}
	for _, bad := range []Params{
		{N: 1, Stack: stack}, {N: 2}, {N: 2, Stack: stack, Family: "v5"}, {N: 2, Stack: stack, Loss: 1},
		{N: 2, Stack: stack, StartJitter: time.Minute}, {N: 2, Stack: stack, QueueLen: -1},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	a, _ := identity(3, 7)
	b, _ := identity(3, 7)
	c, _ := identity(3, 8)
	if a != b || a == c || !strings.HasPrefix(a.String(), "12D3KooW") {
		t.Errorf("identities %s %s %s", a, b, c)
	}
}
