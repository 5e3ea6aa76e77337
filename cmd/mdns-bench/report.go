//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"text/tabwriter"
)

// metric is one number of a run, for the summary and the ratios.
type metric struct {
	name string
	get  func(*Result) float64
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func steadyOf(r *Result, f func(*window) float64) float64 {
	if r.Steady == nil {
		return math.NaN()
	}
	return f(r.Steady)
}

func joinOf(r *Result, f func(*joinResult) float64) float64 {
	if r.Join == nil {
		return math.NaN()
	}
	return f(r.Join)
}

var metrics = []metric{
	{"find-all median (ms)", func(r *Result) float64 { return r.FindAll.Median }},
	{"find-all p99 (ms)", func(r *Result) float64 { return r.FindAll.P99 }},
	{"find-all max (ms)", func(r *Result) float64 { return r.FindAll.Max }},
	{"mesh found: every node found all (ms)", func(r *Result) float64 { return orNaN(r.MeshFoundMS) }},
	{"connect-all median (ms)", func(r *Result) float64 { return r.ConnectAll.Median }},
	{"pair connected median (ms)", func(r *Result) float64 { return r.PairConnect.Median }},
	{"pair connected max (ms)", func(r *Result) float64 { return r.PairConnect.Max }},
	{"mesh connected (ms)", func(r *Result) float64 { return orNaN(r.MeshConnectedMS) }},
	{"join: joiner found all (ms)", func(r *Result) float64 { return joinOf(r, func(j *joinResult) float64 { return orNaN(j.FoundAllMS) }) }},
	{"join: joiner connected all (ms)", func(r *Result) float64 {
		return joinOf(r, func(j *joinResult) float64 { return orNaN(j.ConnectedAllMS) })
	}},
	{"join: others found it, median (ms)", func(r *Result) float64 { return joinOf(r, func(j *joinResult) float64 { return j.FoundBy.Median }) }},
	{"join: others found it, max (ms)", func(r *Result) float64 {
		return joinOf(r, func(j *joinResult) float64 { return orNaN(j.FoundByAllMS) })
	}},
	{"join: packets/node until all found", func(r *Result) float64 {
		return joinOf(r, func(j *joinResult) float64 { return j.Traffic.PacketsPerNode })
	}},
	{"missed pairs", func(r *Result) float64 { return float64(r.MissedPairs) }},
	{"unconnected pairs", func(r *Result) float64 { return float64(r.UnconnectedPairs) }},
	{"conv packets/node", func(r *Result) float64 { return r.Conv.PacketsPerNode }},
	{"conv bytes/node", func(r *Result) float64 { return float64(r.Conv.Bytes) / float64(r.N) }},
	{"first-window packets/node/min", func(r *Result) float64 { return r.Window.PacketsPerNodePerMin }},
	{"steady packets/node/min", func(r *Result) float64 { return steadyOf(r, func(w *window) float64 { return w.PacketsPerNodePerMin }) }},
	{"steady bytes/node/min", func(r *Result) float64 { return steadyOf(r, func(w *window) float64 { return w.BytesPerNodePerMin }) }},
	{"rcvbuf drops", func(r *Result) float64 { return float64(r.RcvbufDrops) }},
	{"cpu s/node (run)", func(r *Result) float64 { return r.CPU.Mean }},
	{"steady cpu s/node/min", func(r *Result) float64 {
		if r.SteadyCPU == nil {
			return math.NaN()
		}
		return r.SteadyCPU.Mean
	}},
	{"peak rss MiB/node (median)", func(r *Result) float64 { return r.RSS.Median }},
	{"peak rss MiB/node (max)", func(r *Result) float64 { return r.RSS.Max }},
}

func f0(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', 0, 64)
}

func fg(x float64) string {
	switch {
	case math.IsNaN(x):
		return "-"
	case math.Abs(x) >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case math.Abs(x) >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

// printRuns writes one table row per run.
func printRuns(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "impl\tn\trun\tloss%\tfind-all ms\tconn-all ms\tpair-conn ms\tmissed\tunconn\tconv s\tconv pkt/node\twin pkt/node/min\tsteady pkt/node/min\tsteady B/node/min\trcvbuf drops\tcpu s/node\tsteady cpu s/node/min\trss MiB\t")
	fmt.Fprintln(tw, "\t\t\t\tmed/p99/max\tmed/max\tmed/max\t\t\t\t\t\t\t\t\tmean\tmean\tmed/max\t")
	for _, r := range results {
		impl := r.Impl
		if r.StrictProbes {
			impl += "+strict"
		}
		if r.NoConnect {
			impl += "/noconn"
		}
		conv := fg(r.Conv.Seconds)
		if !r.Converged {
			conv = "timeout"
		}
		steadyCPU := math.NaN()
		if r.SteadyCPU != nil {
			steadyCPU = r.SteadyCPU.Mean
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s/%s/%s\t%s/%s\t%s/%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s/%s\t\n",
			impl, r.N, r.Run, fg(r.LossPct),
			f0(r.FindAll.Median), f0(r.FindAll.P99), f0(r.FindAll.Max),
			f0(r.ConnectAll.Median), f0(r.ConnectAll.Max), f0(r.PairConnect.Median), f0(r.PairConnect.Max),
			r.MissedPairs, r.UnconnectedPairs, conv, fg(r.Conv.PacketsPerNode),
			fg(r.Window.PacketsPerNodePerMin),
			fg(steadyOf(r, func(w *window) float64 { return w.PacketsPerNodePerMin })),
			f0(steadyOf(r, func(w *window) float64 { return w.BytesPerNodePerMin })),
			r.RcvbufDrops, fg(r.CPU.Mean), fg(steadyCPU), fg(r.RSS.Median), fg(r.RSS.Max))
	}
	_ = tw.Flush()
	printJoins(w, results)
	fmt.Fprintln(w, "packets: UDP port 5353 packets SENT (counted once per packet on ingress of the bridge ports, not the N-1 forwarded copies); win = first window after the start; B = IP bytes")
}

// printJoins writes the join scenario's table, if any run had one.
func printJoins(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := false
	for _, r := range results {
		j := r.Join
		if j == nil {
			continue
		}
		if !header {
			fmt.Fprintln(w)
			fmt.Fprintln(tw, "join\tn\trun\tsettle s\tsettled at ms\tit found all ms\tit connected all ms\tothers found it ms\tpkt/node\t")
			fmt.Fprintln(tw, "\t\t\t\t\t\t\tmed/max\t\t")
			header = true
		}
		settled := f0(orNaN(j.SettledMS))
		if !j.Settled {
			settled = "NOT " + settled
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s/%s\t%s\t\n", r.Impl, r.N, r.Run, fg(j.SettleS), settled,
			f0(orNaN(j.FoundAllMS)), f0(orNaN(j.ConnectedAllMS)), f0(j.FoundBy.Median), f0(orNaN(j.FoundByAllMS)), fg(j.Traffic.PacketsPerNode))
	}
	_ = tw.Flush()
	if header {
		fmt.Fprintln(w, "join: times in ms after the joiner (the last node) started; settled = when the others had found (and connected) each other")
	}
}

// medianOver is the median of a metric over the runs of one
// implementation (NaN values left out).
func medianOver(results []*Result, impl string, m metric) float64 {
	var v []float64
	for _, r := range results {
		if r.Impl == impl {
			v = append(v, m.get(r))
		}
	}
	return summarize(v).Median
}

// printSummary writes the median over runs of every metric per
// implementation and, with go-libp2p, the ratio of each other to it. A
// metric no run has (e.g. join rows without --join) is left out.
func printSummary(w io.Writer, results []*Result, impls []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "metric (median over runs)\t"
	for _, impl := range impls {
		header += impl + "\t"
	}
	var ratioOf []string // implementations compared with go-libp2p
	if slices.Contains(impls, implGo) {
		for _, impl := range impls {
			if impl != implGo {
				ratioOf = append(ratioOf, impl)
				header += impl + "/go\t"
			}
		}
	}
	fmt.Fprintln(tw, header)
	for _, m := range metrics {
		line := m.name + "\t"
		vals, some := map[string]float64{}, false
		for _, impl := range impls {
			vals[impl] = medianOver(results, impl, m)
			some = some || !math.IsNaN(vals[impl])
			line += fg(vals[impl]) + "\t"
		}
		if !some {
			continue
		}
		for _, impl := range ratioOf {
			line += ratio(vals[impl], vals[implGo]) + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}

func ratio(a, b float64) string {
	switch {
	case math.IsNaN(a) || math.IsNaN(b):
		return "-"
	case b == 0 && a == 0:
		return "1"
	case b == 0:
		return "inf"
	}
	return strconv.FormatFloat(a/b, 'f', 3, 64)
}
