package browser

import (
	"net/netip"
	"strings"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// recordAddrs returns the addresses of c that one TXT record carries. A
// candidate of one record carries them all; with several records (rust-
// and js-libp2p put one address per record) each string is split as the
// decoder does and kept only when the decoder accepted it.
func recordAddrs(t *dns.TXT, c *mdns.Candidate, single bool) []ma.Multiaddr {
	if single {
		return c.Addrs
	}
	var out []ma.Multiaddr
	for _, s := range t.Txt {
		v, ok := mdns.DNSAddrValue(s)
		if !ok {
			continue
		}
		i := strings.LastIndex(v, "/p2p/")
		if j := strings.LastIndex(v, "/ipfs/"); j > i {
			i = j
		}
		if i <= 0 {
			continue
		}
		a, err := ma.NewMultiaddr(v[:i])
		if err != nil {
			continue
		}
		for _, x := range c.Addrs {
			if x.Equal(a) {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

// filterAddrs applies the address rules to the multiaddrs of one record:
//   - loopback addresses only from a loopback source or interface (or with
//     Config.KeepLoopback): elsewhere they would dial ourselves;
//   - an address with a /p2p component other than a relay's (a /p2p
//     followed by /p2p-circuit) names a foreign peer and is dropped;
//   - IPv6 link-local addresses get /ip6zone/<receiving interface> so
//     they can be dialled;
//   - an unspecified IP (0.0.0.0, ::: py-libp2p announces the socket it
//     listens on as it is) becomes the packet's source address of that
//     family, as rust-libp2p does; of the other family it is dropped;
//   - Config.AddrFilter last.
func (b *Browser) filterAddrs(id peer.ID, in []ma.Multiaddr, ifc *transport.Interface, src netip.Addr) []ma.Multiaddr {
	fromLoop := b.cfg.KeepLoopback || ifc.Loopback || src.Unmap().IsLoopback()
	out := make([]ma.Multiaddr, 0, len(in))
	for _, a := range in {
		if len(a) == 0 {
			continue
		}
		ip, isIP := mdns.AddrIP(a)
		if isIP && ip.IsUnspecified() {
			if a = withSourceIP(a, src); a == nil {
				b.ctr.dAddrs.Add(1)
				continue
			}
			ip = src.Unmap().WithZone("")
		}
		if isIP && ip.IsLoopback() && !fromLoop {
			b.ctr.dAddrs.Add(1)
			continue
		}
		if foreignP2P(a) {
			b.ctr.dAddrs.Add(1)
			continue
		}
		if isIP && ip.Is6() && ip.IsLinkLocalUnicast() && a[0].Code() == ma.P_IP6 && ifc.Name != "" {
			if z, err := ma.NewComponent("ip6zone", ifc.Name); err == nil {
				a = append(ma.Multiaddr{*z}, a...)
			}
		}
		if b.cfg.AddrFilter != nil && !b.cfg.AddrFilter(id, a) {
			b.ctr.dAddrs.Add(1)
			continue
		}
		out = append(out, a)
	}
	return out
}

// foreignP2P reports whether a contains a /p2p component that is not a
// relay hop (followed by /p2p-circuit). The announced peer's own trailing
// /p2p was removed by the decoder.
func foreignP2P(a ma.Multiaddr) bool {
	for i, c := range a {
		if c.Code() != ma.P_P2P {
			continue
		}
		if i+1 < len(a) && a[i+1].Code() == ma.P_CIRCUIT {
			continue
		}
		return true
	}
	return false
}

// withSourceIP replaces the unspecified IP of a (its first component) by
// src when of the same family, else returns nil.
func withSourceIP(a ma.Multiaddr, src netip.Addr) ma.Multiaddr {
	src = src.Unmap().WithZone("")
	code := ma.P_IP6
	if src.Is4() {
		code = ma.P_IP4
	}
	if !src.IsValid() || len(a) == 0 || a[0].Code() != code {
		return nil
	}
	c, err := ma.NewComponent(ma.ProtocolWithCode(code).Name, src.String())
	if err != nil {
		return nil
	}
	return append(ma.Multiaddr{*c}, a[1:]...)
}
