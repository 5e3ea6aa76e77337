package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// microBench is one Go micro-benchmark of the report, with the issue's
// target where there is one.
type microBench struct {
	Pkg, Name, What string
	TargetNs        float64 // 0: no target
	TargetAllocs    int     // -1: no target
}

// micros are the benchmarks of issues #7 and #13, in the report's order.
var micros = []microBench{
	{"./mdns", "BenchmarkFilterIrrelevant", "irrelevant packet rejected (label filter, no unpack)", 100, 0},
	{"./browser", "BenchmarkIrrelevantPacket", "irrelevant packet through the browser's receive path", 100, 0},
	{"./mdns", "BenchmarkDecodeGoResponse", "go-libp2p response (8 dnsaddrs) → AddrInfo, known peer", 5000, -1},
	{"./mdns", "BenchmarkParseGoResponse", "of which miekg/dns unpacking the message", 0, -1},
	{"./mdns", "BenchmarkDecodeGoResponseCold", "the same, first sighting (nothing memoised)", 0, -1},
	{"./browser", "BenchmarkGoResponseToEvent", "go-libp2p response → Found event (cache, peer model)", 0, -1},
	{"./browser", "BenchmarkGoResponseRefresh", "known peer's response refreshes the cache (no event)", 0, -1},
	{"./mdns", "BenchmarkPackResponse40", "answer with 40 addresses packed (split over the MTU)", 0, -1},
	{"./responder", "BenchmarkResponse40", "responder lays out and packs a 40-address answer", 0, -1},
	{"./responder", "BenchmarkAnswerPTR", "responder answers one PTR query", 0, -1},
	{"./browser", "BenchmarkCache10k", "one refresh with 10,000 peers cached", 0, -1},
}

// microResult is the median of the runs of one benchmark.
type microResult struct {
	microBench
	NsOp     float64            `json:"ns_op"`
	BytesOp  float64            `json:"bytes_op"`
	AllocsOp float64            `json:"allocs_op"`
	Extra    map[string]float64 `json:"extra,omitempty"` // custom metrics (unit → value)
	Runs     int                `json:"runs"`
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// runMicro runs every benchmark count times per package and returns the
// medians.
func runMicro(count int, log io.Writer) ([]microResult, error) {
	byPkg := map[string][]string{}
	var pkgs []string
	for _, m := range micros {
		if byPkg[m.Pkg] == nil {
			pkgs = append(pkgs, m.Pkg)
		}
		byPkg[m.Pkg] = append(byPkg[m.Pkg], m.Name)
	}
	samples := map[string][]map[string]float64{}
	for _, pkg := range pkgs {
		re := "^(" + strings.Join(byPkg[pkg], "|") + ")$"
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", re, "-benchmem", "-count", strconv.Itoa(count), pkg)
		var out bytes.Buffer
		cmd.Stdout = io.MultiWriter(&out, log)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("benchmarks of %s: %w", pkg, err)
		}
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			m := benchLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			samples[pkg+" "+m[1]] = append(samples[pkg+" "+m[1]], parseMetrics(m[2]))
		}
	}
	var res []microResult
	for _, mb := range micros {
		runs := samples[mb.Pkg+" "+mb.Name]
		if len(runs) == 0 {
			return nil, fmt.Errorf("%s %s: no result", mb.Pkg, mb.Name)
		}
		r := microResult{microBench: mb, Runs: len(runs), Extra: map[string]float64{}}
		for unit := range runs[0] {
			v := median(runs, unit)
			switch unit {
			case "ns/op":
				r.NsOp = v
			case "B/op":
				r.BytesOp = v
			case "allocs/op":
				r.AllocsOp = v
			case "MB/s":
			default:
				r.Extra[unit] = v
			}
		}
		res = append(res, r)
	}
	return res, nil
}

// parseMetrics reads "123 ns/op  45 B/op  6 allocs/op  7.0 heapB/peer".
func parseMetrics(s string) map[string]float64 {
	f := strings.Fields(s)
	out := map[string]float64{}
	for i := 0; i+1 < len(f); i += 2 {
		if v, err := strconv.ParseFloat(f[i], 64); err == nil {
			out[f[i+1]] = v
		}
	}
	return out
}

func median(runs []map[string]float64, unit string) float64 {
	var vs []float64
	for _, r := range runs {
		if v, ok := r[unit]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

// microTable renders the results as a Markdown table.
func microTable(rs []microResult) string {
	var b strings.Builder
	b.WriteString("| benchmark | what | time/op | B/op | allocs/op | target | met |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		target, met := "–", "–"
		if r.TargetNs > 0 {
			target = fmtNs(r.TargetNs)
			if r.TargetAllocs >= 0 {
				target += fmt.Sprintf(", %d allocs", r.TargetAllocs)
			}
			ok := r.NsOp <= r.TargetNs && (r.TargetAllocs < 0 || r.AllocsOp <= float64(r.TargetAllocs))
			met = "yes"
			if !ok {
				met = fmt.Sprintf("no (%.0f%% over)", 100*(r.NsOp/r.TargetNs-1))
			}
		}
		what := r.What
		for unit, v := range r.Extra {
			what += fmt.Sprintf("; %.0f %s", v, unit)
		}
		fmt.Fprintf(&b, "| `%s` (%s) | %s | %s | %.0f | %.0f | %s | %s |\n", strings.TrimPrefix(r.Name, "Benchmark"), strings.TrimPrefix(r.Pkg, "./"), what, fmtNs(r.NsOp), r.BytesOp, r.AllocsOp, target, met)
	}
	return b.String()
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
