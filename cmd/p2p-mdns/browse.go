package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/mdns/transport"
)

func runBrowse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("browse", stdout)
	var c common
	c.register(fs)
	var once bool
	fs.BoolVar(&once, "once", false, "listen for --duration (default 3s), then print a table of the peers found and of what was ignored, and exit (as avahi-browse -t)")
	fs.BoolVar(&once, "t", false, "short for --once")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	service, err := c.check()
	if err != nil {
		return err
	}
	if once && c.duration == 0 {
		c.duration = onceDuration
	}
	log := c.logger(stderr)
	conn, err := c.listen(log)
	if err != nil {
		return err
	}
	ifEvents, stopWatch := watchInterfaces(ctx, &c, conn.Refresh, log)
	defer stopWatch()
	// The browser reads one child of the sockets; the tally (what was heard
	// and ignored, for the --once summary) the other.
	kids := transport.Split(conn, 2, 256)
	tally := newTally(service, kids[1])
	b, err := browser.New(browser.Config{Conn: kids[0], Service: service, Events: ifEvents, Logger: log})
	if err != nil {
		kids[0].Close()
		kids[1].Close()
		return err
	}
	log.Info("browsing", "service", service)

	ctx, cancel := c.withDuration(ctx)
	defer cancel()
	// Event times come from the browser's wall clock, so t is measured on
	// it too (not on nowFunc).
	start := time.Now()
	out := newEventWriter(stdout, c.jsonOut, c.short(stdout))
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx) }() // Run closes its child of conn
	var werr error
	for ev := range b.Events() { // closed when Run returns
		if werr != nil || ev.Kind == browser.Probing {
			continue
		}
		pe := newEvent(eventKind(ev.Kind), ev.Peer.ID, ev.Peer.Addrs, ev.Flavour.String(), seconds(ev.Time.Sub(start)))
		if once {
			out.complete(&pe) // for the table at the end
		} else if werr = out.emit(pe); werr != nil {
			cancel()
		}
	}
	err = <-runErr
	ignored := tally.stop()
	if err != nil {
		return err
	}
	st := b.Stats()
	log.Info("stopped", "peers", st.Peers, "found", st.PeersFound, "lost", st.PeersLost, "queries", st.QueriesSent, "responses", st.Responses)
	if werr == nil && once {
		werr = printOnce(out, b, ignored, seconds(time.Since(start)))
	}
	return werr
}

// listen opens the mDNS sockets the flags select and logs their problems.
func (c *common) listen(log *slog.Logger) (*transport.UDP, error) {
	conn, err := transport.Listen(transport.Config{
		Interfaces:      c.ifaces,
		IncludeLoopback: c.loopback,
		DisableIPv4:     !c.ipv4,
		DisableIPv6:     !c.ipv6,
		Logger:          log,
	})
	if err != nil {
		return nil, err
	}
	for _, p := range conn.Problems() {
		log.Warn("interface problem", "problem", p.String())
	}
	for _, ifc := range conn.Interfaces() {
		log.Info("listening", "iface", ifc.Name, "v4", ifc.V4, "v6", ifc.V6)
	}
	return conn, nil
}

// watchInterfaces follows interface changes of the interfaces the flags
// select (RFC 6762 §13) and relays them, after calling refresh (when not
// nil) so that the sockets join the groups of new interfaces first. Without
// a watcher it returns a nil channel. stop ends the watcher and closes the
// channel.
func watchInterfaces(ctx context.Context, c *common, refresh func() error, log *slog.Logger) (_ <-chan transport.Event, stop func()) {
	w, err := transport.NewWatcher(transport.WatcherConfig{Interfaces: c.ifaces, IncludeLoopback: c.loopback, Logger: log})
	if err != nil {
		log.Warn("no interface watcher: interface changes will go unnoticed", "err", err)
		return nil, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan transport.Event, 16)
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	wg.Go(func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events():
				if !ok {
					return
				}
				log.Info("interface change", "kind", ev.Kind.String(), "iface", ev.IfName)
				if refresh != nil {
					if err := refresh(); err != nil {
						log.Warn("refresh interfaces", "err", err)
					}
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	})
	return out, func() { cancel(); wg.Wait() }
}
