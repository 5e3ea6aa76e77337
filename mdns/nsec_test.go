package mdns_test

import (
	"testing"

	"github.com/chorus-services/discovery/mdns"
	"github.com/miekg/dns"
)

// emptyBitmapBlock rewrites the type bitmap of the NSEC record that ends
// packet b into one block with length 0 ("00 00"), which RFC 4034 §4.1.2
// forbids and miekg/dns rejects, fixing the record's rdlength.
func emptyBitmapBlock(t *testing.T, b []byte) []byte {
	t.Helper()
	n := len(b)
	for ll := 1; ll <= 32; ll++ { // the last block is "00 LL <LL bytes>"
		if n-2-ll < 12 || b[n-2-ll] != 0 || int(b[n-1-ll]) != ll {
			continue
		}
		b = b[:n-ll]
		b[len(b)-1] = 0
		// The NSEC header: type 0x002f, class 0x8001, TTL, then rdlength.
		for i := len(b) - 4; i >= 12; i-- {
			if b[i] == 0x00 && b[i+1] == 0x2f && b[i+2] == 0x80 && b[i+3] == 0x01 {
				l := int(b[i+8])<<8 | int(b[i+9]) - ll
				b[i+8], b[i+9] = byte(l>>8), byte(l)
				return b
			}
		}
	}
	t.Fatal("NSEC bitmap not found")
	return nil
}

// TestMalformedNSECDropped: python-zeroconf answers carry an NSEC record
// with an empty type-bitmap block, which miekg/dns rejects. The packet must
// still yield its peer: only the NSEC is dropped.
func TestMalformedNSECDropped(t *testing.T) {
	inst := "py-peer._p2p._udp.local."
	m := response([]dns.RR{ptr(mdns.SpecService, inst, 4500)}, []dns.RR{
		txt(inst, 4500, "dnsaddr=/ip4/198.51.100.11/tcp/4001/p2p/"+testID),
		&dns.NSEC{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeNSEC, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: 4500}, NextDomain: inst, TypeBitMap: []uint16{dns.TypeTXT, dns.TypeSRV}},
	})
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	b = emptyBitmapBlock(t, b)
	var raw dns.Msg
	if err := raw.Unpack(b); err == nil {
		t.Fatal("miekg/dns accepted the empty bitmap block: the test tests nothing")
	}
	got, err := mdns.Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	res := mdns.NewDecoder(mdns.SpecService, 0).Decode(got, false)
	if len(res.Candidates) != 1 || res.Candidates[0].ID.String() != testID {
		t.Fatalf("decoded %+v", res)
	}
	for _, rr := range got.Extra {
		if rr.Header().Rrtype != dns.TypeTXT {
			t.Errorf("left %v", rr)
		}
	}
}
