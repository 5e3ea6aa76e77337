package doctor

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync"

	"github.com/chorus-services/discovery/internal/sniff"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
)

// maxEnumerated bounds the service types the doctor asks for.
const maxEnumerated = 32

// enumerator finds the libp2p peers of every service tag on the link: it
// asks for the service types (RFC 6763 §9), then once for the instances of
// each type answered, so that peers announcing another tag than ours are
// heard (and the doctor can name the tag to use).
type enumerator struct {
	conn transport.Conn
	ifs  []transport.Interface
	log  *slog.Logger

	mu    sync.Mutex
	asked map[string]bool
}

func newEnumerator(conn transport.Conn, ifs []transport.Interface, service string, log *slog.Logger) *enumerator {
	return &enumerator{conn: conn, ifs: ifs, log: log, asked: map[string]bool{strings.ToLower(service): true}}
}

// start asks for the service types.
func (e *enumerator) start() { e.ask(mdns.MetaQuery) }

// heard asks for the instances of every service type a response names.
func (e *enumerator) heard(r *sniff.Report) {
	for _, rec := range r.Records {
		if rec.Type == "PTR" && rec.Section != "qd" && rec.TTL > 0 && mdns.EqualNames(rec.Name, mdns.MetaQuery) {
			e.ask(strings.TrimSpace(rec.Data))
		}
	}
}

func (e *enumerator) ask(name string) {
	key := strings.ToLower(name)
	e.mu.Lock()
	if e.asked[key] || len(e.asked) > maxEnumerated || !strings.HasSuffix(key, "."+mdns.Domain) {
		e.mu.Unlock()
		return
	}
	e.asked[key] = true
	e.mu.Unlock()
	q := []dns.Question{{Name: dns.Fqdn(name), Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
	for _, ifc := range e.ifs {
		for _, g := range []struct {
			on    bool
			group netip.Addr
		}{{ifc.V4, mdns.GroupV4}, {ifc.V6, mdns.GroupV6}} {
			if !g.on {
				continue
			}
			pkts, err := mdns.PackQuery(&mdns.Query{Questions: q, MaxSize: ifc.MaxPayload(g.group.Is4())})
			if err != nil {
				e.log.Debug("enumerate", "name", name, "err", err)
				return
			}
			for _, data := range pkts {
				p := transport.Packet{Data: data, Dst: netip.AddrPortFrom(g.group, mdns.Port), IfIndex: ifc.Index}
				if err := e.conn.WritePacket(&p); err != nil {
					e.log.Debug("enumerate", "name", name, "iface", ifc.Name, "err", err)
				}
			}
		}
	}
}
