package responder

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorus-services/discovery/internal/lifecycle"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// Responder announces one libp2p peer on every interface of its Conn and
// answers queries for it (RFC 6762, RFC 6763). Create it with New, start it
// with Run.
type Responder struct {
	cfg  Config
	conn transport.Conn
	log  *slog.Logger
	rnd  *rand.Rand
	st   stats

	name   atomic.Pointer[string]
	filter atomic.Pointer[mdns.Filter]

	addrMu  sync.Mutex
	addrs   []ma.Multiaddr
	addrsCh chan struct{} // cap 1: "addrs changed"

	view *transport.View // closed when Run returns, or by Close
	life *lifecycle.State

	// Owned by the Run goroutine.
	rs *mdns.RecordSet
	// nsecInst is the instance name's negative answer (RFC 6762 §6.1).
	nsecInst *dns.NSEC
	// txtSet, ports and allIPs hold the data we announce (or announced
	// under the current name, so that a late loop-back of our own packets
	// is never taken for a conflict); reset on rename, bounded.
	txtSet   map[string]bool
	ports    map[uint16]bool
	ifs      map[int]*ifState
	ifOrder  []int
	allIPs   map[netip.Addr]bool
	tc       map[tcKey]*tcHold
	conflict []time.Time // times of recent conflicts (§8.1)
	backoff  bool        // 15 conflicts in 10 s: probe every 5 s (§8.1)
	msg      dns.Msg
	wpkt     transport.Packet // reused by write (Run goroutine only)
}

// rxPacket is one received packet as the protocol handles it; data is
// shared with the Conn's other Views (read-only).
type rxPacket struct {
	data      []byte
	src       netip.AddrPort
	ifIndex   int
	multicast bool
	v4        bool
	// udpSize is the largest reply a legacy querier accepts: its EDNS0
	// payload size, or 512 bytes without EDNS0 (RFC 1035 §4.2.1, RFC 6891).
	udpSize int
}

// New validates and copies cfg and builds the record set. It starts no
// goroutine; call Run.
func New(cfg Config) (*Responder, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	r := &Responder{
		cfg:     cfg,
		conn:    cfg.Conn,
		log:     cfg.Logger,
		rnd:     cfg.Rand,
		addrs:   stripZones(cfg.Addrs),
		addrsCh: make(chan struct{}, 1),
		life:    lifecycle.New(),
		ifs:     map[int]*ifState{},
		allIPs:  map[netip.Addr]bool{},
		tc:      map[tcKey]*tcHold{},
	}
	name := cfg.PeerName
	if name == "" {
		name = mdns.NewPeerName(r.rnd)
	}
	if err := r.setName(name); err != nil {
		return nil, err
	}
	// The View is taken now, so that nothing received between New and Run
	// is lost (it waits in the View's bounded queue).
	view, err := cfg.Conn.View(transport.ViewConfig{Name: "responder", QueueLen: cfg.QueueLen, Accept: r.accept})
	if err != nil {
		return nil, fmt.Errorf("responder: %w", err)
	}
	r.view = view
	return r, nil
}

// setName (re)builds the record set for name and the receive prefilter.
func (r *Responder) setName(name string) error {
	r.addrMu.Lock()
	addrs := r.addrs
	r.addrMu.Unlock()
	rs, err := mdns.NewRecordSet(mdns.Peer{
		Service: r.cfg.Service, PeerName: name, ID: r.cfg.PeerID, Addrs: addrs,
		Port: r.cfg.Port, TTLHost: r.cfg.TTLHost, TTLOther: r.cfg.TTLOther,
	})
	if err != nil {
		return err
	}
	if rs.Skipped > 0 {
		r.log.Warn("multiaddrs too long for a TXT string left out", "skipped", rs.Skipped)
	}
	renamed := r.rs == nil || r.rs.Instance != rs.Instance
	r.rs = rs
	r.nsecInst = rs.InstanceNSEC()
	if renamed || len(r.txtSet)+len(rs.TXT.Txt) > maxRemembered {
		r.txtSet = map[string]bool{"": true}
		r.ports = map[uint16]bool{}
	}
	for _, s := range rs.TXT.Txt {
		r.txtSet[s] = true
	}
	r.ports[rs.SRV.Port] = true
	r.name.Store(&name)
	// The prefilter (RFC 6762 §16: case-insensitive labels): our service,
	// our peer name (instance and host names) and the DNS-SD meta-query.
	r.filter.Store(mdns.NewFilter(mdns.FilterLabels(rs.Service, rs.Instance, mdns.MetaQuery)...))
	return nil
}

