//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
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

var metrics = []metric{
	{"find-all median (ms)", func(r *Result) float64 { return r.FindAll.Median }},
	{"find-all p99 (ms)", func(r *Result) float64 { return r.FindAll.P99 }},
	{"find-all max (ms)", func(r *Result) float64 { return r.FindAll.Max }},
	{"connect-all median (ms)", func(r *Result) float64 { return r.ConnectAll.Median }},
	{"mesh connected (ms)", func(r *Result) float64 { return orNaN(r.MeshConnectedMS) }},
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
	fmt.Fprintln(tw, "impl\tn\trun\tloss%\tfind-all ms\tconn-all ms\tmissed\tunconn\tconv s\tconv pkt/node\twin pkt/node/min\tsteady pkt/node/min\tsteady B/node/min\trcvbuf drops\tcpu s/node\tsteady cpu s/node/min\trss MiB\t")
	fmt.Fprintln(tw, "\t\t\t\tmed/p99/max\tmed/max\t\t\t\t\t\t\t\t\tmean\tmean\tmed/max\t")
	for _, r := range results {
		impl := r.Impl
		if r.ProbeHints {
			impl += "+hints"
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
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s/%s/%s\t%s/%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s/%s\t\n",
			impl, r.N, r.Run, fg(r.LossPct),
			f0(r.FindAll.Median), f0(r.FindAll.P99), f0(r.FindAll.Max),
			f0(r.ConnectAll.Median), f0(r.ConnectAll.Max),
			r.MissedPairs, r.UnconnectedPairs, conv, fg(r.Conv.PacketsPerNode),
			fg(r.Window.PacketsPerNodePerMin),
			fg(steadyOf(r, func(w *window) float64 { return w.PacketsPerNodePerMin })),
			f0(steadyOf(r, func(w *window) float64 { return w.BytesPerNodePerMin })),
			r.RcvbufDrops, fg(r.CPU.Mean), fg(steadyCPU), fg(r.RSS.Median), fg(r.RSS.Max))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "packets: UDP port 5353 packets SENT (counted once per packet on ingress of the bridge ports, not the N-1 forwarded copies); win = first window after the start; B = IP bytes")
}

// meanOver averages a metric over the runs of one implementation.
func meanOver(results []*Result, impl string, m metric) float64 {
	sum, k := 0.0, 0
	for _, r := range results {
		if r.Impl != impl {
			continue
		}
		if v := m.get(r); !math.IsNaN(v) {
			sum += v
			k++
		}
	}
	if k == 0 {
		return math.NaN()
	}
	return sum / float64(k)
}

// printSummary writes the mean of every metric per implementation and,
// with both, the ratio ours / go-libp2p.
func printSummary(w io.Writer, results []*Result, impls []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "metric (mean over runs)\t"
	for _, impl := range impls {
		header += impl + "\t"
	}
	both := len(impls) == 2
	if both {
		header += "ours/go\t"
	}
	fmt.Fprintln(tw, header)
	for _, m := range metrics {
		line := m.name + "\t"
		vals := map[string]float64{}
		for _, impl := range impls {
			vals[impl] = meanOver(results, impl, m)
			line += fg(vals[impl]) + "\t"
		}
		if both {
			line += ratio(vals[implOurs], vals[implGo]) + "\t"
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
