package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/chorus-services/discovery/internal/sniff"
	"github.com/chorus-services/discovery/mdns/transport"
)

func runBrowse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := commonFlags("browse", stdout)
	var once bool
	fs.BoolVar(&once, "once", false, "listen for --duration (default 3s), then print a table of the peers found and of what was ignored, and exit (as avahi-browse -t)")
	fs.BoolVar(&once, "t", false, "short for --once")
	service, err := c.parse(fs, args)
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
	defer conn.Close() // after the browsers: the Conn follows the interfaces itself
	ctx, cancel := c.withDuration(ctx)
	defer cancel()

	// One browser per tag, each reading the sockets through a View of its
	// own, and the tally (what was heard and ignored, for the --once
	// summary). Without --service, every tag whose responses carry libp2p
	// peers is browsed as soon as it is heard, and the service types on
	// the link are enumerated (RFC 6763 §9) so that idle peers answer.
	set := newBrowseSet(ctx, conn, log)
	tally, err := newTally(service, conn)
	if err != nil {
		return err
	}
	tally.browsed = set.has
	if c.service == "" {
		tally.onLibp2p = func(svc string) { set.add(svc) }
		tally.enum = sniff.NewEnumerator(conn, conn.Interfaces(), log, service)
		tally.enum.Start()
	}
	set.add(service)
	go func() { <-ctx.Done(); set.wait() }()

	// Event times come from the browsers' wall clock, so t is measured on
	// it too (not on nowFunc).
	start := time.Now()
	out := newEventWriter(stdout, c.jsonOut, c.short(stdout))
	out.showTag = true
	var werr error
	for te := range set.events { // closed once every browser stopped
		if werr != nil {
			continue
		}
		ev := te.ev
		pe := newEvent(eventKind(ev.Kind), ev.Peer.ID, ev.Peer.Addrs, ev.Flavour.String(), seconds(ev.Time.Sub(start)))
		pe.Tag = tagOf(te.service)
		if once {
			out.complete(&pe) // for the table at the end
		} else if werr = out.emit(pe); werr != nil {
			cancel()
		}
	}
	ignored := tally.stop()
	peers, found, lost, queries, responses := set.stats()
	log.Info("stopped", "services", len(set.services()), "peers", peers, "found", found, "lost", lost, "queries", queries, "responses", responses)
	if werr == nil && once {
		werr = printOnce(out, set, ignored, seconds(time.Since(start)))
	}
	return werr
}

// listen opens the mDNS sockets the flags select and logs their problems.
// With no usable interface yet it still succeeds: the sockets join the
// groups when one comes up (the transport says it waits).
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
