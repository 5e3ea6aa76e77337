package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/chorus-services/discovery/internal/sniff"
	"github.com/chorus-services/discovery/mdns/transport"
)

func runSniff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := commonFlags("sniff", stdout)
	read := fs.String("read", "", "decode a pcap/pcapng capture (- for standard input) instead of live traffic")
	service, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	log := c.logger(stderr)
	s := sniff.New(service)
	out := sniff.NewPrinter(stdout, c.jsonOut)
	out.Short = c.short(stdout)

	if *read != "" {
		return sniffCapture(ctx, *read, s, out)
	}
	conn, err := transport.Listen(transport.Config{
		Interfaces:      c.ifaces,
		IncludeLoopback: c.loopback,
		DisableIPv4:     !c.ipv4,
		DisableIPv6:     !c.ipv6,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, p := range conn.Problems() {
		log.Warn("interface problem", "problem", p.String())
	}
	names := map[int]string{}
	for _, ifc := range conn.Interfaces() {
		names[ifc.Index] = ifc.Name
		log.Info("listening", "iface", ifc.Name, "v4", ifc.V4, "v6", ifc.V6)
	}

	view, err := conn.View(transport.ViewConfig{Name: "sniff", QueueLen: 1024})
	if err != nil {
		return err
	}
	ctx, cancel := c.withDuration(ctx)
	defer cancel()
	start := nowFunc()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-view.Events():
			names[ev.IfIndex] = ev.IfName
		case p, ok := <-view.Packets():
			if !ok {
				return fmt.Errorf("read: %w", transport.ErrClosed)
			}
			name := names[p.IfIndex]
			if name == "" {
				name = fmt.Sprint(p.IfIndex)
			}
			r := s.Describe(p, nowFunc().Sub(start), name)
			if err := out.Print(&r); err != nil {
				return err
			}
		}
	}
}

// sniffCapture describes every datagram of a capture (path "-": standard
// input), streaming it.
func sniffCapture(ctx context.Context, path string, s *sniff.Sniffer, out *sniff.Printer) error {
	f, err := openCapture(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var t0 time.Time
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		dg, err := f.rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return usageError{fmt.Errorf("%s: %w", path, err)}
		}
		if t0.IsZero() {
			t0 = dg.Time
		}
		p := transport.Packet(dg.Packet)
		r := s.Describe(&p, dg.Time.Sub(t0), "")
		if err := out.Print(&r); err != nil {
			return err
		}
	}
}
