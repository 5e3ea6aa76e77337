package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/peer"
)

// replayStep is the grid on which the capture's clock advances between
// packets, so that expiries (goodbyes take effect 1 s after they are
// received, RFC 6762 §10.1) are reported within replayStep of their time.
const replayStep = 100 * time.Millisecond

// replayMaxSteps bounds the steps of one gap between packets (or of
// --linger): longer gaps advance in coarser steps.
const replayMaxSteps = 100_000

// replayEventWait bounds the wait for an event the browser must have
// emitted; it is only reached if the browser and the replay disagree.
const replayEventWait = 5 * time.Second

// replayEpoch offsets the replayed clock far past the wall clock: the
// browser's Run loop (needed for Events) keeps its own timers on wall time,
// and with every replayed instant in its future it never expires anything
// itself; all state changes come from Feed, on the capture's clock.
const replayEpoch = 50 * 365 * 24 * time.Hour

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", stdout)
	var c common
	fs.StringVar(&c.service, "service", "", "libp2p service tag (default _p2p._udp, go-libp2p's)")
	c.registerOutput(fs)
	ifName := fs.String("iface-name", "eth0", "name of the interface the capture is replayed on (the /ip6zone of link-local addresses)")
	linger := fs.Duration("linger", 2*time.Second, "keep the capture's clock running this long after its last packet")
	progress := fs.Bool("progress", false, "report progress on stderr (default: when stderr is a terminal)")
	files, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := c.checkLogLevel(); err != nil {
		return err
	}
	svc, err := mdns.ServiceName(c.service)
	switch {
	case err != nil:
		return usageError{fmt.Errorf("--service %q: %v", c.service, err)}
	case len(files) == 0:
		return usageError{errors.New("no capture file given (- reads standard input)")}
	case countOf(files, "-") > 1:
		return usageError{errors.New("standard input (-) can be replayed once only")}
	case *ifName == "":
		return usageError{errors.New("--iface-name must not be empty")}
	case *linger < 0:
		return usageError{fmt.Errorf("--linger %v: must not be negative", *linger)}
	}
	log := c.logger(stderr)
	// Open every capture and read its header first: a bad one is reported
	// before any output. The datagrams are streamed afterwards.
	caps := make([]*capture, 0, len(files))
	defer func() {
		for _, cp := range caps {
			cp.Close()
		}
	}()
	for _, f := range files {
		cp, err := openCapture(f)
		if err != nil {
			return err
		}
		caps = append(caps, cp)
	}
	out := newEventWriter(stdout, c.jsonOut, c.short(stdout))
	for _, cp := range caps {
		if err := out.comment("%s", cp.name); err != nil { // table mode only
			return err
		}
		out.file = cp.name
		out.forget()
		r := replayer{service: svc, ifName: *ifName, linger: *linger, log: log, out: out}
		stop := func() {}
		if *progress || isTerminal(stderr) {
			stop = showProgress(stderr, cp)
		}
		err := r.run(ctx, cp.rd)
		stop()
		if err != nil {
			return fmt.Errorf("%s: %w", cp.name, err)
		}
		if err := r.summary(cp); err != nil {
			return err
		}
	}
	return nil
}

// fileRecord is the record replay prints after each capture (JSON:
// {"event":"file",…}; table: a "# …" line): what was read of it.
type fileRecord struct {
	Event       string  `json:"event"` // "file"
	File        string  `json:"file"`
	T           float64 `json:"t"` // the capture's clock at the end (last packet + linger)
	Frames      int     `json:"frames"`
	Datagrams   int     `json:"datagrams"`
	Reassembled int     `json:"reassembled"`
	Incomplete  int     `json:"incomplete"`
	Skipped     int     `json:"skipped"`
	Peers       int     `json:"peers"` // peers found in the capture
}

func (r *replayer) summary(cp *capture) error {
	st := cp.rd.Stats()
	rec := fileRecord{Event: "file", File: cp.name, T: seconds(r.end), Frames: st.Frames, Datagrams: st.Datagrams,
		Reassembled: st.Reassembled, Incomplete: st.Incomplete, Skipped: st.Skipped, Peers: r.found}
	if r.out.jsonOut {
		return r.out.enc.Encode(rec)
	}
	return r.out.comment("%s: %d mDNS datagrams in %d frames (%d reassembled from fragments, %d fragments incomplete, %d other frames), %d peers, %.1f s of capture",
		rec.File, rec.Datagrams, rec.Frames, rec.Reassembled, rec.Incomplete, rec.Skipped, rec.Peers, rec.T)
}

