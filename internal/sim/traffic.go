package sim

import (
	"sync"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/miekg/dns"
)

// Kind is what a sent packet is, as the mdns classifier sees it, with
// responses split into unsolicited announcements and answers.
type Kind uint8

// The packet kinds.
const (
	KindProbe        Kind = iota // QR=0 with an authority section (RFC 6762 §8.1)
	KindAnnouncement             // unsolicited response (§8.3, §8.4)
	KindQuery                    // QR=0 without authority (§5), continuation packets included (§7.2)
	KindResponse                 // answer to a query (§6), multicast or unicast
	KindGoodbye                  // response whose answers all have TTL 0 (§10.1)
	KindOther                    // did not parse or classify
	nKinds
)

var kindNames = [nKinds]string{"probe", "announcement", "query", "response", "goodbye", "other"}

func (k Kind) String() string {
	if k < nKinds {
		return kindNames[k]
	}
	return "invalid"
}

// pktInfo is what the collector extracts from one packet.
type pktInfo struct {
	kind      Kind
	tc        bool // query with the TC bit (more known answers follow, §7.2)
	cont      bool // query packet without questions (known-answer continuation)
	known     int  // known-answer records carried by a query (§7.1)
	unicast   bool
	questions int
}

// classify parses data once and classifies it. An announcement is a
// response whose answer section holds the DNS-SD meta PTR (RFC 6763 §9)
// and an SRV record: our responder announces every record in the answer
// section and answers browse queries with the PTR alone there (nobody in
// the simulation asks for the meta PTR).
func classify(m *dns.Msg, data []byte, multicast bool) pktInfo {
	info := pktInfo{kind: KindOther, unicast: !multicast}
	if err := mdns.ParseInto(m, data); err != nil {
		return info
	}
	k, err := mdns.Classify(m)
	if err != nil {
		return info
	}
	switch k {
	case mdns.KindProbe:
		info.kind = KindProbe
	case mdns.KindQuery:
		info.kind = KindQuery
		info.tc = m.Truncated
		info.questions = len(m.Question)
		info.cont = len(m.Question) == 0
		info.known = len(m.Answer)
	case mdns.KindGoodbye:
		info.kind = KindGoodbye
	case mdns.KindResponse:
		info.kind = KindResponse
		var meta, srv bool
		for _, rr := range m.Answer {
			switch v := rr.(type) {
			case *dns.PTR:
				meta = meta || mdns.EqualNames(v.Hdr.Name, mdns.MetaQuery)
			case *dns.SRV:
				srv = true
			}
		}
		if meta && srv {
			info.kind = KindAnnouncement
		}
	}
	return info
}

// Counts are the packets of one node (or a sum over nodes) in one window.
type Counts struct {
	Packets [nKinds]uint64 `json:"-"`
	Bytes   [nKinds]uint64 `json:"-"`
	// UnicastResponses are the responses sent to one host (§5.4, §6.7).
	UnicastResponses uint64 `json:"unicast_responses"`
	// QueryMessages are query packets with questions (the first packet of
	// a multi-packet known-answer list, §7.2).
	QueryMessages uint64 `json:"query_messages"`
	// QueryTC are query packets with the TC bit; QueryContinuations the
	// known-answer packets without questions.
	QueryTC            uint64 `json:"query_tc"`
	QueryContinuations uint64 `json:"query_continuations"`
	// KnownAnswers is the number of known-answer records carried (§7.1).
	KnownAnswers uint64 `json:"known_answers"`
}

func (c *Counts) add(info *pktInfo, size int) {
	c.Packets[info.kind]++
	c.Bytes[info.kind] += uint64(size)
	if info.kind == KindResponse && info.unicast {
		c.UnicastResponses++
	}
	if info.kind == KindQuery {
		if info.questions > 0 {
			c.QueryMessages++
		}
		if info.tc {
			c.QueryTC++
		}
		if info.cont {
			c.QueryContinuations++
		}
		c.KnownAnswers += uint64(info.known)
	}
}

