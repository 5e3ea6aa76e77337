package flood

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"

	"github.com/chorus-services/discovery/internal/malformed"
	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// Source makes packets: Next writes the next one into buf (cap ≥
// mdns.MaxPacketSize) and returns it. A Source is used by one goroutine.
type Source interface {
	Next(buf []byte) []byte
}

const (
	b58Alphabet  = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	nameAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	suffixLen    = 4
)

// MaxFakePeers is how many distinct peers a FakePeers source with t
// templates makes before it repeats: t·36⁴ (the instance-name suffix is the
// smaller space).
func MaxFakePeers(templates int) uint64 { return uint64(templates) * 36 * 36 * 36 * 36 }

// FakePeers is a Source of go-libp2p style responses (PTR answer; SRV, A or
// AAAA and one TXT of dnsaddrs additional, as mdns.RecordSet lays them
// out), each naming a distinct random peer ID under a distinct instance
// name. The packets are packed once per template with the project's own
// packing (mdns.NewRecordSet, mdns.PackResponse); each Next copies one and
// rewrites the last four base58 digits of the peer ID (a valid ed25519
// identity multihash whatever they are) and the last four characters of the
// peer name, so generating a packet costs a copy, not a packing.
type FakePeers struct {
	tpl []fakeTemplate
	n   uint64
}

type fakeTemplate struct {
	data     []byte
	idAt     []int // offsets of the 4-digit ID suffix
	nameAt   []int // offsets of the 4-character name suffix
	instance string
}

// FakePeerConfig configures NewFakePeers.
type FakePeerConfig struct {
	// Service is the FQDN of the service announced (mdns.SpecService if
	// empty).
	Service string
	// Templates is the number of distinct templates (default 64): peer-ID
	// prefixes, address sets and host IPs.
	Templates int
	// Addrs returns the multiaddrs announced by template i (without /p2p).
	// Default: /ip4/198.51.100.(100+i%150)/tcp/(4001+i), an unused address
	// of the netns LAN, so a dial fails after neighbour resolution.
	Addrs func(i int) []ma.Multiaddr
	// TTL is the TXT and PTR TTL (default 4500 s, go-libp2p's 120 s for the
	// SRV and A records).
	TTL uint32
	// Rand seeds the peer IDs and names (default: random).
	Rand *rand.Rand
}

// NewFakePeers builds the templates.
func NewFakePeers(cfg FakePeerConfig) (*FakePeers, error) {
	if cfg.Service == "" {
		cfg.Service = mdns.SpecService
	}
	if cfg.Templates <= 0 {
		cfg.Templates = 64
	}
	if cfg.Addrs == nil {
		cfg.Addrs = func(i int) []ma.Multiaddr {
			return []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/198.51.100.%d/tcp/%d", 100+i%150, 4001+i))}
		}
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	f := &FakePeers{}
	for i := range cfg.Templates {
		id, err := RandomID(rnd)
		if err != nil {
			return nil, err
		}
		name := mdns.NewPeerName(rnd)
		rs, err := mdns.NewRecordSet(mdns.Peer{Service: cfg.Service, PeerName: name, ID: id, Addrs: cfg.Addrs(i), TTLOther: cfg.TTL})
		if err != nil {
			return nil, err
		}
		var ips []netip.Addr
		for _, a := range rs.Addrs {
			if ip, err := netipOf(a); err == nil {
				ips = append(ips, ip)
			}
		}
		pkts, _, err := mdns.PackResponse(&mdns.Response{
			Answers: []dns.RR{rs.PTR}, Additional: append([]dns.RR{rs.SRV}, rs.HostRecords(ips)...), TXT: rs.TXT,
		})
		if err != nil {
			return nil, err
		}
		if len(pkts) != 1 {
			return nil, fmt.Errorf("flood: template %d packs into %d packets", i, len(pkts))
		}
		t := fakeTemplate{data: pkts[0], instance: rs.Instance}
		t.idAt = suffixOffsets(t.data, id.String())
		t.nameAt = suffixOffsets(t.data, name)
		if len(t.idAt) == 0 || len(t.nameAt) == 0 {
			return nil, fmt.Errorf("flood: template %d: ID or name not found in the packet", i)
		}
		f.tpl = append(f.tpl, t)
	}
	return f, nil
}

// suffixOffsets returns, for every occurrence of s in b, the offset of its
// last suffixLen bytes.
func suffixOffsets(b []byte, s string) []int {
	var out []int
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(s))
		if i < 0 {
			return out
		}
		out = append(out, off+i+len(s)-suffixLen)
		off += i + len(s)
	}
}

