package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorus-services/discovery/mdns"
)

// Config selects the interfaces and families of a UDP Conn.
type Config struct {
	// Interfaces names the interfaces to use. Empty means every interface
	// that is up, multicast-capable and not a loopback interface.
	Interfaces []string
	// IncludeLoopback adds the loopback interfaces when Interfaces is
	// empty.
	IncludeLoopback bool
	// DisableIPv4 and DisableIPv6 turn a family off (not both).
	DisableIPv4, DisableIPv6 bool
	// RequireInterface makes Listen fail (ErrNoInterface) when the group
	// cannot be joined on any interface yet. By default Listen succeeds
	// and the Conn waits: its watcher joins the groups when an interface
	// comes up (a machine that boots before its Wi-Fi, a service started
	// before the network).
	RequireInterface bool
	// NoWatch turns the interface watcher off: the Conn then keeps the
	// interfaces it found at Listen until Refresh is called, and its Views
	// get no events. For short-lived tools only.
	NoWatch bool
	// PollInterval is the watcher's listing interval where the platform
	// sends no change notifications (0: DefaultPollInterval).
	PollInterval time.Duration
	// QueueLen is the packet queue of a View whose ViewConfig.QueueLen is
	// 0 (0: DefaultViewQueue).
	QueueLen int
	// Logger receives the diagnostics; nil discards them.
	Logger *slog.Logger
}

