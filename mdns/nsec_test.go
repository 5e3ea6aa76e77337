package mdns_test

import (
	"bytes"
	"errors"
	"slices"
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

// wireName is name in uncompressed wire form (RFC 1035 §3.1).
func wireName(t *testing.T, name string) []byte {
	t.Helper()
	b := make([]byte, 256)
	n, err := dns.PackDomainName(name, b, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestNSECRecord: the restricted NSEC of RFC 6762 §6.1, byte for byte:
// owner, type 47, class IN with the cache-flush bit, TTL, rdlength, the
// owner again as next domain name (uncompressed, as miekg/dns packs it),
// then one bitmap block number 0 of 1–32 bytes, bit n of the block set for
// type n (RFC 4034 §4.1.2). Unpacked again, it is the same record.
func TestNSECRecord(t *testing.T) {
	rs, err := mdns.NewRecordSet(testPeer(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	host, inst := wireName(t, rs.Host), wireName(t, rs.Instance)
	for _, c := range []struct {
		name   string
		rr     *dns.NSEC
		owner  []byte
		bitmap []byte
	}{
		// A = 1: block 0, 1 byte, bit 1 (0x40).
		{"host, IPv4 only", rs.HostNSEC(true, false), host, []byte{0, 1, 0x40}},
		// AAAA = 28: byte 3, bit 4 (0x08).
		{"host, IPv6 only", rs.HostNSEC(false, true), host, []byte{0, 4, 0, 0, 0, 0x08}},
		{"host, dual stack", rs.HostNSEC(true, true), host, []byte{0, 4, 0x40, 0, 0, 0x08}},
		// TXT = 16: byte 2, bit 0 (0x80); SRV = 33: byte 4, bit 1 (0x40).
		{"instance", rs.InstanceNSEC(), inst, []byte{0, 5, 0, 0, 0x80, 0, 0x40}},
	} {
		rdlen := len(c.owner) + len(c.bitmap)
		want := cat(c.owner, []byte{0x00, 0x2f, 0x80, 0x01, 0, 0, 0, 120, byte(rdlen >> 8), byte(rdlen)}, c.owner, c.bitmap)
		buf := make([]byte, 512)
		n, err := dns.PackRR(c.rr, buf, 0, nil, false)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, buf[:n], want)
		}
		back, _, err := dns.UnpackRR(buf[:n], 0)
		if err != nil || !mdns.SameRecord(back, c.rr) || back.Header().Ttl != 120 || !mdns.IsCacheFlush(back) {
			t.Errorf("%s: round trip %v, %v", c.name, back, err)
		}
	}
	if rs.HostNSEC(false, false) != nil {
		t.Error("an NSEC for a host name without addresses (an empty bitmap)")
	}
	for _, c := range []struct {
		types []uint16
		err   error
	}{{nil, mdns.ErrNSECNoTypes}, {[]uint16{dns.TypeA, 256}, mdns.ErrNSECHighType}, {[]uint16{dns.TypeNSEC}, mdns.ErrNSECSelf}} {
		if _, err := mdns.NSEC("h.local.", 120, c.types...); !errors.Is(err, c.err) {
			t.Errorf("NSEC(%v): %v, want %v", c.types, err, c.err)
		}
	}
	n, _ := mdns.NSEC("h.local.", 1, dns.TypeAAAA, dns.TypeA, dns.TypeA)
	if !slices.Equal(n.TypeBitMap, []uint16{dns.TypeA, dns.TypeAAAA}) {
		t.Errorf("bitmap %v: not sorted and unique", n.TypeBitMap)
	}
	if !mdns.NSECDenies(n, dns.TypeTXT) || mdns.NSECDenies(n, dns.TypeA) || mdns.NSECDenies(n, dns.TypeNSEC) || mdns.NSECDenies(n, dns.TypeANY) {
		t.Error("NSECDenies")
	}
}

// TestNSECInResponse: an A answer with the host name's NSEC as additional
// (RFC 6762 §6.2 on an IPv4-only link), packed by PackResponse: the NSEC's
// owner is compressed to a pointer to the A record's name (offset 12), its
// next domain name is not. Parsed back, the NSEC is the same record, and a
// PTR answer carrying it still decodes to its peer.
func TestNSECInResponse(t *testing.T) {
	rs, err := mdns.NewRecordSet(testPeer(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	a := rs.HostRecords(hostIPs[:1])
	nsec := rs.HostNSEC(true, false)
	pkts, _, err := mdns.PackResponse(&mdns.Response{Answers: a, Additional: []dns.RR{nsec}})
	if err != nil || len(pkts) != 1 {
		t.Fatalf("%d packets, %v", len(pkts), err)
	}
	host := wireName(t, rs.Host)
	want := cat([]byte{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 1}, // ID 0, QR AA, 1 answer, 1 additional
		host, []byte{0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 198, 51, 100, 11},
		[]byte{0xc0, 12, 0, 0x2f, 0x80, 1, 0, 0, 0, 120, 0, byte(len(host) + 3)}, host, []byte{0, 1, 0x40})
	if !bytes.Equal(pkts[0], want) {
		t.Errorf("packet:\n got %x\nwant %x", pkts[0], want)
	}
	m, err := mdns.Parse(pkts[0])
	if err != nil || len(m.Extra) != 1 || !mdns.SameRecord(m.Extra[0], nsec) {
		t.Fatalf("parsed %v, %v", m, err)
	}
	pkts, _, err = mdns.PackResponse(&mdns.Response{Answers: []dns.RR{rs.PTR}, Additional: append([]dns.RR{rs.SRV}, append(a, nsec)...), TXT: rs.TXT})
	if err != nil {
		t.Fatal(err)
	}
	if m, err = mdns.Parse(pkts[0]); err != nil {
		t.Fatal(err)
	}
	res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
	if len(res.Candidates) != 1 || res.Candidates[0].ID != rs.ID {
		t.Errorf("decoded %+v", res)
	}
}
