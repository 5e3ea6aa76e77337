package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync/atomic"
	"time"
)

// WatcherConfig selects the interfaces a Watcher reports on, as Config does
// for a Conn.
type WatcherConfig struct {
	// Interfaces names the interfaces to watch; empty means every
	// multicast-capable non-loopback interface (whether up or down, so that
	// it can be seen going up).
	Interfaces []string
	// IncludeLoopback adds the loopback interfaces when Interfaces is empty.
	IncludeLoopback bool
	// PollInterval is how often the interfaces are listed where there are
	// no change notifications (everywhere but Linux, or when the netlink
	// subscription fails). Default 5 s.
	PollInterval time.Duration
	// Logger receives the diagnostics; nil discards them.
	Logger *slog.Logger
	// keepLogger: Logger already carries the component (a UDP's watcher).
	keepLogger bool
}

const (
	// DefaultPollInterval is the default WatcherConfig.PollInterval.
	DefaultPollInterval = 5 * time.Second
	// EventQueueLen bounds Watcher.Events.
	EventQueueLen = 64
)

// Watcher reports interface changes: an interface going up or down, an
// address added or removed. RFC 6762 §13 asks a responder to probe and
// announce again after such changes. A UDP Conn runs its own Watcher and
// hands the changes to its Views after refreshing its sockets; a Watcher of
// one's own is for programs that follow interfaces without a Conn.
//
// On Linux it follows netlink notifications (RTNLGRP_LINK and the address
// groups) in the network namespace it was created in; elsewhere it polls.
// Either way each change is found by comparing listings, so a burst of
// notifications yields one set of events.
type Watcher struct {
	cfg     WatcherConfig
	log     *slog.Logger
	ns      nsRef
	events  chan Event
	dropped atomic.Uint64
	started atomic.Bool
	state   map[int]ifState // owned by Run once started
	// onBatch, when set (by the UDP Conn that owns the watcher), receives
	// each listing's changes at once instead of Events.
	onBatch func([]Event)
}

// ifState is what the watcher compares between two listings.
type ifState struct {
	name     string
	up       bool
	prefixes []netip.Prefix // sorted
}

// NewWatcher validates cfg and takes the baseline listing; changes after
// it are reported once Run runs. On Linux the watcher stays with the
// network namespace of the calling thread.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	if err := validateNames(cfg.Interfaces); err != nil {
		return nil, err
	}
	cfg.Interfaces = slices.Clone(cfg.Interfaces)
	switch {
	case cfg.PollInterval < 0:
		return nil, fmt.Errorf("transport: WatcherConfig.PollInterval is negative (%v)", cfg.PollInterval)
	case cfg.PollInterval == 0:
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.keepLogger {
		cfg.Logger = cfg.Logger.With("component", "transport")
	}
	w := &Watcher{cfg: cfg, log: cfg.Logger, events: make(chan Event, EventQueueLen)}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var err error
	if w.ns, err = captureNS(); err != nil {
		w.log.Warn("may look at the wrong namespace", "err", err)
	}
	all, err := systemInterfaces()
	if err != nil {
		w.ns.close()
		return nil, err
	}
	w.state = w.states(all)
	return w, nil
}

// Events returns the channel of events. It holds at most EventQueueLen
// events; when full, the oldest is dropped (see Dropped). It is closed when
// Run returns.
func (w *Watcher) Events() <-chan Event { return w.events }

// Dropped returns how many events were dropped because Events was full.
// Consumers call Refresh on any event, so a drop loses no state.
func (w *Watcher) Dropped() uint64 { return w.dropped.Load() }

// Run watches until ctx is done, then stops every goroutine it started,
// closes Events and returns nil. It can be called once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("transport: Watcher.Run called twice")
	}
	defer close(w.events)
	defer w.ns.close()
	w.run(ctx)
	return nil
}

// poll lists the interfaces every PollInterval until ctx is done.
func (w *Watcher) poll(ctx context.Context) {
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	w.resync()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.resync()
		}
	}
}

// resync lists the interfaces and emits the differences to the last
// listing.
func (w *Watcher) resync() {
	all, err := interfacesIn(&w.ns)
	if err != nil {
		w.log.Warn("list interfaces", "err", err)
		return
	}
	next := w.states(all)
	evs := diffStates(w.state, next)
	w.state = next
	if w.onBatch != nil {
		if len(evs) > 0 {
			w.log.Debug("interfaces changed", "events", len(evs))
			w.onBatch(evs)
		}
		return
	}
	for _, ev := range evs {
		w.emit(ev)
	}
}

func (w *Watcher) states(all []Interface) map[int]ifState {
	m := make(map[int]ifState, len(all))
	for i := range all {
		ifc := &all[i]
		if !candidate(ifc, w.cfg.Interfaces, w.cfg.IncludeLoopback) {
			continue
		}
		ps := slices.Clone(ifc.Prefixes)
		sortPrefixes(ps)
		m[ifc.Index] = ifState{name: ifc.Name, up: ifc.Up, prefixes: ps}
	}
	return m
}

// emit queues ev, dropping the oldest queued event when the queue is full.
// Only Run's goroutine sends, so the second attempt cannot race another
// sender.
func (w *Watcher) emit(ev Event) {
	w.log.Debug("event", "kind", ev.Kind.String(), "interface", ev.IfName, "prefix", ev.Prefix)
	select {
	case w.events <- ev:
		return
	default:
	}
	select {
	case <-w.events:
		w.dropped.Add(1)
	default:
	}
	select {
	case w.events <- ev:
	default:
		w.dropped.Add(1)
	}
}

// diffStates returns the events that lead from old to next, by interface
// index: a vanished or downed interface gives IfaceDown before its address
// removals, a new or upped one IfaceUp before its additions.
func diffStates(old, next map[int]ifState) []Event {
	idx := make([]int, 0, len(old)+len(next))
	for i := range old {
		idx = append(idx, i)
	}
	for i := range next {
		if _, ok := old[i]; !ok {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	var evs []Event
	for _, i := range idx {
		o, hadOld := old[i]
		n, hasNew := next[i]
		name := n.name
		if !hasNew {
			name = o.name
		}
		ev := func(k EventKind, p netip.Prefix) Event {
			return Event{Kind: k, IfIndex: i, IfName: name, Prefix: p}
		}
		switch {
		case hadOld && o.up && (!hasNew || !n.up):
			evs = append(evs, ev(IfaceDown, netip.Prefix{}))
		case hasNew && n.up && (!hadOld || !o.up):
			evs = append(evs, ev(IfaceUp, netip.Prefix{}))
		}
		for _, p := range o.prefixes {
			if !slices.Contains(n.prefixes, p) {
				evs = append(evs, ev(AddrRemoved, p))
			}
		}
		for _, p := range n.prefixes {
			if !slices.Contains(o.prefixes, p) {
				evs = append(evs, ev(AddrAdded, p))
			}
		}
	}
	return evs
}
