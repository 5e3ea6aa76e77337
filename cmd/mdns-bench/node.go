//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	golibp2pmdns "github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/chorus-services/discovery"
)

// The node protocol. A node prints JSON lines (nodeMsg) on stdout and reads
// commands from stdin:
//
//	start <unix-nanoseconds>   start mDNS at that wall-clock instant
//	mark <name>                reply with a usage line (rusage now)
//
// SIGTERM, SIGINT or the end of stdin stop it: it takes its final rusage
// and VmHWM first, then closes mDNS (ours sends goodbyes) and the host, and
// prints the final line.

// nodeMsg is one line of a node's output.
type nodeMsg struct {
	Ev    string  `json:"ev"`              // ready, found, connected, usage, final, error
	ID    string  `json:"id,omitempty"`    // ready: own ID; found/connected: the peer's
	T     float64 `json:"t"`               // seconds since the common start (wall clock)
	Mark  string  `json:"mark,omitempty"`  // usage
	Usage *usage  `json:"usage,omitempty"` // usage, final: since the process started
	Start *usage  `json:"start,omitempty"` // final: at the common start
	PID   int     `json:"pid,omitempty"`   // ready
	// final only:
	VmHWMKiB      int64  `json:"vmhwm_kib,omitempty"`
	FoundCalls    int64  `json:"found_calls,omitempty"`    // go-libp2p: HandlePeerFound calls
	DialFailed    int64  `json:"dial_failed,omitempty"`    // failed connection attempts
	EventsDropped uint64 `json:"events_dropped,omitempty"` // ours: Events not delivered
	ChanDropped   uint64 `json:"chan_dropped,omitempty"`   // ours: PeersChan deliveries dropped (channel full)
	Error         string `json:"error,omitempty"`
}

// usage is CPU time of the process (getrusage RUSAGE_SELF).
type usage struct {
	UserUS int64 `json:"user_us"`
	SysUS  int64 `json:"sys_us"`
}

func (u usage) seconds() float64 { return float64(u.UserUS+u.SysUS) / 1e6 }

func (u usage) sub(v usage) usage { return usage{u.UserUS - v.UserUS, u.SysUS - v.SysUS} }

func rusageNow() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	return usage{UserUS: ru.Utime.Sec*1e6 + ru.Utime.Usec, SysUS: ru.Stime.Sec*1e6 + ru.Stime.Usec}
}

// vmHWM reads the peak resident set size (KiB) from /proc/self/status.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

// nodeOut writes nodeMsg lines; recorded events are printed once per peer.
type nodeOut struct {
	mu    sync.Mutex
	enc   *json.Encoder
	start atomic.Int64 // unix ns of the common start, 0 before
	seen  map[string]bool
}

func (o *nodeOut) send(m nodeMsg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(m)
}

func (o *nodeOut) since() float64 {
	s := o.start.Load()
	if s == 0 {
		return 0
	}
	return float64(time.Now().UnixNano()-s) / 1e9
}

// first prints ev for the peer the first time it happens.
func (o *nodeOut) first(ev string, id peer.ID) {
	t := o.since()
	key := ev + " " + string(id)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[key] {
		return
	}
	o.seen[key] = true
	_ = o.enc.Encode(nodeMsg{Ev: ev, ID: id.String(), T: t})
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// runNode is the hidden node subcommand, run by the bench inside a host
// namespace; it stops when ctx is done (SIGTERM) or stdin ends.
func runNode(sigCtx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	impl := fs.String("impl", implOurs, "ours, ours-dropin or go-libp2p")
	tag := fs.String("tag", defaultTag, "service tag")
	iface := fs.String("iface", "lan0", "interface (ours)")
	strictProbes := fs.Bool("strict-probes", false, "ours: discovery.WithProbeHints(false)")
	noConnect := fs.Bool("no-connect", false, "do not connect to the peers found")
	dialTimeout := fs.Duration("dial-timeout", 10*time.Second, "timeout of one connection attempt")
	var listen stringList
	fs.Var(&listen, "listen", "libp2p TCP listen multiaddr (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !slices.Contains(allImpls, *impl) {
		return fmt.Errorf("unknown --impl %q", *impl)
	}
	out := &nodeOut{enc: json.NewEncoder(stdout), seen: map[string]bool{}}

	h, err := libp2p.New(libp2p.ListenAddrStrings(listen...), libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay())
	if err != nil {
		return fmt.Errorf("libp2p host: %w", err)
	}
	defer h.Close()
	h.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if out.start.Load() != 0 {
			out.first("connected", c.RemotePeer())
		}
	}})

	// Commands arrive on stdin; its end stops the node like SIGTERM.
	startCh := make(chan time.Time, 1)
	marks := make(chan string, 16)
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()
	go readCommands(stdin, startCh, marks, cancel)

	out.send(nodeMsg{Ev: "ready", ID: h.ID().String(), PID: os.Getpid()})
	var start time.Time
	select {
	case start = <-startCh:
	case <-ctx.Done():
		return nil
	case <-time.After(10 * time.Minute):
		return errors.New("no start command within 10 minutes")
	}
	select {
	case <-time.After(time.Until(start)):
	case <-ctx.Done():
		return nil
	}
	out.start.Store(start.UnixNano())
	atStart := rusageNow()

	mdnsNode, err := startMDNS(h, out, nodeOpts{impl: *impl, tag: *tag, iface: *iface, strictProbes: *strictProbes,
		noConnect: *noConnect, dialTimeout: *dialTimeout})
	if err != nil {
		return err
	}

	for running := true; running; {
		select {
		case m := <-marks:
			u := rusageNow()
			out.send(nodeMsg{Ev: "usage", Mark: m, T: out.since(), Usage: &u})
		case <-ctx.Done():
			running = false
		}
	}
	final := nodeMsg{Ev: "final", T: out.since(), Start: &atStart, VmHWMKiB: vmHWM()}
	u := rusageNow()
	final.Usage = &u
	final.FoundCalls, final.DialFailed, final.EventsDropped, final.ChanDropped = mdnsNode.stats()
	closed := make(chan error, 1)
	go func() { closed <- mdnsNode.close() }()
	select {
	case err := <-closed:
		if err != nil {
			final.Error = "close: " + err.Error()
		}
	case <-time.After(10 * time.Second):
		final.Error = "close: still running after 10 s"
	}
	out.send(final)
	return nil
}

