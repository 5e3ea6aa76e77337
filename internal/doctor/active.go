package doctor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/chorus-services/discovery/internal/sniff"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

type activeResult struct {
	stats                   BrowseStats
	responses, queriesHeard int
	// ownHeard counts our own packets heard (multicast looped back).
	ownHeard int
	peers    []PeerSeen
	// badTTL describes the packets from port 5353 of other hosts whose IP
	// TTL is not 255 (the browser drops them, RFC 6762 §11).
	badTTL []string
}

const maxBadTTL = 4

// collector merges what the raw listener and the browser report.
type collector struct {
	mu      sync.Mutex
	service string
	own     map[netip.Addr]bool
	res     activeResult
	byID    map[string]*PeerSeen
}

func newCollector(service string, ifs []transport.Interface) *collector {
	c := &collector{service: service, own: map[netip.Addr]bool{}, byID: map[string]*PeerSeen{}}
	for _, ifc := range ifs {
		for _, p := range ifc.Prefixes {
			c.own[p.Addr().WithZone("")] = true
		}
	}
	return c
}

func (c *collector) peer(id string) *PeerSeen {
	p := c.byID[id]
	if p == nil {
		p = &PeerSeen{ID: id}
		c.byID[id] = p
	}
	return p
}

func addAddrs(p *PeerSeen, addrs []string) {
	for _, a := range addrs {
		if !slices.Contains(p.Addrs, a) {
			p.Addrs = append(p.Addrs, a)
		}
	}
}

// packet counts one datagram heard and notes the peers it carries.
func (c *collector) packet(r *sniff.Report, src netip.AddrPort, ttl int, multicast bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fromOther := !c.own[src.Addr().Unmap().WithZone("")]
	if !fromOther {
		c.res.ownHeard++
	}
	if fromOther && src.Port() == mdns.Port && ttl >= 0 && ttl != 255 && len(c.res.badTTL) < maxBadTTL {
		cast := "unicast"
		if multicast {
			cast = "multicast"
		}
		d := fmt.Sprintf("%s from %s with TTL %d (%s)", r.Kind, src.Addr().WithZone(""), ttl, cast)
		if !slices.Contains(c.res.badTTL, d) {
			c.res.badTTL = append(c.res.badTTL, d)
		}
	}
	switch r.Kind {
	case "response", "goodbye":
		if fromOther {
			c.res.responses++
		}
	case "query", "probe":
		if fromOther {
			c.res.queriesHeard++
		}
	}
	for _, sp := range r.Peers {
		p := c.peer(sp.ID)
		if p.Flavour == "" || p.Flavour == "unknown" {
			p.Flavour = sp.Flavour
		}
		if p.Service == "" || mdns.EqualNames(sp.Service, c.service) {
			p.Service, p.Tag = sp.Service, sp.Tag
		}
		if p.Iface == "" {
			p.Iface = r.Iface
		}
		addAddrs(p, sp.Addrs)
	}
}

// found notes a peer our browser found.
func (c *collector) found(f Found) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.peer(f.ID)
	p.Found = true
	p.Service, p.Tag = c.service, mdns.ServiceTag(c.service)
	if p.Flavour == "" || p.Flavour == "unknown" {
		p.Flavour = f.Flavour
	}
	addAddrs(p, f.Addrs)
}

func (c *collector) result() activeResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.res
	r.peers = []PeerSeen{}
	for _, p := range c.byID {
		q := *p
		q.Addrs = append([]string{}, q.Addrs...) // [] rather than null in JSON
		sort.Strings(q.Addrs)
		q.CanSeeUs = CanSeeUs(q.Flavour, q.Service, c.service)
		r.peers = append(r.peers, q)
	}
	sort.Slice(r.peers, func(i, j int) bool { return r.peers[i].ID < r.peers[j].ID })
	return r
}

// active runs the browser on conn for cfg.Duration and describes every
// datagram heard, read through a View of its own. conn is closed on return.
func active(ctx context.Context, conn transport.Conn, cfg Config, log *slog.Logger) (activeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	ifs := conn.Interfaces()
	names := map[int]string{}
	for _, ifc := range ifs {
		names[ifc.Index] = ifc.Name
	}
	col := newCollector(cfg.Service, ifs)
	defer conn.Close()
	raw, err := conn.View(transport.ViewConfig{Name: "doctor", QueueLen: 512})
	if err != nil {
		return activeResult{}, err
	}

	var enum *sniff.Enumerator
	if cfg.Browse != nil {
		enum = sniff.NewEnumerator(conn, ifs, log, cfg.Service)
		enum.Start()
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		s := sniff.New(cfg.Service)
		start := time.Now()
		buf := make([]byte, mdns.MaxPacketSize+1)
		var p transport.Packet
		for {
			err := raw.ReadPacket(buf, &p)
			if errors.Is(err, transport.ErrClosed) {
				return
			}
			if err != nil {
				log.Debug("read", "err", err)
				continue
			}
			r := s.Describe(&p, time.Since(start), names[p.IfIndex])
			log.Debug("heard", "kind", r.Kind, "src", r.Src, "iface", r.Iface, "peers", len(r.Peers))
			col.packet(&r, p.Src, p.TTL, p.Multicast)
			if enum != nil && r.Kind == "response" {
				enum.Heard(&r)
			}
		}
	}()

	var st BrowseStats
	if cfg.Browse != nil {
		st, err = cfg.Browse(ctx, conn, col.found)
	} else {
		<-ctx.Done()
	}
	raw.Close() // ends the reader
	<-readDone
	res := col.result()
	res.stats = st
	return res, err
}
