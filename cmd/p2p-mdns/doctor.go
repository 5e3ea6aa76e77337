package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/internal/doctor"
	"github.com/chorus-services/discovery/mdns/transport"
)

// runDoctor explains what would stop discovery on this machine: it prints
// the findings of every check as it makes them (a checklist), or one JSON
// object at the end with --json, and returns an error, so exit code 1,
// when one of them failed.
func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := commonFlags("doctor", stdout)
	d := fs.Lookup("duration")
	d.Usage = "how long the active phase queries and listens"
	d.DefValue = doctor.DefaultDuration.String()
	c.duration = doctor.DefaultDuration
	fs.Lookup("json").Usage = "print the report as one JSON object (stable schema: README, go doc …/cmd/p2p-mdns)"
	passive := fs.Bool("passive", false, "send nothing: only listen during the active phase (no queries, no service enumeration)")
	service, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if c.duration <= 0 {
		return usageError{fmt.Errorf("--duration %v: must be positive", c.duration)}
	}
	log := c.logger(stderr)
	cfg := doctor.Config{
		Interfaces:      c.ifaces,
		IncludeLoopback: c.loopback,
		DisableIPv4:     !c.ipv4,
		DisableIPv6:     !c.ipv6,
		Service:         service,
		Duration:        c.duration,
		Browse:          doctorBrowse(service, log),
		Passive:         *passive,
		Logger:          log,
	}
	if !c.jsonOut { // the checklist streams: each finding as it is made
		doctor.WriteHeader(stdout, service, c.duration.String())
		cfg.Finding = func(f doctor.Finding) { doctor.WriteFinding(stdout, f) }
	}
	rep := doctor.Run(ctx, cfg)
	if c.jsonOut {
		err = printDoctorReport(stdout, rep, true)
	} else {
		err = rep.WriteEnd(stdout)
	}
	if err != nil {
		return err
	}
	return doctorVerdict(rep)
}

// printDoctorReport writes the checklist or the JSON object.
func printDoctorReport(w io.Writer, rep doctor.Report, jsonOut bool) error {
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(w)
}

// doctorVerdict is nil when discovery can work, else an error listing the
// reasons (exit code 1).
func doctorVerdict(rep doctor.Report) error {
	if rep.OK() {
		return nil
	}
	return fmt.Errorf("discovery cannot work: %s", strings.Join(rep.Reasons(), "; "))
}

// doctorBrowse returns the doctor's browser: package browser on the given
// conn, reporting every peer found or updated.
func doctorBrowse(service string, log *slog.Logger) doctor.BrowseFunc {
	return func(ctx context.Context, conn transport.Conn, found func(doctor.Found)) (doctor.BrowseStats, error) {
		b, err := browser.New(browser.Config{Conn: conn, Service: service, Logger: log})
		if err != nil {
			return doctor.BrowseStats{}, err
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range b.Events() {
				if ev.Kind != browser.Found && ev.Kind != browser.Updated {
					continue
				}
				f := doctor.Found{ID: ev.Peer.ID.String(), Flavour: ev.Flavour.String()}
				for _, a := range ev.Peer.Addrs {
					f.Addrs = append(f.Addrs, a.String())
				}
				found(f)
			}
		}()
		err = b.Run(ctx)
		wg.Wait()
		st := b.Stats()
		return doctor.BrowseStats{
			QueriesSent:    int(st.QueriesSent),
			DroppedTTL:     int(st.DroppedTTL),
			DroppedOffLink: int(st.DroppedOffLink),
		}, err
	}
}
