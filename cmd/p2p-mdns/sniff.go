package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/chorus-services/discovery/internal/pcapread"
	"github.com/chorus-services/discovery/internal/sniff"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

func runSniff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sniff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	read := fs.String("read", "", "decode a pcap/pcapng capture instead of live traffic")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	service, err := mdns.ServiceName(c.service)
	if err != nil {
		return usageError{err}
	}
	s := sniff.New(service)
	out := sniff.NewPrinter(stdout, c.jsonOut)

	if *read != "" {
		dgs, _, err := pcapread.ReadFile(*read)
		if err != nil {
			return usageError{err}
		}
		for i := range dgs {
			p := transport.Packet(dgs[i].Packet)
			r := s.Describe(&p, dgs[i].Time.Sub(dgs[0].Time), "")
			if err := out.Print(&r); err != nil {
				return err
			}
		}
		return nil
	}

	if !c.ipv4 && !c.ipv6 {
		return usageError{errors.New("--ipv4=false and --ipv6=false leave nothing to listen on")}
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
