package transport

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

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
	// Logger receives the diagnostics; nil discards them.
	Logger *slog.Logger
}

// validate checks cfg and returns a copy the caller cannot change.
func (cfg Config) validate() (Config, error) {
	if cfg.DisableIPv4 && cfg.DisableIPv6 {
		return cfg, errors.New("transport: both IPv4 and IPv6 disabled")
	}
	if err := validateNames(cfg.Interfaces); err != nil {
		return cfg, err
	}
	cfg.Interfaces = slices.Clone(cfg.Interfaces)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
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
	Received uint64 // datagrams handed to ReadPacket
	Dropped  uint64 // dropped because the receive queue was full
	Oversize uint64 // dropped because larger than mdns.MaxPacketSize
	Foreign  uint64 // dropped because they arrived on an interface not in use

	ReadErrors     uint64 // socket reads that failed (every retry counts)
	WriteErrors    uint64 // sends the socket refused (not invalid packets, not after Close)
	Reopens        uint64 // sockets closed and opened again after a persistent failure
	ReopenFailures uint64 // reopen attempts that failed (retried with backoff)
}

const (
	// rxQueueLen bounds the datagrams read from the sockets and not yet
	// taken by ReadPacket. When full, newly read datagrams are dropped and
	// counted (as a full socket buffer would).
	rxQueueLen = 64
	// rxBufSize lets an oversize datagram be told from one of exactly
	// mdns.MaxPacketSize bytes.
	rxBufSize = mdns.MaxPacketSize + 1
)

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
// On Linux, the sockets live in the network namespace of the thread that
// called Listen, and Refresh lists the interfaces of that same namespace.
type UDP struct {
	cfg Config
	log *slog.Logger

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

	rx   chan *rxBuf
	pool sync.Pool

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup

	received, dropped, oversize, foreign      atomic.Uint64
	readErrs, writeErrs, reopens, reopenFails atomic.Uint64
}

var _ Conn = (*UDP)(nil)

// Listen opens the sockets of the families not disabled, joins the mDNS
// groups 224.0.0.251 and ff02::fb on the selected interfaces (RFC 6762 §5)
// and starts one reader goroutine per open family.
//
// A family that cannot be opened, or an interface on which the group cannot
// be joined, is logged and reported by Problems; the others go on. Listen
// fails when cfg is invalid, when a named interface does not exist, when no
// socket could be opened, or when the group could not be joined on any
// interface (ErrNoInterface).
func Listen(cfg Config) (*UDP, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	// Sockets and the namespace handle must come from the same thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	u := newUDP(cfg)
	for _, n := range cfg.Interfaces {
		u.named[n] = true
	}
	if u.ns, err = captureNS(); err != nil {
		u.log.Warn("mdns transport: interface refresh may look at the wrong namespace", "err", err)
	}
	all, err := systemInterfaces()
	if err == nil {
		_, err = selectInterfaces(all, cfg.Interfaces, cfg.IncludeLoopback, true)
	}
	if err != nil {
		u.ns.close()
		return nil, err
	}

	var openErr error
	for i, v4 := range []bool{true, false} {
		if (v4 && cfg.DisableIPv4) || (!v4 && cfg.DisableIPv6) {
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
		u.ns.close()
		return nil, fmt.Errorf("transport: no socket could be opened: %w", openErr)
	}

	u.apply(all)
	if len(u.ifs) == 0 {
		err := fmt.Errorf("%w: the mDNS group could not be joined on any interface", ErrNoInterface)
		if probs := u.Problems(); len(probs) > 0 {
			err = fmt.Errorf("%w (%s)", err, probs[0])
		}
		_ = u.Close()
		return nil, err
	}
	u.start()
	u.log.Info("mdns transport listening", "interfaces", len(u.ifs))
	return u, nil
}

// newUDP returns a UDP with no socket open yet.
func newUDP(cfg Config) *UDP {
	u := &UDP{
		cfg:   cfg,
		log:   cfg.Logger,
		open:  openSock,
		ifs:   map[int]*Interface{},
		named: map[string]bool{},
		rx:    make(chan *rxBuf, rxQueueLen),
		done:  make(chan struct{}),
	}
	u.pool.New = func() any { return &rxBuf{b: make([]byte, rxBufSize)} }
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
	u.log.Warn("mdns transport problem", "family", p.Family, "step", p.Step, "err", p.Err)
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

func (u *UDP) closed() bool {
	select {
	case <-u.done:
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

// ReadPacket blocks until a datagram arrives on either family and fills p,
// with p.Data a slice of buf. buf should hold mdns.MaxPacketSize bytes: a
// longer datagram is cut to len(buf) and io.ErrShortBuffer returned with p
// filled. After Close it returns ErrClosed.
func (u *UDP) ReadPacket(buf []byte, p *Packet) error {
	if u.closed() {
		return ErrClosed
	}
	var rb *rxBuf
	select {
	case <-u.done:
		return ErrClosed
	case rb = <-u.rx:
	}
	defer u.pool.Put(rb)
	u.received.Add(1)
	n := copy(buf, rb.b[:rb.n])
	m := &rb.meta
	*p = Packet{
		Data:      buf[:n],
		Src:       m.src,
		Dst:       netipAddrPort(m.dst, mdns.Port),
		IfIndex:   m.ifIndex,
		TTL:       m.ttl,
		Multicast: m.dst.IsMulticast(),
	}
	if n < rb.n {
		return io.ErrShortBuffer
	}
	return nil
}

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

// Close closes the sockets, which unblocks ReadPacket, and waits for the
// reader goroutines to end, also one that is backing off or reopening its
// socket. Safe to call more than once; later calls return nil.
func (u *UDP) Close() error {
	first := false
	u.closeOnce.Do(func() {
		first = true
		close(u.done)
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
		u.refreshMu.Lock()
		u.ns.close()
		u.refreshMu.Unlock()
	})
	if !first {
		return nil
	}
	return u.closeErr
}
