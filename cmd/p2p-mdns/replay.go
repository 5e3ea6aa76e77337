package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
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
	fset := flag.NewFlagSet("replay", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {
		fmt.Fprintln(stderr, "usage: p2p-mdns replay [flags] FILE.pcap...")
		fset.PrintDefaults()
	}
	service := fset.String("service", "", "libp2p service tag (default _p2p._udp, as go-libp2p maps tags)")
	jsonOut := fset.Bool("json", false, "print one JSON object per line (with a \"file\" field)")
	ifName := fset.String("iface-name", "eth0", "name of the interface the capture is replayed on (the /ip6zone of link-local addresses)")
	linger := fset.Duration("linger", 2*time.Second, "keep the capture's clock running this long after its last packet")
	logLevel := fset.String("log-level", "warn", "log level: debug, info, warn, error")
	files, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	c := common{logLevel: *logLevel}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError{errors.New("no capture file given")}
	}
	svc, err := mdns.ServiceName(*service)
	if err != nil {
		return usageError{err}
	}
	if *ifName == "" {
		return usageError{errors.New("--iface-name must not be empty")}
	}
	if *linger < 0 {
		return usageError{errors.New("--linger must not be negative")}
	}
	// Read every capture first: a bad one is reported before any output.
	caps := make([][]pcapread.Datagram, len(files))
	for i, f := range files {
		if caps[i], _, err = pcapread.ReadFile(f); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return usageError{err} // names the file already
			}
			return usageError{fmt.Errorf("%s: %w", f, err)}
		}
	}
	out := newEventWriter(stdout, *jsonOut)
	for i, f := range files {
		if err := out.header("%s: %d mDNS datagrams", f, len(caps[i])); err != nil { // table mode only
			return err
		}
		out.file = f
		r := replayer{service: svc, ifName: *ifName, linger: *linger, log: log, out: out}
		if err := r.run(ctx, caps[i]); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments, and returns the latter.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		if used := len(args) - fs.NArg(); used > 0 && args[used-1] == "--" {
			return append(pos, fs.Args()...), nil // everything after "--" is positional
		}
		args = fs.Args()
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// replayer feeds one capture through a fresh Browser on the capture's
// clock and prints the events it reports.
type replayer struct {
	service string
	ifName  string
	linger  time.Duration
	log     *slog.Logger
	out     *eventWriter

	b    *browser.Browser
	base time.Time
	prev map[peer.ID]string // found peers → their sorted addresses
}

func (r *replayer) run(ctx context.Context, dgs []pcapread.Datagram) error {
	if len(dgs) == 0 {
		return nil
	}
	conn := newReplayConn(replayInterface(dgs, r.ifName))
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

	t0 := dgs[0].Time
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
	for _, dg := range dgs {
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
	}
	end := cur + r.linger
	if err := advance(end + 1); err != nil { // grid points up to end included
		return err
	}
	if cur < end {
		return r.feed(tick, end)
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
		if err := r.out.emit(eventKind(ev.Kind), ev.Peer.ID, ev.Peer.Addrs, ev.Flavour.String(), seconds(ev.Time.Sub(r.base))); err != nil {
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
// as pcapread numbers it). Every source address of the capture is made
// on-link (a host prefix each), so that the browser's RFC 6762 §11 check
// passes as it did on the captured link; IPv6 link-local sources always do.
func replayInterface(dgs []pcapread.Datagram, name string) transport.Interface {
	seen := map[netip.Addr]bool{}
	var ps []netip.Prefix
	for _, dg := range dgs {
		a := dg.Packet.Src.Addr().Unmap().WithZone("")
		if !a.IsValid() || seen[a] || (a.Is6() && a.IsLinkLocalUnicast()) {
			continue
		}
		seen[a] = true
		ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
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