// nodeOpts configure the mDNS side of a node.
type nodeOpts struct {
	impl, tag, iface        string
	strictProbes, noConnect bool
	dialTimeout             time.Duration
}

// mdnsRunning is a started mDNS implementation.
type mdnsRunning struct {
	stats func() (foundCalls, dialFailed int64, evDrops, chanDrops uint64)
	close func() error
}

// startMDNS starts the implementation with its default options (only the
// interface is set, and what --strict-probes / --no-connect ask for). A
// node has found a peer when the public API first hands it over, as its
// user sees it:
//
//   - ours: NewMDNSDiscovery (auto-connect), the first PeersChan delivery;
//   - ours-dropin: the drop-in NewMdnsService with the same notifee as
//     go-libp2p's (it calls host.Connect), the first HandlePeerFound;
//   - go-libp2p: its NewMdnsService, the first HandlePeerFound.
func startMDNS(h host.Host, out *nodeOut, o nodeOpts) (*mdnsRunning, error) {
	switch o.impl {
	case implOurs:
		return startOurs(h, out, o)
	case implDropIn:
		n := &goNotifee{h: h, out: out, timeout: o.dialTimeout, connect: !o.noConnect}
		svc := discovery.NewMdnsService(h, o.tag, n, discovery.WithInterfaces(o.iface))
		if err := svc.Start(); err != nil {
			return nil, fmt.Errorf("discovery.NewMdnsService: %w", err)
		}
		return &mdnsRunning{stats: n.stats, close: svc.Close}, nil
	default:
		n := &goNotifee{h: h, out: out, timeout: o.dialTimeout, connect: !o.noConnect}
		svc := golibp2pmdns.NewMdnsService(h, o.tag, n)
		if err := svc.Start(); err != nil {
			return nil, fmt.Errorf("go-libp2p mdns: %w", err)
		}
		return &mdnsRunning{stats: n.stats, close: svc.Close}, nil
	}
}

// startOurs runs NewMDNSDiscovery and reads PeersChan as its user does.
func startOurs(h host.Host, out *nodeOut, o nodeOpts) (*mdnsRunning, error) {
	opts := []discovery.Option{discovery.WithInterfaces(o.iface), discovery.WithDialTimeout(o.dialTimeout)}
	if o.strictProbes {
		opts = append(opts, discovery.WithProbeHints(false))
	}
	if o.noConnect {
		opts = append(opts, discovery.WithAutoConnect(false))
	}
	d, err := discovery.NewMDNSDiscovery(context.Background(), h, o.tag, opts...)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ai := range d.PeersChan() {
			out.first("found", ai.ID)
		}
	})
	stats := func() (int64, int64, uint64, uint64) {
		m := d.Metrics()
		return 0, int64(m.ConnectionsFailed), m.EventsDropped, m.PeersChanDropped
	}
	closeFn := func() error {
		err := d.Close() // closes PeersChan and Events
		wg.Wait()
		return err
	}
	return &mdnsRunning{stats: stats, close: closeFn}, nil
}

func readCommands(stdin io.Reader, startCh chan<- time.Time, marks chan<- string, stop func()) {
	defer stop()
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch cmd {
		case "start":
			ns, err := strconv.ParseInt(arg, 10, 64)
			if err == nil {
				select {
				case startCh <- time.Unix(0, ns):
				default:
				}
			}
		case "mark":
			select {
			case marks <- arg:
			default:
			}
		}
	}
}

// goNotifee is how go-libp2p's mdns is typically used: every peer found is
// connected to with host.Connect. go-libp2p calls HandlePeerFound in a new
// goroutine per response received; our drop-in calls it from one
// goroutine, in order, so a slow Connect there delays the next peer's
// HandlePeerFound (measured as such: that is what a switching user sees).
type goNotifee struct {
	h       host.Host
	out     *nodeOut
	timeout time.Duration
	connect bool
	calls   atomic.Int64
	failed  atomic.Int64
}

func (n *goNotifee) stats() (int64, int64, uint64, uint64) {
	return n.calls.Load(), n.failed.Load(), 0, 0
}

func (n *goNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n.calls.Add(1)
	n.out.first("found", ai.ID)
	if !n.connect {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
	defer cancel()
	if err := n.h.Connect(ctx, ai); err != nil {
		n.failed.Add(1)
	}
}
