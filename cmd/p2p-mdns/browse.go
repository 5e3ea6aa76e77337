package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

func runBrowse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("browse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	service, err := c.check()
	if err != nil {
		return err
	}
	conn, err := c.listen(log)
	if err != nil {
		return err
	}
	ifEvents, stopWatch := watchInterfaces(ctx, &c, conn.Refresh, log)
	defer stopWatch()
	b, err := browser.New(browser.Config{Conn: conn, Service: service, Events: ifEvents, Logger: log})
	if err != nil {
		conn.Close()
		return err
	}
	log.Info("browsing", "service", service)

	ctx, cancel := c.withDuration(ctx)
	defer cancel()
	// Event times come from the browser's wall clock, so t is measured on
	// it too (not on nowFunc).
	start := time.Now()
	out := newEventWriter(stdout, c.jsonOut)
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx) }() // Run closes conn
	var werr error
	for ev := range b.Events() { // closed when Run returns
		if werr != nil || ev.Kind == browser.Probing {
			continue
		}
		if werr = out.emit(eventKind(ev.Kind), ev.Peer.ID, ev.Peer.Addrs, ev.Flavour.String(), seconds(ev.Time.Sub(start))); werr != nil {
			cancel()
		}
	}
	if err := <-runErr; err != nil {
		return err
	}
	st := b.Stats()
	log.Info("stopped", "peers", st.Peers, "found", st.PeersFound, "lost", st.PeersLost, "queries", st.QueriesSent, "responses", st.Responses)
	return werr
}

// check validates the service and family flags; it returns the fully
// qualified service name.
func (c *common) check() (string, error) {
	service, err := mdns.ServiceName(c.service)
	if err != nil {
		return "", usageError{err}
	}
	if !c.ipv4 && !c.ipv6 {
		return "", usageError{errors.New("--ipv4=false and --ipv6=false leave nothing to listen on")}
	}
	if c.duration < 0 {
		return "", usageError{errors.New("--duration must not be negative")}
	}
	return service, nil
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
