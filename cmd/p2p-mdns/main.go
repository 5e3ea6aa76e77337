package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand: its name, a one-line purpose, the synopsis of
// its arguments and an example, shown by `p2p-mdns COMMAND -h`.
type command struct {
	name, summary, synopsis, example string
	run                              func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands []command

func init() { // in init: the run functions refer to commands (for their help)
	commands = []command{
		{"run", "the main job: announce a libp2p host, find peers, connect, print events",
			"[flags]", "p2p-mdns run --iface eth0 --peer-key ~/.p2p-mdns.key", runRun},
		{"browse", "list the libp2p peers of every tag on the LAN without announcing",
			"[flags]", "p2p-mdns browse --once", runBrowse},
		{"announce", "announce a peer ID and multiaddrs without a libp2p host",
			"[--peer-key FILE | --random] --addr MULTIADDR... [flags]", "p2p-mdns announce --addr /ip4/192.168.1.20/tcp/4001/p2p/12D3KooW…", runAnnounce},
		{"sniff", "decode live mDNS traffic (or a capture with --read)",
			"[--read FILE.pcap|-] [flags]", "p2p-mdns sniff --iface eth0", runSniff},
		{"replay", "replay pcap captures through the browser, printing its events",
			"[flags] FILE.pcap|-...", "tcpdump -i eth0 -w - udp port 5353 | p2p-mdns replay -", runReplay},
		{"doctor", "explain what would stop discovery on this machine",
			"[--passive] [flags]", "p2p-mdns doctor --iface eth0", runDoctor},
		{"keygen", "write a new libp2p identity (ed25519 private key) to a file",
			"FILE", "p2p-mdns keygen ~/.p2p-mdns.key", runKeygen},
	}
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// usageError makes main exit with code 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, "p2p-mdns", version())
		return 0
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "p2p-mdns: unknown command %q (see p2p-mdns -h)\n", args[0])
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "p2p-mdns %s: %v (see p2p-mdns %s -h)\n", c.name, err, c.name)
		return 2
	default:
		fmt.Fprintf(stderr, "p2p-mdns %s: %v\n", c.name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "p2p-mdns finds libp2p peers on the local network with multicast DNS (mDNS / DNS-SD).")
	fmt.Fprintln(w, "\nusage: p2p-mdns <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nexample:\n  p2p-mdns run")
	fmt.Fprintln(w, "\nRun 'p2p-mdns <command> -h' for the flags of a command, 'p2p-mdns --version' for the version.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 failure (doctor: a check failed), 2 bad usage or unreadable input.")
}

// flagSet is the flag set of a subcommand. Parse errors are reported
// once, by realMain; -h prints the help on stdout.
type flagSet struct {
	*flag.FlagSet
	cmd    *command
	stdout io.Writer
}

func newFlagSet(name string, stdout io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, cmd: lookup(name), stdout: stdout}
}

func (fs *flagSet) help() {
	c := fs.cmd
	fmt.Fprintf(fs.stdout, "p2p-mdns %s: %s\n\nusage: p2p-mdns %s %s\n\nexample:\n  %s\n\nflags:\n", c.name, c.summary, c.name, c.synopsis, c.example)
	fs.SetOutput(fs.stdout)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parse parses args; flags may come after positional arguments (as in
// `replay a.pcap --json`). It returns the positional arguments.
func (fs *flagSet) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.help()
				return nil, err
			}
			return nil, usageError{err}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		if used := len(args) - fs.NArg(); used > 0 && args[used-1] == "--" {
			return append(pos, fs.Args()...), nil // everything after "--" is positional
		}
		args = fs.Args()
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// noArgs parses the flags of a command that takes no positional argument.
func (fs *flagSet) noArgs(args []string) error {
	pos, err := fs.parse(args)
	if err == nil && len(pos) > 0 {
		err = usageError{fmt.Errorf("unexpected argument %q", pos[0])}
	}
	return err
}