// setDefaults checks c, fills its zero fields and makes its slices its
// own; errors name the field and its value.
func (c *Config) setDefaults() error {
	if c.DisableIPv4 && c.DisableIPv6 {
		return errors.New("transport: Config.DisableIPv4 and DisableIPv6 are both set (no family left)")
	}
	if err := validateNames(c.Interfaces); err != nil {
		return err
	}
	c.Interfaces = slices.Clone(c.Interfaces)
	switch {
	case c.QueueLen < 0:
		return fmt.Errorf("transport: Config.QueueLen is negative (%d)", c.QueueLen)
	case c.PollInterval < 0:
		return fmt.Errorf("transport: Config.PollInterval is negative (%v)", c.PollInterval)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("component", "transport")
	return nil
}

// Problem is one thing that failed while opening or refreshing a UDP Conn
// without stopping it: a family that could not be opened, a socket option
// that could not be set, a group that could not be joined on an interface.
type Problem struct {
	Interface string // "" for a socket-level problem
	Family    string // "ipv4" or "ipv6"
	Step      string // "listen", "join", "sockopt …", "list interfaces"
	Err       error
}

func (p Problem) String() string {
	s := p.Family + " " + p.Step
	if p.Interface != "" {
		s += " on " + p.Interface
	}
	return s + ": " + p.Err.Error()
}

// Stats counts what a UDP Conn received and dropped, and how its sockets
// failed and recovered.
type Stats struct {
	Received uint64 `json:"received"` // datagrams read on an interface in use
	Dropped  uint64 `json:"dropped"`  // copies dropped because a View's queue was full (each View counts its own: View.Stats)
	Oversize uint64 `json:"oversize"` // dropped because larger than mdns.MaxPacketSize
	Foreign  uint64 `json:"foreign"`  // dropped because they arrived on an interface not in use

	ReadErrors     uint64 `json:"read_errors"`     // socket reads that failed (every retry counts)
	WriteErrors    uint64 `json:"write_errors"`    // sends the socket refused (not invalid packets, not after Close)
	Reopens        uint64 `json:"reopens"`         // sockets closed and opened again after a persistent failure
	ReopenFailures uint64 `json:"reopen_failures"` // reopen attempts that failed (retried with backoff)
}

// rxBufSize lets an oversize datagram be told from one of exactly
// mdns.MaxPacketSize bytes.
const rxBufSize = mdns.MaxPacketSize + 1

type rxBuf struct {
	b    []byte
	n    int
	meta rxMeta
	v4   bool
}

// UDP is the Conn over the host's UDP sockets: one wildcard socket per
// family bound to port 5353, joined to the mDNS group on every selected
// interface. Create it with Listen.
//
// It owns its interface watcher: on a change it refreshes the sockets
// (joins and leaves groups) and then tells every View (View.Events), so a
// reader that re-reads Interfaces on an event sees the change.
//
// On Linux, the sockets live in the network namespace of the thread that
// called Listen, and Refresh lists the interfaces of that same namespace.
type UDP struct {
	cfg Config
	log *slog.Logger
	hub Hub

	watch     *Watcher // nil with Config.NoWatch or when it could not start
	stopWatch context.CancelFunc

	// sockMu guards socks: a family's socket is replaced when it is
	// reopened (udp_recover.go). Close closes them under it.
	sockMu sync.RWMutex
	socks  [2]famSock // [0] IPv4, [1] IPv6; nil when not open
	// open opens a family's socket (openSock; replaced by tests).
	open func(v4 bool) (famSock, []Problem, error)

	// refreshMu serialises Refresh, reopens (whose group joins must not
	// interleave with a refresh's) and Close's release of ns.
	refreshMu sync.Mutex
	ns        nsRef

	mu       sync.RWMutex
	ifs      map[int]*Interface // interfaces joined in at least one family
	named    map[string]bool
	sockProb []Problem   // from Listen, kept
	ifProb   []Problem   // from the last refresh
	failProb [2]*Problem // a family's current read or reopen failure

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup

	received, dropped, oversize, foreign      atomic.Uint64
	readErrs, writeErrs, reopens, reopenFails atomic.Uint64
	// lastWarn (Unix ns) rate-limits the send-failure warning.
	lastWarn atomic.Int64
}

var _ Conn = (*UDP)(nil)

// Listen opens the sockets of the families not disabled, joins the mDNS
// groups 224.0.0.251 and ff02::fb on the selected interfaces (RFC 6762 §5),
// starts one reader goroutine per open family and the interface watcher.
//
// A family that cannot be opened, or an interface on which the group cannot
// be joined, is logged and reported by Problems; the others go on. With no
// usable interface yet, Listen logs that it waits for one and succeeds
// (Config.RequireInterface makes that an ErrNoInterface error). Listen fails
// when cfg is invalid, when a named interface does not exist or when no
// socket could be opened.
func Listen(cfg Config) (*UDP, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	// Sockets and the namespace handle must come from the same thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	u := newUDP(cfg)
	var err error
	if u.ns, err = captureNS(); err != nil {
		u.log.Warn("interface refresh may look at the wrong namespace", "err", err)
	}
	all, err := systemInterfaces()
	if err == nil {
		_, err = selectInterfaces(all, cfg.Interfaces, cfg.IncludeLoopback, true)
	}
	if err == nil {
		err = u.openFamilies()
	}
	if err != nil {
		u.ns.close()
		return nil, err
	}
	u.apply(all)
	if len(u.ifs) == 0 {
		err := fmt.Errorf("%w: the mDNS group could not be joined on any interface", ErrNoInterface)
		if probs := u.Problems(); len(probs) > 0 {
			err = fmt.Errorf("%w (%s)", err, probs[0])
		}
		if cfg.RequireInterface || cfg.NoWatch {
			_ = u.Close()
			return nil, err
		}
		u.log.Warn("no usable interface yet; waiting for one to come up", "why", err)
	}
	u.startWatch()
	u.start()
	u.log.Info("listening", "interfaces", len(u.ifs))
	return u, nil
}

// openFamilies opens the socket of every family not disabled; it fails
// only when none could be opened.
func (u *UDP) openFamilies() error {
	var openErr error
	for i, v4 := range []bool{true, false} {
		if (v4 && u.cfg.DisableIPv4) || (!v4 && u.cfg.DisableIPv6) {
			continue
		}
		s, probs, err := u.open(v4)
		if err != nil {
			openErr = errors.Join(openErr, fmt.Errorf("%s: %w", familyName(v4), err))
			u.addSockProblem(problemf(v4, "listen", err))
			continue
		}
		for _, p := range probs {
			u.addSockProblem(p)
		}
		u.socks[i] = s
	}
	if u.socks[0] == nil && u.socks[1] == nil {
		return fmt.Errorf("transport: no socket could be opened: %w", openErr)
	}
	return nil
}

// startWatch starts the interface watcher (on the calling thread's
// namespace): each batch of changes refreshes the sockets, then reaches
// every View.
func (u *UDP) startWatch() {
	if u.cfg.NoWatch {
		return
	}
	w, err := NewWatcher(WatcherConfig{Interfaces: u.cfg.Interfaces, IncludeLoopback: u.cfg.IncludeLoopback,
		PollInterval: u.cfg.PollInterval, Logger: u.log, keepLogger: true})
	if err != nil {
		u.log.Warn("no interface watcher; interface changes will not be followed", "err", err)
		return
	}
	w.onBatch = func(evs []Event) {
		if err := u.Refresh(); err != nil {
			return // closed, or logged by Refresh
		}
		for _, ev := range evs {
			u.hub.Broadcast(ev)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	u.watch, u.stopWatch = w, cancel
	u.wg.Go(func() { _ = w.Run(ctx) })
}

// newUDP returns a UDP with no socket open yet.
func newUDP(cfg Config) *UDP {
	u := &UDP{
		cfg:   cfg,
		log:   cfg.Logger,
		open:  openSock,
		ifs:   map[int]*Interface{},
		named: map[string]bool{},
		done:  make(chan struct{}),
	}
	u.hub.QueueLen = cfg.QueueLen
	for _, n := range cfg.Interfaces {
		u.named[n] = true
	}
	return u
}

// start starts one reader goroutine per open family.
func (u *UDP) start() {
	for fi, s := range u.socks {
		if s != nil {
			u.wg.Add(1)
			go u.readLoop(fi)
		}
	}
}

func openSock(v4 bool) (famSock, []Problem, error) {
	if v4 {
		s, p, err := openSock4()
		if err != nil {
			return nil, nil, err
		}
		return s, p, nil
	}
	s, p, err := openSock6()
	if err != nil {
		return nil, nil, err
	}
	return s, p, nil
}

func (u *UDP) addSockProblem(p Problem) {
	u.log.Warn("problem", "family", p.Family, "step", p.Step, "err", p.Err)
	u.mu.Lock()
	u.sockProb = append(u.sockProb, p)
	u.mu.Unlock()
}

// sock returns the current socket of a family (nil when not open).
func (u *UDP) sock(v4 bool) famSock {
	u.sockMu.RLock()
	defer u.sockMu.RUnlock()
	return u.socks[famIndex(v4)]
}

func famIndex(v4 bool) int {
	if v4 {
		return 0
	}
	return 1
}

func (u *UDP) closed() bool { return isClosed(u.done) }

// isClosed reports, without blocking, whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// accept completes what the platform could not tell and reports whether
// the datagram arrived on an interface in use: a multicast one on an
// interface joined in its family, a unicast one on any interface in use.
func (u *UDP) accept(rb *rxBuf) bool {
	m := &rb.meta
	u.mu.RLock()
	defer u.mu.RUnlock()
	if m.ifIndex == 0 {
		m.ifIndex = u.guessIfIndex(rb)
	}
	if !m.dst.IsValid() {
		// Without destination information (Windows) the datagram is taken
		// as sent to the group: nearly all mDNS traffic is.
		m.dst = Group(m.src.Addr()).Addr()
	}
	if m.ifIndex == 0 {
		return true // the platform cannot tell; do not lose the packet
	}
	ifc := u.ifs[m.ifIndex]
	if ifc == nil {
		return false
	}
	if m.dst.IsMulticast() {
		return (rb.v4 && ifc.V4) || (!rb.v4 && ifc.V6)
	}
	return true
}

// guessIfIndex finds the receiving interface when no control message told
// it: from the source's zone, else the one joined interface of the family
// the source is on-link with, else the only joined interface of the family.
func (u *UDP) guessIfIndex(rb *rxBuf) int {
	if rb.meta.zone != "" {
		if i := zoneIndex(rb.meta.zone); i != 0 {
			return i
		}
	}
	src := rb.meta.src.Addr()
	var only, count int
	for _, ifc := range u.ifs {
		if (rb.v4 && !ifc.V4) || (!rb.v4 && !ifc.V6) {
			continue
		}
		count++
		only = ifc.Index
		if !src.IsLinkLocalUnicast() && ifc.OnLink(src) {
			return ifc.Index
		}
	}
	if count == 1 {
		return only
	}
	return 0
}

// View attaches a reader (see View): the responder, the browser and tools
// each take one, and each gets every packet its Filter accepts.
func (u *UDP) View(cfg ViewConfig) (*View, error) { return u.hub.Attach(u, cfg) }

// Interfaces returns a snapshot of the interfaces on which the group of at
// least one family is joined, sorted by index.
func (u *UDP) Interfaces() []Interface {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := make([]Interface, 0, len(u.ifs))
	for _, ifc := range u.ifs {
		out = append(out, cloneInterface(ifc))
	}
	slices.SortFunc(out, func(a, b Interface) int { return a.Index - b.Index })
	return out
}

// Problems returns what failed without stopping the Conn: the socket-level
// problems of Listen, the interface problems of the last refresh and, for a
// family whose socket is failing, the current read or reopen failure (step
// "read" or "reopen"; it disappears once the family works again).
func (u *UDP) Problems() []Problem {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := append(slices.Clone(u.sockProb), u.ifProb...)
	for _, p := range u.failProb {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// Stats returns the counters.
func (u *UDP) Stats() Stats {
	return Stats{
		Received:       u.received.Load(),
		Dropped:        u.dropped.Load(),
		Oversize:       u.oversize.Load(),
		Foreign:        u.foreign.Load(),
		ReadErrors:     u.readErrs.Load(),
		WriteErrors:    u.writeErrs.Load(),
		Reopens:        u.reopens.Load(),
		ReopenFailures: u.reopenFails.Load(),
	}
}

// Close stops the watcher, closes the sockets and waits for the reader
// goroutines to end (also one that is backing off or reopening its
// socket), then closes every View. Safe to call more than once; later calls return nil.
func (u *UDP) Close() error {
	first := false
	u.closeOnce.Do(func() {
		first = true
		close(u.done)
		if u.stopWatch != nil {
			u.stopWatch()
		}
		// A reopen installs its new socket under sockMu only while done is
		// open, so none can appear after this.
		u.sockMu.Lock()
		for _, s := range u.socks {
			if s != nil {
				u.closeErr = errors.Join(u.closeErr, s.close())
			}
		}
		u.sockMu.Unlock()
		u.wg.Wait()
		u.hub.Close()
		u.refreshMu.Lock()
		u.ns.close()
		u.refreshMu.Unlock()
	})
	if !first {
		return nil
	}
	return u.closeErr
}
