package sniff

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
)

// MaxEnumerated bounds the service types an Enumerator asks for.
const MaxEnumerated = 32

// Enumerator finds the libp2p peers of every service tag on the link: it
// asks for the service types (RFC 6763 §9), then once for the instances of
// each type answered, so that peers announcing another tag than the one a
// tool browses are heard (browse follows them, doctor names the tag). Feed
// it the Reports of the responses heard (Heard).
type Enumerator struct {
	conn transport.Conn
	ifs  []transport.Interface
	log  *slog.Logger

	mu    sync.Mutex
	asked map[string]bool
}

// NewEnumerator returns an Enumerator sending on conn's interfaces ifs;
// the services already browsed are not asked for again.
func NewEnumerator(conn transport.Conn, ifs []transport.Interface, log *slog.Logger, browsed ...string) *Enumerator {
	e := &Enumerator{conn: conn, ifs: ifs, log: log, asked: map[string]bool{}}
	for _, s := range browsed {
		e.asked[strings.ToLower(s)] = true
	}
	return e
}

// Start asks for the service types.
func (e *Enumerator) Start() { e.ask(mdns.MetaQuery) }

// Heard asks for the instances of every service type a response names.
func (e *Enumerator) Heard(r *Report) {
	for _, rec := range r.Records {
		if rec.Type == "PTR" && rec.Section != "qd" && rec.TTL > 0 && mdns.EqualNames(rec.Name, mdns.MetaQuery) {
			e.ask(strings.TrimSpace(rec.Data))
		}
	}
}

func (e *Enumerator) ask(name string) {
	key := strings.ToLower(name)
	e.mu.Lock()
	if e.asked[key] || len(e.asked) > MaxEnumerated || !strings.HasSuffix(key, "."+mdns.Domain) {
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