func (c *Counts) merge(o *Counts) {
	for k := range c.Packets {
		c.Packets[k] += o.Packets[k]
		c.Bytes[k] += o.Bytes[k]
	}
	c.UnicastResponses += o.UnicastResponses
	c.QueryMessages += o.QueryMessages
	c.QueryTC += o.QueryTC
	c.QueryContinuations += o.QueryContinuations
	c.KnownAnswers += o.KnownAnswers
}

// Total returns the packets of every kind.
func (c *Counts) Total() uint64 {
	var n uint64
	for _, v := range c.Packets {
		n += v
	}
	return n
}

// TotalBytes returns the bytes of every kind.
func (c *Counts) TotalBytes() uint64 {
	var n uint64
	for _, v := range c.Bytes {
		n += v
	}
	return n
}

// The windows of a run.
const (
	winStartup = iota
	winSteady
	winShutdown
	nWindows
)

// logEntry is one packet of the startup window.
type logEntry struct {
	at   int64 // since t0
	node int32
	size int32
	info pktInfo
}

// bin is one timeline bin.
type bin struct {
	packets [nKinds]uint64
	bytes   uint64
}

// collector is the LAN tap: it classifies every packet put on the LAN
// (one parse per packet sent, not per receiver) and counts it per node and
// window. The tap runs under the LAN lock; mu guards the reads.
type collector struct {
	mu       sync.Mutex
	t0       time.Time
	startup  time.Duration
	steadyTo time.Duration
	binW     time.Duration
	index    map[string]int // host name → node
	counts   [nWindows][]Counts
	log      []logEntry
	logLimit int
	logFull  bool
	startBin []bin
	steadBin []bin
	msg      dns.Msg
}

func newCollector(p *Params, t0 time.Time, index map[string]int) *collector {
	c := &collector{
		t0: t0, startup: p.Startup, steadyTo: p.Startup + p.Steady, binW: p.Bin,
		index: index, logLimit: p.LogLimit,
		startBin: make([]bin, (p.Startup+p.Bin-1)/p.Bin),
		steadBin: make([]bin, (p.Steady+steadyBin-1)/steadyBin),
	}
	for w := range c.counts {
		c.counts[w] = make([]Counts, p.N)
	}
	return c
}

// tap is the memnet tap function.
func (c *collector) tap(r memnet.TapRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	node, ok := c.index[r.Host]
	if !ok {
		return // injected, or not a node
	}
	info := classify(&c.msg, r.Packet.Data, r.Packet.Multicast)
	size := len(r.Packet.Data)
	at := r.Time.Sub(c.t0)
	w := winShutdown
	switch {
	case at < c.startup:
		w = winStartup
		if len(c.log) < c.logLimit {
			c.log = append(c.log, logEntry{at: int64(at), node: int32(node), size: int32(size), info: info})
		} else {
			c.logFull = true
		}
		if b := int(at / c.binW); b >= 0 && b < len(c.startBin) {
			c.startBin[b].packets[info.kind]++
			c.startBin[b].bytes += uint64(size)
		}
	case at < c.steadyTo:
		w = winSteady
		if b := int((at - c.startup) / steadyBin); b < len(c.steadBin) {
			c.steadBin[b].packets[info.kind]++
			c.steadBin[b].bytes += uint64(size)
		}
	}
	c.counts[w][node].add(&info, size)
}

// until returns the per-node counts of the logged startup packets sent at
// or before d after t0, and whether the log was complete.
func (c *collector) until(d time.Duration, n int) ([]Counts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Counts, n)
	for i := range c.log {
		e := &c.log[i]
		if e.at > int64(d) {
			break // the log is in send order
		}
		out[e.node].add(&e.info, int(e.size))
	}
	return out, !c.logFull
}

// window returns a copy of the per-node counts of window w.
func (c *collector) window(w int) []Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Counts(nil), c.counts[w]...)
}
