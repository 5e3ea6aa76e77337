// Command benchreport regenerates BENCHMARKS.md: it runs the Go
// micro-benchmarks, the namespace harness (cmd/mdns-bench: this project,
// its drop-in NewMdnsService and go-libp2p's mdns, default options) and
// the large-N simulation (internal/sim), keeps their raw results in
// testdata/benchmarks/*.json[l], draws the plots there (SVG, gonum/plot)
// and writes the report, with issue #13's targets beside the figures.
//
//	sudo go run ./internal/tools/benchreport                      # every part (~40 min)
//	sudo go run ./internal/tools/benchreport -parts fast,join     # rerun some parts, re-render the rest from their JSON
//	go run ./internal/tools/benchreport -parts none               # only re-render from the JSON
//	sudo go run ./internal/tools/benchreport -quick               # smoke (~3 min): small N, short windows, into /tmp/benchreport-quick
//
// Parts (-parts, comma list; "netns" = the five namespace parts, "all" =
// everything), with their cost on the project's 2-core machine (the
// report's table shows what each took when last run):
//
//	micro      go test -bench, -count runs each                          ~1.5 min
//	fast       simultaneous start at -n: found all, every pair
//	           connected, -runs runs of -fast-impl                         ~2.5 min
//	join       one node starts into -join-n minus one settled nodes,
//	           -runs runs of -join-impl                                    ~4 min
//	loss       -loss % random loss at -loss-n                               <1 min
//	noconnect  discovery alone (no connections) at -noconnect-n             <1 min
//	steady     the steady-state windows at -steady-n                      ~25 min
//	sim        the simulation at -sim-n; N=1000 with its 5-minute steady
//	           window takes ~3.5 min (run under GOMEMLIMIT=15GiB),
//	           N=300 ~10 s                                                 ~4 min
//
// The namespace parts need root (they build network namespaces; nothing
// is sent on the machine's interfaces). Hand-written analysis lives in
// notes.md next to this file and is copied into the report verbatim.
package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed notes.md
var notes string

// The parts, in the order they run.
var allParts = []string{"micro", "fast", "join", "loss", "noconnect", "steady", "sim"}

// netnsParts are the parts that run cmd/mdns-bench.
var netnsParts = []string{"fast", "join", "loss", "noconnect", "steady"}

type config struct {
	out, data    string
	parts        []string
	quick        bool
	runs         int           // fast and join runs per implementation and size
	ns           []int         // fast
	fastImpl     string        // fast
	joinN        []int         // join: sizes after the join
	joinSettle   time.Duration // join
	joinImpl     string        // join
	loss         float64       // loss
	lossN        []int         // loss
	lossRuns     int           // loss
	noconnN      []int         // noconnect
	steadyN      []int         // steady
	steady       time.Duration // steady window at the largest steady N
	steadySmall  time.Duration // steady window at the others
	steadySettle time.Duration // wait before the steady window
	strictN      int           // optional strict-probes runs of ours (0: none)
	simN         []int
	simSteady    time.Duration
	simSteadyN   int
	count        int // micro-benchmark runs
}

