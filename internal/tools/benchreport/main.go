// Command benchreport regenerates BENCHMARKS.md: it runs the Go
// micro-benchmarks, the namespace harness (cmd/mdns-bench, both
// implementations, several N, with and without loss) and the large-N
// simulation (internal/sim), keeps their raw results in
// testdata/benchmarks/*.json, draws the plots there (SVG, gonum/plot) and
// writes the report.
//
//	sudo go run ./internal/tools/benchreport                 # everything (~40 min)
//	go run ./internal/tools/benchreport -parts micro          # rerun one part, reuse the others' JSON
//	go run ./internal/tools/benchreport -parts none           # only re-render from the JSON
//
// The namespace part needs root (it builds network namespaces; nothing is
// sent on the machine's interfaces). Hand-written analysis lives in
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

type config struct {
	out, data   string
	parts       []string
	ns          []int
	steady      time.Duration
	steadySmall time.Duration
	loss        float64
	lossN       []int
	simN        []int
	simSteady   time.Duration
	simSteadyN  int
	count       int
	netnsRuns   int
	probeHintsN int
}

func main() {
	var c config
	var parts, ns, simN string
	flag.StringVar(&c.out, "out", "BENCHMARKS.md", "the report")
	flag.StringVar(&c.data, "data", "testdata/benchmarks", "raw results and plots")
	flag.StringVar(&parts, "parts", "micro,netns,sim", "parts to run (others are re-rendered from their JSON): micro, netns, sim, or none")
	flag.StringVar(&ns, "n", "2,10,20,30", "namespace harness sizes")
	flag.DurationVar(&c.steady, "steady", 5*time.Minute, "steady-state window of the namespace runs at the largest N")
	flag.DurationVar(&c.steadySmall, "steady-small", time.Minute, "steady-state window of the namespace runs at the other sizes")
	flag.Float64Var(&c.loss, "loss", 10, "random loss (percent) of the loss runs")
	var lossN string
	flag.StringVar(&lossN, "loss-n", "2,10,30", "sizes of the loss runs (empty: none)")
	flag.IntVar(&c.probeHintsN, "probe-hints-n", 30, "size of the probe-hints run of ours (0: none)")
	flag.IntVar(&c.netnsRuns, "runs", 1, "namespace runs per implementation and size")
	flag.StringVar(&simN, "sim-n", "100,300,1000", "simulation sizes")
	flag.DurationVar(&c.simSteady, "sim-steady", 5*time.Minute, "simulated steady-state window")
	flag.IntVar(&c.simSteadyN, "sim-steady-max", 300, "simulate the steady window only up to this N (N=1000 holds ~14 GB and takes ~8 min for its startup alone)")
	flag.IntVar(&c.count, "count", 5, "runs of each micro-benchmark (the median is reported)")
	flag.Parse()
	c.parts = strings.Split(parts, ",")
	var err error
	if c.ns, err = ints(ns); err == nil {
		c.simN, err = ints(simN)
	}
	if err == nil {
		c.lossN, err = ints(lossN)
	}
	if err == nil {
		err = run(&c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
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
	r := &report{cfg: c, started: time.Now()}
	if slices.Contains(c.parts, "micro") {
		res, err := runMicro(c.count, os.Stderr)
		if err != nil {
			return err
		}
		if err := writeJSON(filepath.Join(c.data, "micro.json"), res); err != nil {
			return err
		}
	}
	if slices.Contains(c.parts, "netns") {
		if err := runNetns(c); err != nil {
			return err
		}
	}
	if slices.Contains(c.parts, "sim") {
		if err := runSim(c); err != nil {
			return err
		}
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
