// Package rustwire is the rust wire emulator: it speaks rust-libp2p's mDNS
// wire format (libp2p-mdns 0.49, documented in mdns/doc.go) for the unit
// tests that are faster with an in-process peer (browser) and the capture
// tool's synthetic o2 scenario. The interop matrix, the mixed-LAN test and
// the s* captures run the real rust-libp2p (internal/interop/rust-node).
// Sockets stay with the callers; this package only builds and classifies
// messages.
package rustwire

import (
	"math/rand/v2"

	"github.com/chorus-services/discovery/mdns"
	"github.com/miekg/dns"
)

// Service is the only service rust-libp2p browses and answers; it compares
// names case-sensitively.
const Service = "_p2p._udp.local."

// TTL is rust-libp2p's default record TTL (6 minutes).
const TTL = 360

// Asks reports whether rust-libp2p would answer m: a query (no check of QR,
// opcode or type, as in rust-libp2p) with a question named exactly Service.
func Asks(m *dns.Msg) bool {
	if m.Response {
		return false
	}
	for _, q := range m.Question {
		if q.Name == Service {
			return true
		}
	}
	return false
}

// Query is rust-libp2p's 33-byte query: a random ID, no flags, one PTR
// question for Service, class IN without the QU bit.
func Query() []byte {
	q := new(dns.Msg)
	q.Id = uint16(rand.IntN(1 << 16))
	q.Question = []dns.Question{{Name: Service, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
	b, err := q.Pack()
	if err != nil {
		panic(err) // a fixed, valid message
	}
	return b
}

// Response is rust-libp2p's answer to the query with ID queryID: the ID
// echoed, flags 0x8400, no question, one PTR Service → a new random single
// label in the answer section, and one TXT record (cache-flush, one
// "dnsaddr=<addr>/p2p/<peerID>" string) per address in the additional
// section. No SRV, A or AAAA.
func Response(queryID uint16, peerID string, addrs []string) ([]byte, error) {
	label := RandomLabel()
	r := new(dns.Msg)
	r.Id, r.Response, r.Authoritative = queryID, true, true
	r.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: Service, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: TTL}, Ptr: label}}
	for _, a := range addrs {
		r.Extra = append(r.Extra, &dns.TXT{Hdr: dns.RR_Header{Name: label, Rrtype: dns.TypeTXT, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: TTL},
			Txt: []string{mdns.DNSAddrPrefix + a + "/p2p/" + peerID}})
	}
	return r.Pack()
}

// RandomLabel is the PTR target rust-libp2p draws for every response:
// 32–63 alphanumeric characters, as a single-label name.
func RandomLabel() string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32+rand.IntN(32))
	for i := range b {
		b[i] = alnum[rand.IntN(len(alnum))]
	}
	return string(b) + "."
}