func main() {
	c, err := parseFlags(os.Args[1:])
	if err == nil {
		err = run(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	var c config
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	var parts, ns, joinN, lossN, noconnN, steadyN, simN string
	fs.StringVar(&c.out, "out", "BENCHMARKS.md", "the report")
	fs.StringVar(&c.data, "data", "testdata/benchmarks", "raw results and plots")
	fs.StringVar(&parts, "parts", "all", "parts to run, the others re-rendered from their JSON: "+strings.Join(allParts, ", ")+", netns (the namespace parts), all, or none")
	fs.BoolVar(&c.quick, "quick", false, "smoke run: small N, short windows, 1 run each; -out and -data default to /tmp/benchreport-quick")
	fs.IntVar(&c.runs, "runs", 3, "fast and join: runs per implementation and size")
	fs.StringVar(&ns, "n", "2,10,30", "fast: sizes")
	fs.StringVar(&c.fastImpl, "fast-impl", "all", "fast: implementations (mdns-bench --impl)")
	fs.StringVar(&joinN, "join-n", "10,30", "join: sizes after the join (a node joins N-1 settled nodes)")
	fs.DurationVar(&c.joinSettle, "join-settle", 10*time.Second, "join: how long the N-1 nodes run before the last starts")
	fs.StringVar(&c.joinImpl, "join-impl", "all", "join: implementations")
	fs.Float64Var(&c.loss, "loss", 10, "loss: random loss (percent)")
	fs.StringVar(&lossN, "loss-n", "30", "loss: sizes")
	fs.IntVar(&c.lossRuns, "loss-runs", 1, "loss: runs per implementation and size")
	fs.StringVar(&noconnN, "noconnect-n", "30", "noconnect: sizes (discovery alone, no connections)")
	fs.StringVar(&steadyN, "steady-n", "2,10,20,30", "steady: sizes")
	fs.DurationVar(&c.steady, "steady", 5*time.Minute, "steady: window at the largest size")
	fs.DurationVar(&c.steadySmall, "steady-small", time.Minute, "steady: window at the other sizes")
	fs.DurationVar(&c.steadySettle, "steady-settle", 50*time.Second, "steady: wait after the first 10 s before the window (go-libp2p's query backoff reaches its 60 s period)")
	fs.IntVar(&c.strictN, "strict-n", 0, "noconnect and fast: also run ours with WithProbeHints(false) at this size (0: none)")
	fs.StringVar(&simN, "sim-n", "100,300,1000", "sim: sizes")
	fs.DurationVar(&c.simSteady, "sim-steady", 5*time.Minute, "sim: simulated steady-state window (after the 10 s startup)")
	fs.IntVar(&c.simSteadyN, "sim-steady-max", 1000, "sim: simulate the steady window only up to this N")
	fs.IntVar(&c.count, "count", 5, "micro: runs of each benchmark (the median is reported)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.quick {
		quickDefaults(fs, &c, &ns, &joinN, &lossN, &noconnN, &steadyN, &simN)
	}
	var err error
	for _, l := range []struct {
		dst *[]int
		src string
	}{{&c.ns, ns}, {&c.joinN, joinN}, {&c.lossN, lossN}, {&c.noconnN, noconnN}, {&c.steadyN, steadyN}, {&c.simN, simN}} {
		if *l.dst, err = ints(l.src); err != nil {
			return nil, err
		}
	}
	if c.parts, err = expandParts(parts); err != nil {
		return nil, err
	}
	for _, n := range c.joinN {
		if n < 3 {
			return nil, fmt.Errorf("-join-n %d: want ≥ 3", n)
		}
	}
	return &c, nil
}

// quickDefaults shrinks every flag the command line did not set: the
// smoke configuration (about 6 minutes for every part).
func quickDefaults(fs *flag.FlagSet, c *config, ns, joinN, lossN, noconnN, steadyN, simN *string) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	def := func(name string, apply func()) {
		if !set[name] {
			apply()
		}
	}
	def("out", func() { c.out = "/tmp/benchreport-quick/BENCHMARKS.md" })
	def("data", func() { c.data = "/tmp/benchreport-quick" })
	def("runs", func() { c.runs = 1 })
	def("n", func() { *ns = "2,4,10" })
	def("join-n", func() { *joinN = "4,10" })
	def("join-settle", func() { c.joinSettle = 4 * time.Second })
	def("loss-n", func() { *lossN = "10" })
	def("noconnect-n", func() { *noconnN = "10" })
	def("steady-n", func() { *steadyN = "4" })
	def("steady", func() { c.steady = 20 * time.Second })
	def("steady-small", func() { c.steadySmall = 20 * time.Second })
	def("steady-settle", func() { c.steadySettle = 0 })
	def("sim-n", func() { *simN = "100" })
	def("sim-steady", func() { c.simSteady = time.Minute })
	def("count", func() { c.count = 1 })
}

func expandParts(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		switch p = strings.TrimSpace(p); {
		case p == "all":
			out = append(out, allParts...)
		case p == "netns":
			out = append(out, netnsParts...)
		case p == "none" || p == "":
		case slices.Contains(allParts, p):
			out = append(out, p)
		default:
			return nil, fmt.Errorf("-parts: unknown part %q (want %s, netns, all or none)", p, strings.Join(allParts, ", "))
		}
	}
	return out, nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("bad size %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(c *config) error {
	if err := os.MkdirAll(c.data, 0o755); err != nil {
		return err
	}
	r := &report{cfg: c, started: time.Now(), took: map[string]time.Duration{}}
	for _, part := range allParts {
		if !slices.Contains(c.parts, part) {
			continue
		}
		began := time.Now()
		var err error
		switch part {
		case "micro":
			var res []microResult
			if res, err = runMicro(c.count, os.Stderr); err == nil {
				err = writeJSON(filepath.Join(c.data, "micro.json"), res)
			}
		case "sim":
			err = runSim(c)
		default:
			err = runNetns(c, part)
		}
		if err != nil {
			return fmt.Errorf("part %s: %w", part, err)
		}
		r.took[part] = time.Since(began)
		fmt.Fprintf(os.Stderr, "benchreport: part %s took %v\n", part, r.took[part].Round(time.Second))
	}
	if err := r.load(); err != nil {
		return err
	}
	return r.write()
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// optional reports whether err only says that a part's results do not
// exist yet (the report then says so instead of failing).
func optional(err error) bool { return errors.Is(err, os.ErrNotExist) }
