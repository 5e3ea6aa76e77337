package mdns_test

import (
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// These functions re-state, from reading their sources, how the decoders
// in use today turn one packet into peers. Our record sets must satisfy all
// of them; the real implementations are exercised in the namespace tests.

// zeroconfView follows github.com/libp2p/zeroconf/v2 v2.2.0 client.go
// mainloop as used by go-libp2p's mdns: entries keyed by instance; PTR owner
// must equal the service name exactly; the LAST TXT record of an instance
// wins; an entry is only reported with an A/AAAA owned by its SRV target.
// Then go-libp2p keeps the "dnsaddr=" strings that parse as /p2p addrs.
func zeroconfView(m *dns.Msg, service string) map[peer.ID][]ma.Multiaddr {
	type entry struct {
		host string
		text []string
		ips  int
	}
	entries := map[string]*entry{}
	get := func(k string) *entry {
		if entries[k] == nil {
			entries[k] = &entry{}
		}
		return entries[k]
	}
	all := append(append(append([]dns.RR{}, m.Answer...), m.Ns...), m.Extra...)
	for _, rr := range all {
		switch r := rr.(type) {
		case *dns.PTR:
			if r.Hdr.Name == service {
				get(r.Ptr)
			}
		case *dns.SRV:
			if strings.HasSuffix(r.Hdr.Name, service) {
				get(r.Hdr.Name).host = r.Target
			}
		case *dns.TXT:
			if strings.HasSuffix(r.Hdr.Name, service) {
				get(r.Hdr.Name).text = r.Txt
			}
		}
	}
	for _, rr := range all {
		for _, e := range entries {
			if (rr.Header().Rrtype == dns.TypeA || rr.Header().Rrtype == dns.TypeAAAA) && e.host == rr.Header().Name {
				e.ips++
			}
		}
	}
	out := map[peer.ID][]ma.Multiaddr{}
	for _, e := range entries {
		if e.ips == 0 {
			continue
		}
		for _, s := range e.text {
			if ai, ok := dnsaddr(s); ok {
				out[ai.ID] = append(out[ai.ID], ai.Addrs...)
			}
		}
	}
	return out
}

// dnsaddr parses a "dnsaddr=<multiaddr>/p2p/<id>" TXT string, as both
// reference implementations do.
func dnsaddr(s string) (*peer.AddrInfo, bool) {
	if !strings.HasPrefix(s, "dnsaddr=") {
		return nil, false
	}
	a, err := ma.NewMultiaddr(s[len("dnsaddr="):])
	if err != nil {
		return nil, false
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	return ai, err == nil
}

// rustView follows rust-libp2p libp2p-mdns 0.49 query.rs as described in
// shared/peers/rustlike/NOTES.md: a packet without questions is a response;
// PTR answers whose owner is exactly "_p2p._udp.local."; TXT records owned
// by the PTR target, from the ADDITIONAL section only; every string.
func rustView(m *dns.Msg) map[peer.ID][]ma.Multiaddr {
	out := map[peer.ID][]ma.Multiaddr{}
	if len(m.Question) != 0 {
		return out
	}
	for _, rr := range m.Answer {
		p, ok := rr.(*dns.PTR)
		if !ok || p.Hdr.Name != "_p2p._udp.local." {
			continue
		}
		var first peer.ID
		for _, x := range m.Extra {
			t, ok := x.(*dns.TXT)
			if !ok || !strings.EqualFold(t.Hdr.Name, p.Ptr) {
				continue
			}
			for _, s := range t.Txt {
				ai, ok := dnsaddr(strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`))
				if !ok {
					continue
				}
				if first == "" {
					first = ai.ID
				}
				if ai.ID == first {
					out[ai.ID] = append(out[ai.ID], ai.Addrs...)
				}
			}
		}
	}
	return out
}

// jsView follows @libp2p/mdns query.ts gotResponse: a PTR named
// "_p2p._udp.local" among answers or additionals, and every "dnsaddr="
// string of every TXT record in answers and additionals; the peer is the
// first address's /p2p ID.
func jsView(m *dns.Msg) map[peer.ID][]ma.Multiaddr {
	out := map[peer.ID][]ma.Multiaddr{}
	all := append(append([]dns.RR{}, m.Answer...), m.Extra...)
	havePTR := false
	var addrs []ma.Multiaddr
	for _, rr := range all {
		switch r := rr.(type) {
		case *dns.PTR:
			if strings.TrimSuffix(r.Hdr.Name, ".") == "_p2p._udp.local" {
				havePTR = true
			}
		case *dns.TXT:
			for _, s := range r.Txt {
				if strings.HasPrefix(s, "dnsaddr=") {
					if a, err := ma.NewMultiaddr(s[len("dnsaddr="):]); err == nil {
						addrs = append(addrs, a)
					}
				}
			}
		}
	}
	if !havePTR || len(addrs) == 0 {
		return out
	}
	ai, err := peer.AddrInfoFromP2pAddr(addrs[0])
	if err != nil {
		return out
	}
	for _, a := range addrs {
		tr, id := peer.SplitAddr(a)
		if id == ai.ID && tr != nil {
			out[id] = append(out[id], tr)
		}
	}
	return out
}