func netipOf(a ma.Multiaddr) (netip.Addr, error) {
	for _, c := range a {
		switch c.Code() {
		case ma.P_IP4, ma.P_IP6:
			ip, ok := netip.AddrFromSlice(c.RawValue())
			if !ok {
				return netip.Addr{}, fmt.Errorf("bad IP in %s", a)
			}
			return ip.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no IP in %s", a)
}

// Next writes the next distinct fake peer.
func (f *FakePeers) Next(buf []byte) []byte {
	t := &f.tpl[f.n%uint64(len(f.tpl))]
	k := f.n / uint64(len(f.tpl))
	f.n++
	b := append(buf[:0], t.data...)
	for _, at := range t.idAt {
		put(b[at:at+suffixLen], k, b58Alphabet)
	}
	for _, at := range t.nameAt {
		put(b[at:at+suffixLen], k, nameAlphabet)
	}
	return b
}

// Made returns how many packets Next has made.
func (f *FakePeers) Made() uint64 { return f.n }

// put writes k in the given alphabet, most significant digit first.
func put(dst []byte, k uint64, alphabet string) {
	base := uint64(len(alphabet))
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = alphabet[k%base]
		k /= base
	}
}

// RandomID returns a random ed25519 peer ID.
func RandomID(rnd *rand.Rand) (peer.ID, error) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(rnd.Uint32())
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pk)
}

// cycle is a Source that repeats a fixed set of packets.
type cycle struct {
	pkts [][]byte
	n    int
}

func (c *cycle) Next(buf []byte) []byte {
	p := c.pkts[c.n%len(c.pkts)]
	c.n++
	return append(buf[:0], p...)
}

// Garbage returns a Source of broken datagrams: random bytes (some shorter
// than a DNS header), truncated and bit-flipped fake-peer responses (they
// mention the service, so they pass the label prefilter and fail later),
// and every case of the internal/malformed corpus. n is the number of
// random packets built (the corpus is added to them).
func Garbage(rnd *rand.Rand, fakes *FakePeers, n int) Source {
	c := &cycle{}
	for _, m := range malformed.Cases() {
		if len(m.Data) <= mdns.MaxPacketSize {
			c.pkts = append(c.pkts, m.Data)
		}
	}
	buf := make([]byte, mdns.MaxPacketSize)
	for i := range n {
		var p []byte
		switch i % 4 {
		case 0: // random bytes, often shorter than a header
			p = randBytes(rnd, rnd.IntN(40))
		case 1: // random bytes of any size
			p = randBytes(rnd, 12+rnd.IntN(1200))
		case 2: // a fake peer cut short
			full := fakes.Next(buf)
			p = append([]byte(nil), full[:12+rnd.IntN(len(full)-12)]...)
		default: // a fake peer with its record counts and some bytes scrambled
			p = append([]byte(nil), fakes.Next(buf)...)
			p[7] = byte(rnd.Uint32()) | 0x80 // ancount ≥ 128: runs off the end
			for range 4 {
				p[12+rnd.IntN(len(p)-12)] = byte(rnd.Uint32())
			}
		}
		c.pkts = append(c.pkts, p)
	}
	rnd.Shuffle(len(c.pkts), func(i, j int) { c.pkts[i], c.pkts[j] = c.pkts[j], c.pkts[i] })
	return c
}

func randBytes(rnd *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return b
}

// chatterServices are the DNS-SD services of the irrelevant chatter.
var chatterServices = []string{"_http._tcp.local.", "_airplay._tcp.local.", "_raop._tcp.local.", "_googlecast._tcp.local.", "_ipp._tcp.local.", "_spotify-connect._tcp.local."}

// Chatter returns a Source of well-formed mDNS traffic that is not about
// libp2p: queries and announcements of printers, speakers and web servers
// (PTR/SRV/TXT/A), and A/AAAA queries for their host names. n is the
// number of packets built.
func Chatter(rnd *rand.Rand, n int) (Source, error) {
	c := &cycle{}
	for i := range n {
		svc := chatterServices[rnd.IntN(len(chatterServices))]
		inst := fmt.Sprintf("Device %d.%s", rnd.IntN(1000), svc)
		host := fmt.Sprintf("device-%d.local.", rnd.IntN(1000))
		m := new(dns.Msg)
		switch i % 3 {
		case 0:
			m.Question = []dns.Question{{Name: svc, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
		case 1:
			m.Question = []dns.Question{{Name: host, Qtype: dns.TypeA, Qclass: dns.ClassINET}, {Name: host, Qtype: dns.TypeAAAA, Qclass: dns.ClassINET}}
		default:
			m.Response, m.Authoritative = true, true
			ip := net.IPv4(198, 51, 100, byte(100+rnd.IntN(150)))
			m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: svc, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4500}, Ptr: inst}}
			m.Extra = []dns.RR{
				&dns.SRV{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeSRV, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: 120}, Port: uint16(1024 + rnd.IntN(60000)), Target: host},
				&dns.TXT{Hdr: dns.RR_Header{Name: inst, Rrtype: dns.TypeTXT, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: 4500}, Txt: []string{"txtvers=1", fmt.Sprintf("deviceid=%x", rnd.Uint64()), "model=Flood1,1"}},
				&dns.A{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeA, Class: dns.ClassINET | mdns.CacheFlushBit, Ttl: 120}, A: ip},
			}
		}
		b, err := m.Pack()
		if err != nil {
			return nil, err
		}
		c.pkts = append(c.pkts, b)
	}
	return c, nil
}
