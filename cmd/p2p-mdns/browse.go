package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
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
	defer conn.Close() // after Run: the Conn follows the interfaces itself
	b, err := browser.New(browser.Config{Conn: conn, Service: service, Logger: log})
	if err != nil {
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
	go func() { runErr <- b.Run(ctx) }()
	var werr error
	for ev := range b.Events() { // closed when Run returns
		if werr != nil {
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
