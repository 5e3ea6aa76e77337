// Package malformed builds a corpus of hostile and broken mDNS datagrams, one
// named case per attack. Every layer that reads packets (the codec, the
// responder, the browser) is tested against it: each case must be dropped
// and counted, and none may panic.
package malformed

import (
	"encoding/binary"
	"strings"
)

// Case is one malformed datagram.
type Case struct {
	Name string
	// Parse is true when the message is valid DNS (it must then be rejected
	// by the mDNS layers above the codec, e.g. a dnsaddr naming two IDs).
	Parse bool
	Data  []byte
}

const (
	id1 = "12D3KooWSfsqkSUU6DTgDKK6RuxGJs7poPksfrxQEFwNNvmy32vT"
	id2 = "12D3KooWHbcHt8rxiyd2YnNxXquxWitt23FNNhZ15F74c7QnqYWb"
)

func header(flags uint16, qd, an, ns, ar uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint16(b[4:], qd)
	binary.BigEndian.PutUint16(b[6:], an)
	binary.BigEndian.PutUint16(b[8:], ns)
	binary.BigEndian.PutUint16(b[10:], ar)
	return b
}

func name(labels ...string) []byte {
	var b []byte
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

var service = name("_p2p", "_udp", "local")

func rr(owner []byte, typ, class uint16, ttl uint32, rdata []byte) []byte {
	b := append([]byte{}, owner...)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, class)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
	return append(b, rdata...)
}

func txtRdata(strs ...string) []byte {
	var b []byte
	for _, s := range strs {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b
}

// response builds a PTR + TXT response for instance "x" with the strings.
func response(strs ...string) []byte {
	inst := name("x", "_p2p", "_udp", "local")
	b := header(0x8400, 0, 2, 0, 0)
	b = append(b, rr(service, 12, 1, 120, inst)...)
	return append(b, rr(inst, 16, 0x8001, 120, txtRdata(strs...))...)
}

// Cases returns the corpus. The slices are fresh on every call.
func Cases() []Case {
	var cs []Case
	add := func(n string, parse bool, d []byte) { cs = append(cs, Case{Name: n, Parse: parse, Data: d}) }

	add("empty", false, nil)
	add("short-header", false, []byte{0, 0, 0x84, 0, 0, 1})

	// A question whose name is a pointer to itself.
	loop := header(0, 1, 0, 0, 0)
	loop = append(loop, 0xc0, 12, 0, 12, 0, 1)
	add("compression-loop", false, loop)

	// Two names pointing at each other.
	mutual := header(0, 2, 0, 0, 0)
	mutual = append(mutual, 0xc0, 18, 0, 12, 0, 1, 0xc0, 12, 0, 12, 0, 1)
	add("compression-mutual-loop", false, mutual)

	// A pointer forward, past the name itself, into the following bytes.
	fwd := header(0, 1, 0, 0, 0)
	fwd = append(fwd, 0xc0, 18, 0, 12, 0, 1, 4, '_', 'p', '2', 'p', 0)
	add("compression-forward-pointer", false, fwd)

	// A pointer beyond the end of the packet.
	far := header(0, 1, 0, 0, 0)
	far = append(far, 0xc3, 0xff, 0, 12, 0, 1)
	add("compression-pointer-out-of-bounds", false, far)

	// A label length byte of 64 (0x40 is a reserved label type, RFC 6891).
	long := header(0, 1, 0, 0, 0)
	long = append(long, 64)
	long = append(long, strings.Repeat("a", 64)...)
	long = append(long, 0, 0, 12, 0, 1)
	add("label-over-63", false, long)

	// A name of 5 × 63-byte labels = 321 bytes > 255.
	big := header(0, 1, 0, 0, 0)
	for i := 0; i < 5; i++ {
		big = append(big, 63)
		big = append(big, strings.Repeat("b", 63)...)
	}
	big = append(big, 0, 0, 12, 0, 1)
	add("name-over-255", false, big)

	// An answer whose rdlength runs past the end of the packet.
	rdl := header(0x8400, 0, 1, 0, 0)
	rdl = append(rdl, service...)
	rdl = append(rdl, 0, 16, 0, 1, 0, 0, 0, 120, 0x10, 0x00, 3, 'a', 'b', 'c')
	add("rdlength-beyond-packet", false, rdl)

	// Section counts that the packet cannot hold.
	cnt := header(0x8400, 0xffff, 0xffff, 0xffff, 0xffff)
	add("counts-beyond-packet", false, append(cnt, service...))

	// A datagram over the 9000-byte limit (RFC 6762 §17).
	huge := response("dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + id1)
	huge = append(huge, make([]byte, 9001-len(huge))...)
	add("datagram-over-9000", false, huge)

	// A TXT string whose length byte claims more than the rdata holds.
	ovf := header(0x8400, 0, 1, 0, 0)
	inst := name("x", "_p2p", "_udp", "local")
	ovf = append(ovf, inst...)
	ovf = append(ovf, 0, 16, 0x80, 1, 0, 0, 0, 120, 0, 5, 200, 'd', 'n', 's', 'a')
	add("txt-string-length-overflow", false, ovf)

	add("truncated-mid-record", false, response("dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/" + id1)[:40])

	// Valid DNS that the mDNS layers must reject or skip.
	add("dnsaddr-invalid-utf8", true, response("dnsaddr=/ip4/\xff\xfe/tcp/1/p2p/"+id1))
	add("dnsaddr-not-a-multiaddr", true, response("dnsaddr=/ip4/999.1.1.1/tcp/1/p2p/"+id1, "dnsaddr=hello"))
	add("dnsaddr-mismatched-ids", true, response("dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/"+id1, "dnsaddr=/ip4/198.51.100.2/tcp/1/p2p/"+id2))
	add("dnsaddr-missing-id", true, response("dnsaddr=/ip4/198.51.100.1/tcp/1"))
	add("dnsaddr-bad-id", true, response("dnsaddr=/ip4/198.51.100.1/tcp/1/p2p/QmNotAPeerID"))
	many := make([]string, 1000)
	for i := range many {
		many[i] = "k"
	}
	add("txt-1000-strings", true, response(many...))
	add("opcode-update", true, header(0x2800, 0, 0, 0, 0))
	return cs
}
