package mdns_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/chorus-services/discovery/mdns"
	"github.com/miekg/dns"
)

const otherID = "12D3KooWHbcHt8rxiyd2YnNxXquxWitt23FNNhZ15F74c7QnqYWb"

func txt(owner string, ttl uint32, s ...string) *dns.TXT {
	return &dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: ttl}, Txt: s}
}

func ptr(owner, target string, ttl uint32) *dns.PTR {
	return &dns.PTR{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}, Ptr: target}
}

func response(ans, extra []dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.Response, m.Authoritative = true, true
	m.Answer, m.Extra = ans, extra
	// Round-trip through the wire so the test sees what a receiver sees.
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	out, err := mdns.Parse(b)
	if err != nil {
		panic(err)
	}
	return out
}

func TestDecodeRustForm(t *testing.T) {
	target := "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789."
	m := response([]dns.RR{ptr("_p2p._udp.local.", target, 360)}, []dns.RR{
		txt(target, 360, "dnsaddr=/ip4/198.51.100.11/tcp/4001/p2p/"+testID),
		txt(target, 360, "dnsaddr=/ip6/::1/tcp/4001/p2p/"+testID),
	})
	res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
	if len(res.Candidates) != 1 {
		t.Fatalf("%+v", res)
	}
	c := res.Candidates[0]
	if c.Flavour != mdns.FlavourRust || len(c.Addrs) != 2 || c.ID.String() != testID || c.TTL != 360 || !c.CacheFlush {
		t.Errorf("%+v", c)
	}
}

func TestDecodeJSForm(t *testing.T) {
	inst := strings.Repeat("q", 63) + "._p2p._udp.local."
	m := response([]dns.RR{
		ptr("_p2p._udp.local.", inst, 120),
		txt(inst, 120, "dnsaddr=/ip4/198.51.100.11/tcp/4002/p2p/"+testID),
		txt(inst, 120, "dnsaddr=/ip6/2001:db8::1/tcp/4002/p2p/"+testID),
	}, nil)
	res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
	if len(res.Candidates) != 1 || res.Candidates[0].Flavour != mdns.FlavourJS || len(res.Candidates[0].Addrs) != 2 {
		t.Fatalf("%+v", res)
	}
}