// PeerName returns the current instance label (it changes after a conflict).
func (r *Responder) PeerName() string { return *r.name.Load() }

// Stats returns a snapshot of the counters.
func (r *Responder) Stats() Stats {
	s := r.st.snapshot()
	s.DroppedQueueFull = r.view.Stats().Dropped
	return s
}

// SetAddrs replaces the announced multiaddrs. Changed records are
// re-announced (RFC 6762 §8.4) and withdrawn TXT data gets a goodbye
// (§10.1). IPv6 zones are removed; addresses naming another peer ID are
// left out (and logged). Safe for concurrent use.
func (r *Responder) SetAddrs(addrs []ma.Multiaddr) {
	var a []ma.Multiaddr
	for _, m := range stripZones(addrs) {
		if _, err := mdns.NewRecordSet(mdns.Peer{PeerName: "x", ID: r.cfg.PeerID, Addrs: []ma.Multiaddr{m}}); err != nil {
			r.log.Warn("SetAddrs: address left out", "addr", m, "err", err)
			continue
		}
		a = append(a, m)
	}
	r.addrMu.Lock()
	r.addrs = a
	r.addrMu.Unlock()
	select {
	case r.addrsCh <- struct{}{}:
	default:
	}
}

// Close stops Run, which sends goodbyes (RFC 6762 §10.1), and waits for
// it. Safe to call more than once, and without Run. The Conn stays open:
// whoever opened it closes it.
func (r *Responder) Close() error {
	if r.life.Close() {
		r.view.Close()
	}
	return nil
}

// Run probes, announces and answers until ctx ends or Close is called,
// then sends goodbyes (§10.1) and returns nil; it reads through its own
// View of the Conn, which it closes on return. A second call returns
// ErrRunning, a call after Close ErrClosed; a Conn closed under it,
// transport.ErrClosed.
func (r *Responder) Run(ctx context.Context) error {
	if err := r.life.Start(ErrRunning, ErrClosed); err != nil {
		return err
	}
	defer r.life.Finish()
	defer r.view.Close()
	r.refreshIfaces(time.Now())
	err := r.loop(ctx, r.view)
	r.sendGoodbyes()
	return err
}

// loop is Run's scheduler: packets, interface events, address changes and
// the timers of probes, announcements and delayed answers.
func (r *Responder) loop(ctx context.Context, view *transport.View) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.runDue(time.Now())
		if next := r.nextDeadline(); next.IsZero() {
			timer.Reset(time.Hour)
		} else {
			timer.Reset(max(time.Until(next), 0))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.life.Closing():
			return nil
		case p, ok := <-view.Packets():
			if !ok {
				return transport.ErrClosed
			}
			rp := rxPacket{data: p.Data, src: p.Src, ifIndex: p.IfIndex, multicast: p.Multicast, v4: p.IsV4()}
			r.handle(&rp, time.Now())
		case <-r.addrsCh:
			r.addrsChanged(time.Now())
		case ev, ok := <-view.Events():
			if ok {
				r.log.Debug("interface event", "kind", ev.Kind, "if", ev.IfIndex, "prefix", ev.Prefix)
				r.refreshIfaces(time.Now())
			}
		case <-timer.C:
		}
	}
}

// accept is the View's prefilter, on the Conn's receiving goroutine: the
// cheap checks (IP TTL, RFC 6762 §11; size; the label prefilter), without
// allocating. What it rejects is counted by reason.
func (r *Responder) accept(p *transport.Packet) bool {
	r.st.Received.Add(1)
	switch {
	case p.TTL != 255 && p.TTL != -1 && !isLegacyQuery(p):
		// §11: a packet not sent with TTL 255 may come from off-link.
		// Legacy unicast queriers (§6.7: source port ≠ 5353, e.g.
		// `dig -p 5353 @224.0.0.251`) use the system's default TTL;
		// their queries are still subject to the on-link source check
		// in handle, which is what §11 requires of a responder.
		r.st.DroppedTTL.Add(1)
	case len(p.Data) > mdns.MaxPacketSize || len(p.Data) < 12:
		r.st.DroppedMalformed.Add(1)
	case !r.filter.Load().Match(p.Data):
		r.st.Ignored.Add(1)
	default:
		return true
	}
	return false
}

