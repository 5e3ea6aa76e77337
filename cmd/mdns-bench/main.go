//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/chorus-services/discovery/internal/benchstat"
	"github.com/chorus-services/discovery/internal/netns"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

func main() { os.Exit(runMain(os.Args[1:])) }

// runMain runs the bench, or with "node" first the hidden node subcommand,
// until SIGINT or SIGTERM, and returns the exit code.
func runMain(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && args[0] == "node" {
		if err := runNode(ctx, args[1:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "mdns-bench node:", err)
			return exitFailure
		}
		return exitOK
	}
	return runBench(ctx, args, os.Stdout, os.Stderr)
}

type usageError struct{ error }

// benchFlags are the command's flags.
type benchFlags struct {
	n               int
	impl            string
	runs            int
	loss            float64
	strictProbes    bool
	noConnect       bool
	convergeTimeout time.Duration
	window          time.Duration
	steady          time.Duration
	settle          time.Duration
	join            time.Duration
	dialTimeout     time.Duration
	tag             string
	jsonFile        string
	quiet           bool
}

func parseBenchFlags(args []string, stderr io.Writer) (*benchFlags, error) {
	var f benchFlags
	fs := flag.NewFlagSet("mdns-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&f.n, "n", 10, fmt.Sprintf("nodes (namespaces), 2…%d", netns.MaxHosts))
	fs.StringVar(&f.impl, "impl", "both", "ours, ours-dropin, go-libp2p, a comma list of them, both (ours,go-libp2p) or all (the three); runs alternate, with ratios to go-libp2p")
	fs.IntVar(&f.runs, "runs", 1, "runs per implementation")
	fs.Float64Var(&f.loss, "loss", 0, "random loss in percent of the UDP datagrams to port 5353 arriving at each host")
	fs.BoolVar(&f.strictProbes, "strict-probes", false, "ours: discovery.WithProbeHints(false) (peers found only from announcements, strict RFC 6762)")
	fs.BoolVar(&f.noConnect, "no-connect", false, "discovery only: nodes do not connect (ours: WithAutoConnect(false); go-libp2p: the notifee does not call Connect)")
	fs.DurationVar(&f.convergeTimeout, "converge-timeout", 30*time.Second, "give up waiting for the full mesh after this long")
	fs.DurationVar(&f.window, "window", 10*time.Second, "the fixed first window (packets per node per minute from the start)")
	fs.DurationVar(&f.steady, "steady", time.Minute, "steady-state window after convergence and the first window (0: none)")
	fs.DurationVar(&f.settle, "settle", 0, "wait this long after convergence and the first window before the steady window")
	fs.DurationVar(&f.join, "join", 0, "join scenario: the last node starts this long after the others (their settle time; 0: all start together)")
	fs.DurationVar(&f.dialTimeout, "dial-timeout", 10*time.Second, "timeout of one connection attempt")
	fs.StringVar(&f.tag, "tag", defaultTag, "service tag of both implementations")
	fs.StringVar(&f.jsonFile, "json", "", "write the results to FILE, one JSON object per run and line")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mdns-bench [flags]   (as root; see go doc ./cmd/mdns-bench)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return nil, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	case f.n < 2 || f.n > netns.MaxHosts:
		return nil, usageError{fmt.Errorf("-n %d: want 2…%d", f.n, netns.MaxHosts)}
	case implList(f.impl) == nil:
		return nil, usageError{fmt.Errorf("--impl %q: want ours, ours-dropin, go-libp2p, a comma list of them, both or all", f.impl)}
	case f.runs < 1 || f.runs > 1000:
		return nil, usageError{fmt.Errorf("--runs %d: want 1…1000", f.runs)}
	case f.loss < 0 || f.loss > 100:
		return nil, usageError{fmt.Errorf("--loss %v: want 0…100", f.loss)}
	case f.strictProbes && !slices.Contains(implList(f.impl), implOurs):
		return nil, usageError{errors.New("--strict-probes applies to --impl ours (or a list with it)")}
	case f.join < 0 || f.join > time.Hour:
		return nil, usageError{errors.New("--join: want [0, 1h]")}
	case f.join > 0 && f.n < 3:
		return nil, usageError{errors.New("--join needs -n ≥ 3 (a settled LAN of at least 2)")}
	case f.convergeTimeout <= 0 || f.convergeTimeout > time.Hour:
		return nil, usageError{errors.New("--converge-timeout: want (0, 1h]")}
	case f.window <= 0 || f.window > time.Hour:
		return nil, usageError{errors.New("--window: want (0, 1h]")}
	case f.steady < 0 || f.steady > 24*time.Hour:
		return nil, usageError{errors.New("--steady: want [0, 24h]")}
	case f.settle < 0 || f.settle > time.Hour:
		return nil, usageError{errors.New("--settle: want [0, 1h]")}
	case f.dialTimeout <= 0:
		return nil, usageError{errors.New("--dial-timeout must be positive")}
	}
	return &f, nil
}