func TestDecodeRejects(t *testing.T) {
	inst := "x._p2p._udp.local."
	cases := map[string]struct {
		strs []string
		err  error
		bad  int
	}{
		"mixed IDs":   {[]string{"dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID, "dnsaddr=/ip4/198.51.100.2/tcp/1/p2p/" + otherID}, mdns.ErrMixedIDs, 0},
		"missing ID":  {[]string{"dnsaddr=/ip4/198.51.100.1/tcp/1"}, mdns.ErrMissingID, 0},
		"bad ID":      {[]string{"dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/QmInvalid"}, nil, 1},
		"not maddr":   {[]string{"dnsaddr=hello", "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID}, nil, 1},
		"bad utf8":    {[]string{"dnsaddr=/ip4/\\255\\254/tcp/1/p2p/" + testID, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID}, nil, 1},
		"other key":   {[]string{"path=/", "DNSADDR=/ip4/198.51.100.1/tcp/1/p2p/" + testID}, nil, 0},
		"only p2p":    {[]string{"dnsaddr=/p2p/" + testID, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID}, nil, 0},
		"duplicates":  {[]string{"dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + testID}, nil, 0},
		"no dnsaddrs": {[]string{"txtvers=1"}, nil, 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := response([]dns.RR{ptr(mdns.SpecService, inst, 120)}, []dns.RR{txt(inst, 120, c.strs...)})
			res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
			if c.err != nil {
				if len(res.Candidates) != 0 || len(res.Rejected) != 1 || !errors.Is(res.Rejected[0].Err, c.err) {
					t.Fatalf("%+v", res)
				}
				return
			}
			if res.BadStrings != c.bad {
				t.Errorf("bad strings %d, want %d", res.BadStrings, c.bad)
			}
			if name == "no dnsaddrs" || name == "bad ID" {
				if len(res.Candidates) != 0 {
					t.Errorf("%+v", res)
				}
				return
			}
			if len(res.Candidates) != 1 || len(res.Candidates[0].Addrs) != 1 || res.Candidates[0].ID.String() != testID {
				t.Fatalf("%+v", res)
			}
		})
	}
}

func TestDecodeMaxAddrs(t *testing.T) {
	inst := "x._p2p._udp.local."
	var strs []string
	for i := 0; i < 1000; i++ {
		strs = append(strs, "dnsaddr=/ip4/10.0."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250)+"/tcp/1/p2p/"+testID)
	}
	// Build the message directly: 1000 strings is > 64 KiB only when packed
	// with long strings; these fit.
	m := new(dns.Msg)
	m.Response = true
	m.Answer = []dns.RR{ptr(mdns.SpecService, inst, 120), txt(inst, 120, strs...)}
	res := mdns.NewDecoder(mdns.SpecService, 64).Decode(m, false)
	if len(res.Candidates) != 1 || len(res.Candidates[0].Addrs) != 64 || res.BadStrings != 1000-64 {
		t.Fatalf("addrs %d, bad %d", len(res.Candidates[0].Addrs), res.BadStrings)
	}
}

func TestDecodeGoodbyeAndWithdrawn(t *testing.T) {
	inst := "Abc._p2p._udp.local."
	m := response([]dns.RR{ptr(mdns.SpecService, inst, 0), txt(inst, 0, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/"+testID)}, nil)
	res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
	if len(res.Candidates) != 1 || res.Candidates[0].TTL != 0 {
		t.Fatalf("%+v", res)
	}
	m = response([]dns.RR{ptr(mdns.SpecService, inst, 0)}, nil)
	res = mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
	if len(res.Withdrawn) != 1 || res.Withdrawn[0] != strings.ToLower(inst) {
		t.Fatalf("%+v", res)
	}
}

func TestDecodeIgnoresOtherServicesAndQueries(t *testing.T) {
	inst := "x._other._tcp.local."
	m := response([]dns.RR{ptr("_other._tcp.local.", inst, 120), txt(inst, 120, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/"+testID)}, nil)
	if res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false); len(res.Candidates) != 0 {
		t.Fatalf("%+v", res)
	}
	q := new(dns.Msg)
	q.Question = []dns.Question{{Name: mdns.SpecService, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
	q.Answer = []dns.RR{ptr(mdns.SpecService, "y._p2p._udp.local.", 120)}
	q.Ns = []dns.RR{txt("y._p2p._udp.local.", 120, "dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/"+testID)}
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	if res := dec.Decode(q, false); len(res.Candidates) != 0 {
		t.Fatalf("queries carry no discovery data: %+v", res)
	}
	if res := dec.Decode(q, true); len(res.Candidates) != 1 {
		t.Fatalf("probe hint: %+v", res)
	}
}

func TestCustomServiceTag(t *testing.T) {
	svc, err := mdns.ServiceName("CHORUS-peer-discovery")
	if err != nil {
		t.Fatal(err)
	}
	p := testPeer(t, 3)
	p.Service = svc
	rs, err := mdns.NewRecordSet(p)
	if err != nil {
		t.Fatal(err)
	}
	pkts, _, err := ptrAnswer(rs, 1472)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := mdns.Parse(pkts[0])
	if got := zeroconfView(m, "CHORUS-peer-discovery.local."); len(got[rs.ID]) != 3 {
		t.Errorf("go-libp2p with the same tag sees %v", got)
	}
	if res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false); len(res.Candidates) != 0 {
		t.Error("a browser of another tag must not see this peer")
	}
	if res := mdns.NewDecoder("chorus-PEER-discovery.local.", 0).Decode(m, false); len(res.Candidates) != 1 {
		t.Error("service names compare case-insensitively")
	}
}
