// Package sniff turns raw mDNS datagrams into human- and machine-readable
// reports: the packet's kind, sender, interface, every record, and every
// libp2p peer candidate it carries, of any flavour and any service.
//
// Packet flow: transport.Packet → mdns.Parse → mdns.Classify → records and
// mdns.Decoder (one per service named in the packet) → Report → Printer
// (table or JSON lines).
package sniff

import (
	"fmt"
	"strings"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
)

// Record is one resource record or question of a report.
type Record struct {
	Section string `json:"section"` // qd, an, ns, ar
	Name    string `json:"name"`
	Type    string `json:"type"`
	TTL     uint32 `json:"ttl"`
	// Flush is the cache-flush bit of a record or the QU bit of a question.
	Flush bool   `json:"flush,omitempty"`
	Data  string `json:"data,omitempty"`
}

// Peer is one libp2p peer candidate of a report.
type Peer struct {
	ID      string `json:"id"`
	Service string `json:"service"`
	// Tag is the service tag of Service (mdns.ServiceTag): what a peer
	// would give NewMdnsService or p2p-mdns --service to find this one.
	Tag      string   `json:"tag"`
	Instance string   `json:"instance"`
	Flavour  string   `json:"flavour"`
	TTL      uint32   `json:"ttl"`
	Addrs    []string `json:"addrs"`
}

// Report describes one datagram.
type Report struct {
	T       float64  `json:"t"` // seconds since the sniffer started
	Kind    string   `json:"kind"`
	Src     string   `json:"src"`
	Dst     string   `json:"dst"`
	Iface   string   `json:"iface,omitempty"`
	IPTTL   int      `json:"ip_ttl"`
	Size    int      `json:"size"`
	ID      uint16   `json:"id"`
	TC      bool     `json:"tc,omitempty"`
	Records []Record `json:"records,omitempty"`
	Peers   []Peer   `json:"peers,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Sniffer describes datagrams. The zero value is not usable; use New.
type Sniffer struct {
	services []string
	decoders map[string]*mdns.Decoder
}

// New returns a sniffer that always decodes candidates of the given
// services (FQDNs) in addition to every service named by a PTR record in a
// packet.
func New(services ...string) *Sniffer {
	s := &Sniffer{decoders: map[string]*mdns.Decoder{}}
	s.services = append(s.services, services...)
	return s
}

// maxDecoders bounds the per-service decoder cache (services come from the
// network).
const maxDecoders = 256

func (s *Sniffer) decoder(svc string) *mdns.Decoder {
	key := strings.ToLower(svc)
	if d := s.decoders[key]; d != nil {
		return d
	}
	d := mdns.NewDecoder(svc, 0)
	if len(s.decoders) < maxDecoders {
		s.decoders[key] = d
	}
	return d
}

// Describe reports one datagram received at offset since start.
func (s *Sniffer) Describe(p *transport.Packet, since time.Duration, iface string) Report {
	r := Report{
		T:     since.Seconds(),
		Src:   p.Src.String(),
		Dst:   p.Dst.String(),
		Iface: iface,
		IPTTL: p.TTL,
		Size:  len(p.Data),
	}
	m, err := mdns.Parse(p.Data)
	if err != nil {
		r.Kind, r.Error = "malformed", err.Error()
		return r
	}
	r.ID, r.TC = m.Id, m.Truncated
	kind, err := mdns.Classify(m)
	r.Kind = kind.String()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	for _, q := range m.Question {
		r.Records = append(r.Records, Record{Section: "qd", Name: q.Name, Type: dns.TypeToString[q.Qtype], Flush: mdns.IsQU(q)})
	}
	services := append([]string(nil), s.services...)
	for i, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			r.Records = append(r.Records, Record{
				Section: [...]string{"an", "ns", "ar"}[i],
				Name:    h.Name,
				Type:    dns.TypeToString[h.Rrtype],
				TTL:     h.Ttl,
				Flush:   mdns.IsCacheFlush(rr),
				Data:    rdata(rr),
			})
			if _, ok := rr.(*dns.PTR); ok && !mdns.EqualNames(h.Name, mdns.MetaQuery) && !contains(services, h.Name) {
				services = append(services, h.Name) // as written: tags are compared case-sensitively by some stacks
			}
		}
	}
	for _, svc := range services {
		res := s.decoder(svc).Decode(m, kind == mdns.KindProbe)
		for _, c := range res.Candidates {
			pr := Peer{ID: c.ID.String(), Service: svc, Tag: mdns.ServiceTag(svc), Instance: c.Instance, Flavour: c.Flavour.String(), TTL: c.TTL, Addrs: []string{}}
			for _, a := range c.Addrs {
				pr.Addrs = append(pr.Addrs, a.String())
			}
			r.Peers = append(r.Peers, pr)
		}
		for _, rej := range res.Rejected {
			r.Error = strings.TrimSpace(r.Error + " " + rej.Instance + ": " + rej.Err.Error())
		}
	}
	return r
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if mdns.EqualNames(x, s) {
			return true
		}
	}
	return false
}

// rdata is the record's data in presentation form (without the header).
func rdata(rr dns.RR) string {
	full := rr.String()
	h := rr.Header().String()
	if strings.HasPrefix(full, h) {
		return full[len(h):]
	}
	return full
}

// Summary is a one-line description of the records of a report.
func (r *Report) Summary() string {
	var b strings.Builder
	for i, rec := range r.Records {
		if i > 0 {
			b.WriteString(" ")
		}
		if i == 12 {
			fmt.Fprintf(&b, "…(+%d)", len(r.Records)-12)
			break
		}
		fmt.Fprintf(&b, "%s:%s %s", rec.Section, rec.Type, rec.Name)
		if rec.Section == "qd" && rec.Flush {
			b.WriteString(" QU")
		}
		if rec.Section != "qd" && rec.TTL == 0 {
			b.WriteString(" ttl=0")
		}
	}
	return b.String()
}
