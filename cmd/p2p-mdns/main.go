// Command p2p-mdns is the command-line face of the discovery module.
//
//	p2p-mdns sniff [--iface NAME]... [--ipv4=false] [--ipv6=false] [--json] [--duration D] [--read FILE.pcap]
//
// sniff decodes live mDNS traffic (any service) like a focused tcpdump: the
// kind of each packet (query / probe / response / goodbye), its sender,
// interface and records, and every libp2p peer candidate it carries, of any
// flavour (go-libp2p, rust-libp2p, js-libp2p, DNS-SD). It exits cleanly on
// Ctrl-C or after --duration. Exit codes: 0 ok, 1 runtime failure, 2 usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"sniff", "decode live mDNS traffic (or a capture with --read)", runSniff},
}

// usageError makes main exit with code 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := c.run(ctx, args[1:], stdout, stderr)
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "p2p-mdns %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "p2p-mdns %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "p2p-mdns: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: p2p-mdns <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'p2p-mdns <command> -h' for the flags of a command.")
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// common holds the flags every networked command shares.
type common struct {
	ifaces   stringList
	ipv4     bool
	ipv6     bool
	loopback bool
	service  string
	duration time.Duration
	jsonOut  bool
	logLevel string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.Var(&c.ifaces, "iface", "interface to use (repeatable; default: all up, multicast-capable, non-loopback)")
	fs.BoolVar(&c.ipv4, "ipv4", true, "use IPv4 (224.0.0.251)")
	fs.BoolVar(&c.ipv6, "ipv6", true, "use IPv6 (ff02::fb)")
	fs.BoolVar(&c.loopback, "loopback", false, "include loopback interfaces when no --iface is given")
	fs.StringVar(&c.service, "service", "", "libp2p service tag (default _p2p._udp, as go-libp2p maps tags)")
	fs.DurationVar(&c.duration, "duration", 0, "exit cleanly after this long (0: run until Ctrl-C)")
	fs.BoolVar(&c.jsonOut, "json", false, "print one JSON object per line")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
}

func (c *common) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %v", err)}
	}
	l := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	slog.SetDefault(l)
	return l, nil
}

// withDuration bounds ctx by --duration.
func (c *common) withDuration(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.duration > 0 {
		return context.WithTimeout(ctx, c.duration)
	}
	return context.WithCancel(ctx)
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	return nil
}