// showProgress reports on stderr, twice a second, how much of the capture
// was read; stop ends it and clears the line.
func showProgress(stderr io.Writer, cp *capture) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(500 * time.Millisecond)
		defer tk.Stop()
		shown := false
		for {
			select {
			case <-done:
				if shown {
					fmt.Fprint(stderr, "\r\033[K")
				}
				return
			case <-tk.C:
				n := cp.read.Load()
				line := fmt.Sprintf("%s: %.1f MB read", cp.name, float64(n)/1e6)
				if cp.size > 0 {
					line = fmt.Sprintf("%s: %.1f of %.1f MB (%d%%)", cp.name, float64(n)/1e6, float64(cp.size)/1e6, n*100/cp.size)
				}
				fmt.Fprint(stderr, "\r\033[K"+line)
				shown = true
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// replayer feeds one capture through a fresh Browser on the capture's
// clock and prints the events it reports.
type replayer struct {
	service string
	ifName  string
	linger  time.Duration
	log     *slog.Logger
	out     *eventWriter

	b     *browser.Browser
	base  time.Time
	prev  map[peer.ID]string // found peers → their sorted addresses
	end   time.Duration      // the capture's clock at the end
	found int                // found events
}

func (r *replayer) run(ctx context.Context, rd *pcapread.Reader) error {
	first, err := rd.Next()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	conn := newReplayConn(replayInterface(r.ifName))
	b, err := browser.New(browser.Config{
		Conn:       conn,
		Service:    r.service,
		EventQueue: 1 << 16, // never coalesce or drop: the replay waits for each event
		Logger:     r.log,
		Rand:       rand.New(rand.NewPCG(1, 2)),
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	defer func() {
		cancel()
		<-done
	}()
	r.b, r.prev = b, map[peer.ID]string{}
	r.base = nowFunc().Add(replayEpoch)

	t0 := first.Time
	var cur time.Duration // the replayed clock, since the first packet
	tick := transport.Packet{Data: make([]byte, 12), TTL: 255, IfIndex: 1}
	advance := func(to time.Duration) error { // grid steps in (cur, to)
		step := replayStep
		if n := (to - cur) / replayStep; n > replayMaxSteps { // a long gap: coarser steps
			step *= (n + replayMaxSteps - 1) / replayMaxSteps
		}
		for g := (cur/step + 1) * step; g < to; g += step {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := r.feed(tick, g); err != nil {
				return err
			}
			cur = g
		}
		return nil
	}
	for dg := first; ; {
		off := max(dg.Time.Sub(t0), cur) // out-of-order timestamps: keep time monotonic
		if err := advance(off); err != nil {
			return err
		}
		cur = off
		p := transport.Packet(dg.Packet)
		p.IfIndex = 1
		if err := r.feed(p, off); err != nil {
			return err
		}
		if dg, err = rd.Next(); err == io.EOF {
			break
		} else if err != nil {
			return usageError{err} // unreadable input
		}
	}
	r.end = cur + r.linger
	if err := advance(r.end + 1); err != nil { // grid points up to end included
		return err
	}
	if cur < r.end {
		return r.feed(tick, r.end)
	}
	return nil
}

// feed processes one packet at offset off, then reads exactly the events
// the browser emitted for it: the changes of its Peers() set (one event per
// changed peer, as the browser settles each peer once per Feed). Events of
// one instant are printed in peer ID order.
func (r *replayer) feed(p transport.Packet, off time.Duration) error {
	r.b.Feed(p, r.base.Add(off))
	next := map[peer.ID]string{}
	for _, ai := range r.b.Peers() {
		next[ai.ID] = addrKey(ai)
	}
	n := 0
	for id, k := range next {
		if old, ok := r.prev[id]; !ok || old != k {
			n++
		}
	}
	for id := range r.prev {
		if _, ok := next[id]; !ok {
			n++
		}
	}
	r.prev = next
	evs := make([]browser.Event, 0, n)
	timeout := time.NewTimer(replayEventWait)
	defer timeout.Stop()
	for len(evs) < n {
		select {
		case ev, ok := <-r.b.Events():
			if !ok {
				return errors.New("replay: browser stopped")
			}
			evs = append(evs, ev)
		case <-timeout.C:
			return fmt.Errorf("replay: %d of %d events at %v", len(evs), n, off)
		}
	}
	slices.SortStableFunc(evs, func(a, b browser.Event) int { return strings.Compare(string(a.Peer.ID), string(b.Peer.ID)) })
	for _, ev := range evs {
		if ev.Kind == browser.Found {
			r.found++
		}
		if err := r.out.emit(newEvent(eventKind(ev.Kind), ev.Peer.ID, ev.Peer.Addrs, ev.Flavour.String(), seconds(ev.Time.Sub(r.base)))); err != nil {
			return err
		}
	}
	return nil
}

func addrKey(ai peer.AddrInfo) string {
	s := make([]string, len(ai.Addrs))
	for i, a := range ai.Addrs {
		s[i] = string(a.Bytes())
	}
	slices.Sort(s)
	return strings.Join(s, "\x00")
}

// eventKind names a browser event kind in the stable event format.
func eventKind(k browser.EventKind) string {
	switch k {
	case browser.Found:
		return evFound
	case browser.Updated:
		return evUpdated
	case browser.Lost:
		return evLost
	}
	return strings.ToLower(k.String())
}

// seconds turns a duration into the "t" of the event format, rounded to the
// microsecond (the resolution of pcap timestamps).
func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Second)
}

// replayInterface is the one interface a capture is replayed on (index 1,
// as pcapread numbers it). Every source of the capture is on-link (its
// prefixes cover every address), so that the browser's RFC 6762 §11 check
// passes as it did on the captured link, without reading the capture
// first.
func replayInterface(name string) transport.Interface {
	ps := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	return transport.Interface{Index: 1, Name: name, MTU: 1500, Up: true, Multicast: true, Prefixes: ps, V4: true, V6: true}
}

// replayConn is the Browser's Conn during a replay: it receives nothing
// (packets come through Feed) and discards what the browser sends.
type replayConn struct {
	ifc    transport.Interface
	hub    transport.Hub
	closed chan struct{}
	once   sync.Once
}

func newReplayConn(ifc transport.Interface) *replayConn {
	return &replayConn{ifc: ifc, closed: make(chan struct{})}
}

func (c *replayConn) View(cfg transport.ViewConfig) (*transport.View, error) {
	return c.hub.Attach(c, cfg)
}

func (c *replayConn) WritePacket(p *transport.Packet) error {
	select {
	case <-c.closed:
		return transport.ErrClosed
	default:
		return nil
	}
}

func (c *replayConn) Interfaces() []transport.Interface {
	ifc := c.ifc
	ifc.Prefixes = slices.Clone(ifc.Prefixes)
	return []transport.Interface{ifc}
}

func (c *replayConn) Close() error {
	c.once.Do(func() { close(c.closed); c.hub.Close() })
	return nil
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
