// Command p2p-mdns is the command-line face of the discovery module.
//
//	p2p-mdns sniff [--iface NAME]... [--ipv4=false] [--ipv6=false] [--json] [--duration D] [--read FILE.pcap]
//
// sniff decodes live mDNS traffic (any service) like a focused tcpdump: the
// kind of each packet (query / probe / response / goodbye), its sender,
// interface and records, and every libp2p peer candidate it carries, of any
// flavour (go-libp2p, rust-libp2p, js-libp2p, DNS-SD). It exits cleanly on
// Ctrl-C or after --duration. Exit codes: 0 ok, 1 runtime failure, 2 usage.
//
//	p2p-mdns browse [common flags]
//	p2p-mdns announce (--peer-key FILE | --random) --addr MULTIADDR... [--name LABEL] [common flags]
//	p2p-mdns replay [--json] [--service TAG] [--iface-name eth0] [--linger 2s] FILE.pcap...
//
// browse lists the libp2p peers of the service on the LAN, of any flavour,
// without announcing anything, printing found / updated / lost events as
// they happen. announce makes a peer ID (from a protobuf-marshalled libp2p
// private key file, or a random ed25519 one) and the given multiaddrs known
// without running a libp2p host, prints a self event first, and sends
// goodbyes on exit. Both exit cleanly on Ctrl-C or after --duration.
//
// replay feeds pcap/pcapng captures through the browser on each capture's
// own clock (a fresh browser per file) and prints the events it reports; t
// is the time since the capture's first packet. The clock advances in
// 100 ms steps between packets, so expiries (a goodbye takes effect 1 s
// after it is received) are reported within 100 ms, and it keeps running
// for --linger after the last packet. The capture is replayed on one
// interface named --iface-name (the zone of IPv6 link-local addresses) on
// which every source of the capture is on-link. Events of one instant are
// ordered by peer ID, so the output is deterministic. An unreadable or
// non-pcap file is a usage error (exit 2), reported before any output.
//
// # Event format
//
// browse, announce, replay and run print peer events, by default as a table
// (one line per event: T, EVENT, ID, FLAVOUR, then the addresses; replay
// adds a "# FILE" line before each capture), and with --json as one JSON
// object per line and per event, with these keys in this order:
//
//	{"event":"found","id":"12D3KooW…","addrs":["/ip4/198.51.100.11/tcp/4001"],"flavour":"go","t":1.25}
//
// The keys:
//
//   - event: self | found | updated | lost | connected | dial_failed.
//     self (printed first by run and announce) is our own ID and announced
//     addresses; found is a new peer, updated a changed address set, lost a
//     peer whose records all expired or said goodbye.
//   - id: the peer ID (string form).
//   - addrs: always an array, never null: the peer's current addresses
//     (the last known ones for lost), without /p2p suffix; IPv6 link-local
//     ones carry an /ip6zone/<interface> prefix.
//   - flavour: go | rust | js | dnssd, the record layout the peer was last
//     seen in; "" where it does not apply (self).
//   - t: seconds, a number with microsecond resolution, since the command
//     started (replay: since the capture's first packet).
//   - file (replay only): the capture the event comes from, as given.
//   - error (dial_failed only, optional): why the dial failed.
//
// New keys may be added; existing ones keep their names and meaning.
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
	{"run", "the main job: announce a libp2p host, find peers, connect, print events", runRun},
	{"sniff", "decode live mDNS traffic (or a capture with --read)", runSniff},
	{"browse", "list the libp2p peers on the LAN without announcing", runBrowse},
	{"announce", "announce a peer ID and multiaddrs without a libp2p host", runAnnounce},
	{"replay", "replay pcap captures through the browser, printing its events", runReplay},
	{"doctor", "explain what would stop discovery on this machine", runDoctor},
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
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
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