// isLegacyQuery reports whether p is a query (QR=0) from a source port other
// than 5353 (RFC 6762 §6.7).
func isLegacyQuery(p *transport.Packet) bool {
	return p.Src.Port() != mdns.Port && len(p.Data) > 2 && p.Data[2]&0x80 == 0
}

// handle processes one received packet on the Run goroutine.
func (r *Responder) handle(p *rxPacket, now time.Time) {
	st := r.ifs[p.ifIndex]
	if st == nil {
		r.st.Ignored.Add(1)
		return
	}
	if !st.ifc.OnLink(p.src.Addr()) {
		// §11: only on-link sources are accepted.
		r.st.DroppedOffLink.Add(1)
		return
	}
	m := &r.msg
	if err := mdns.ParseInto(m, p.data); err != nil {
		r.st.DroppedMalformed.Add(1)
		return
	}
	kind, err := mdns.Classify(m)
	if err != nil {
		// §18.3, §18.11: non-zero opcode or rcode is silently ignored.
		r.st.Ignored.Add(1)
		return
	}
	switch kind {
	case mdns.KindQuery:
		r.handleQuery(st, p, m, false, now)
	case mdns.KindProbe:
		if p.src.Port() != mdns.Port {
			r.handleQuery(st, p, m, false, now)
			return
		}
		if r.handleProbe(st, p, m, now) {
			r.handleQuery(st, p, m, true, now)
		}
	default:
		r.handleResponse(st, p, m, now)
	}
}

// runDue runs every step whose time has come.
func (r *Responder) runDue(now time.Time) {
	// Delayed answers go before the probes and announcements due at the
	// same instant: an answer owed to a querier that cannot read
	// announcements (see pending.legacy) is not held back another second
	// by the announcement; the announcement waits for the rate limit
	// instead (§6, step).
	for _, idx := range r.ifOrder {
		st := r.ifs[idx]
		for f := range st.fam {
			if pd := &st.fam[f].pend; !pd.at.IsZero() && !now.Before(pd.at) {
				ans, add, legacy := pd.ans, pd.add, pd.legacy
				*pd = pending{}
				if held, at := r.sendMulticast(st, f == 0, ans, add, false, now); held != 0 && legacy {
					*pd = pending{ans: held, add: add, at: at, legacy: true}
				}
			}
		}
	}
	for _, idx := range r.ifOrder {
		st := r.ifs[idx]
		if !st.next.IsZero() && !now.Before(st.next) {
			r.step(st, now)
		}
	}
	for k, h := range r.tc {
		if !now.Before(h.at) {
			delete(r.tc, k)
			if st := r.ifs[k.ifIndex]; st != nil {
				r.answer(st, &asked{pkt: &h.pkt, qs: h.qs, known: r.foundKinds(st, h.found), afterTC: true}, now)
			}
		}
	}
}

// nextDeadline is the earliest scheduled step, or zero.
func (r *Responder) nextDeadline() time.Time {
	var next time.Time
	upd := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, st := range r.ifs {
		upd(st.next)
		upd(st.fam[0].pend.at)
		upd(st.fam[1].pend.at)
	}
	for _, h := range r.tc {
		upd(h.at)
	}
	return next
}

// randDur returns a uniformly random duration in [lo, hi].
func (r *Responder) randDur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.rnd.Int64N(int64(hi-lo)+1))
}

// stripZones removes /ip6zone components: link-local multiaddrs are sent
// without zone (the zone is meaningless to the receiver).
func stripZones(in []ma.Multiaddr) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(in))
	for _, a := range in {
		var b ma.Multiaddr
		for _, c := range a {
			if c.Code() != ma.P_IP6ZONE {
				b = append(b, c)
			}
		}
		if len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}