// allImpls are the implementations a node can run, in run order.
var allImpls = []string{implOurs, implDropIn, implGo}

// implList expands --impl; nil when it names an unknown implementation.
func implList(s string) []string {
	switch s {
	case "both":
		return []string{implOurs, implGo}
	case "all":
		return slices.Clone(allImpls)
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(allImpls, name) || slices.Contains(out, name) {
			return nil
		}
		out = append(out, name)
	}
	return out
}

// runBench is the command: it returns the exit code.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseBenchFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "mdns-bench:", err)
		return exitUsage
	}
	if err := netns.Available(); err != nil {
		fmt.Fprintln(stderr, "mdns-bench:", err)
		return exitFailure
	}
	if removed, err := netns.Sweep(netns.Prefix); err != nil {
		fmt.Fprintln(stderr, "mdns-bench: sweeping stale namespaces:", err)
	} else if removed > 0 {
		fmt.Fprintf(stderr, "mdns-bench: removed %d namespaces left by crashed runs\n", removed)
	}
	var jsonOut *os.File
	if f.jsonFile != "" {
		if jsonOut, err = os.Create(f.jsonFile); err != nil {
			fmt.Fprintln(stderr, "mdns-bench:", err)
			return exitFailure
		}
		defer jsonOut.Close()
	}
	impls := implList(f.impl)
	var results []*Result
	code := exitOK
runs:
	for run := 1; run <= f.runs; run++ {
		for _, impl := range impls {
			cfg := runConfig{Params: benchstat.Params{Impl: impl, N: f.n, Run: run, LossPct: f.loss, StrictProbes: f.strictProbes && impl == implOurs,
				NoConnect: f.noConnect, Tag: f.tag}, ConvergeTimeout: f.convergeTimeout, Window: f.window, Steady: f.steady, Settle: f.settle, Join: f.join,
				DialTimeout: f.dialTimeout, Verbose: !f.quiet, Log: stderr}
			if !f.quiet {
				fmt.Fprintf(stderr, "mdns-bench: %s, n=%d, run %d/%d\n", impl, f.n, run, f.runs)
			}
			res, err := benchRun(ctx, cfg)
			if ctx.Err() != nil {
				fmt.Fprintln(stderr, "mdns-bench: interrupted; namespaces and nodes cleaned up")
				code = exitInterrupted
				break runs
			}
			if err != nil {
				fmt.Fprintf(stderr, "mdns-bench: %s run %d: %v\n", impl, run, err)
				code = exitFailure
				continue
			}
			results = append(results, res)
			if jsonOut != nil {
				b, err := json.Marshal(res)
				if err == nil {
					_, err = jsonOut.Write(append(b, '\n'))
				}
				if err != nil {
					fmt.Fprintln(stderr, "mdns-bench: --json:", err)
					code = exitFailure
				}
			}
		}
	}
	if len(results) > 0 {
		fmt.Fprintln(stdout)
		printRuns(stdout, results)
		fmt.Fprintln(stdout)
		printSummary(stdout, results, impls)
	}
	return code
}
