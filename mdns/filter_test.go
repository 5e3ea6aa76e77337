package mdns_test

import (
	"testing"

	"github.com/chorus-services/discovery/mdns"
	"github.com/miekg/dns"
)

func packMsg(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	m.Compress = true
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func irrelevantPacket(t testing.TB) []byte {
	inst := "Living Room._googlecast._tcp.local."
	m := new(dns.Msg)
	m.Response = true
	m.Answer = []dns.RR{
		&dns.PTR{Hdr: dns.RR_Header{Name: "_googlecast._tcp.local.", Rrtype: dns.TypePTR, Class: 1, Ttl: 120}, Ptr: inst},
		&dns.TXT{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeTXT, Class: 0x8001, Ttl: 4500}, Txt: []string{"id=0123456789abcdef0123456789abcdef", "cd=0123456789ABCDEF", "rm=", "ve=05", "md=Chromecast", "ic=/setup/icon.png", "fn=Living Room", "ca=4101", "st=0", "bs=FA8FCA3A6B0C", "nf=1", "rs="}},
		&dns.SRV{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeSRV, Class: 0x8001, Ttl: 120}, Port: 8009, Target: "0123-4567.local."},
		&dns.A{Hdr: dns.RR_Header{Name: "0123-4567.local.", Rrtype: dns.TypeA, Class: 0x8001, Ttl: 120}, A: []byte{192, 0, 2, 7}},
	}
	return packMsg(t, m)
}

func TestFilter(t *testing.T) {
	f := mdns.NewFilter(mdns.FilterLabels(mdns.SpecService, mdns.MetaQuery, "abcdefghijklmnopqrstuvwxyz012345.local.")...)
	if f.Match(irrelevantPacket(t)) {
		t.Error("irrelevant packet matched")
	}
	for _, name := range []string{"_p2p._udp.local.", "_P2P._UDP.local.", "_services._dns-sd._udp.local.", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345.local.", "x._p2p._udp.local."} {
		m := new(dns.Msg)
		m.Question = []dns.Question{{Name: name, Qtype: dns.TypeANY, Qclass: 1}}
		if !f.Match(packMsg(t, m)) {
			t.Errorf("%s not matched", name)
		}
	}
	// A label that merely contains ours is not ours.
	m := new(dns.Msg)
	m.Question = []dns.Question{{Name: "x_p2p._tcp.local.", Qtype: dns.TypeANY, Qclass: 1}}
	if f.Match(packMsg(t, m)) {
		t.Error("x_p2p matched")
	}
	custom := mdns.NewFilter(mdns.FilterLabels("CHORUS-peer-discovery.local.")...)
	m.Question[0].Name = "chorus-PEER-discovery.local."
	if !custom.Match(packMsg(t, m)) {
		t.Error("custom tag, other case")
	}
	if got := mdns.FilterLabels("_p2p._udp.local.", "x"); len(got) != 2 || got[0] != "_p2p" || got[1] != "x" {
		t.Errorf("FilterLabels %v", got)
	}
}
