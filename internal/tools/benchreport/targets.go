package main

import (
	"fmt"
	"math"
	"strings"
)

// target is one line of the targets table: the goal, our figure and
// go-libp2p's beside it (not judged), and whether ours meets it.
type target struct {
	what, goal  string
	ours, golib string
	limit       float64 // ms, packets or ns: ours ≤ limit
	value       float64 // ours; NaN: not measured, +Inf: never happened
	miss        string  // a reason to fail besides value > limit
}

// first returns the first run of impl in runs.
func first(runs []netnsRun, impl string) *netnsRun {
	for i := range runs {
		if runs[i].Impl == impl && !runs[i].StrictProbes {
			return &runs[i]
		}
	}
	return nil
}

// met renders the verdict: yes, **no** (+x %), or – when not measured.
func (t target) met() string {
	switch {
	case math.IsNaN(t.value):
		return "not measured"
	case t.miss != "":
		return "**no** (" + t.miss + ")"
	case t.value <= t.limit:
		return "yes"
	case math.IsInf(t.value, 1):
		return "**no** (never)"
	case t.limit == 0:
		return "**no**"
	}
	return fmt.Sprintf("**no** (+%.0f %%)", 100*(t.value/t.limit-1))
}

// msTarget is a target on a time in ms, measured for both
// implementations by get (NaN: not measured; +Inf: never happened).
func msTarget(what, goal string, limit float64, get func(impl string) float64) target {
	show := func(v float64) string {
		switch {
		case math.IsNaN(v):
			return "–"
		case math.IsInf(v, 1):
			return "never"
		}
		return ms(v) + " ms"
	}
	v := get("ours")
	return target{what: what, goal: goal, ours: show(v), golib: show(get("go-libp2p")), limit: limit, value: v}
}

// statOf picks one statistic of a pooled metric: NaN when nothing was
// run, +Inf when some value never happened and the statistic is the max.
func statOf(p pooled, runs int, max bool) float64 {
	switch {
	case runs == 0:
		return math.NaN()
	case max && p.Missing > 0, p.N == 0:
		return math.Inf(1)
	case max:
		return p.Max
	}
	return p.Median
}

func (r *report) targets() string {
	var ts []target
	fast := func(n int, get func([]netnsRun) pooled, max bool) func(string) float64 {
		return func(impl string) float64 { runs := of(r.fast[n], impl); return statOf(get(runs), len(runs), max) }
	}
	pairs := func(runs []netnsRun) pooled { return pool(runs, pairConnectMS) }
	finds := func(runs []netnsRun) pooled { return pool(runs, findAllMS) }
	ts = append(ts,
		msTarget("N=2: every pair connected, median", "≤ 150 ms", 150, fast(2, pairs, false)),
		msTarget("N=2: every pair connected, max", "≤ 300 ms", 300, fast(2, pairs, true)),
		msTarget("N=2: found all, median", "≤ 150 ms", 150, fast(2, finds, false)),
		msTarget("N=10: found all, max", "≤ 400 ms", 400, fast(10, finds, true)),
		msTarget("N=10: every pair connected, max", "≤ 600 ms", 600, fast(10, pairs, true)))
	for _, n := range []int{10, 30} {
		join := func(get func(joinMetrics) pooled) func(string) float64 {
			return func(impl string) float64 { m := joinOf(of(r.join[n], impl)); return statOf(get(m), m.runs, false) }
		}
		ts = append(ts,
			msTarget(fmt.Sprintf("join into %d: it found all others, median", n-1), "≤ 300 ms", 300, join(func(m joinMetrics) pooled { return m.foundAll })),
			msTarget(fmt.Sprintf("join into %d: it connected all others, median", n-1), "≤ 300 ms", 300, join(func(m joinMetrics) pooled { return m.connAll })),
			msTarget(fmt.Sprintf("join into %d: all others found it, median", n-1), "≤ 300 ms", 300, join(func(m joinMetrics) pooled { return m.foundByAll })))
	}
	ts = append(ts, msTarget("N=30 simultaneous, discovery alone: found all, max", "≤ 700 ms", 700, func(impl string) float64 {
		var runs []netnsRun
		for _, x := range r.noconn {
			if x.N == 30 && x.Impl == impl && !x.StrictProbes {
				runs = append(runs, x)
			}
		}
		return statOf(pool(runs, findAllMS), len(runs), true)
	}))
	ts = append(ts, msTarget(fmt.Sprintf("N=30, %.0f %% loss: every node found all others (worst run)", r.cfg.loss), "≤ 2 s", 2000, func(impl string) float64 {
		runs := of(r.loss[30], impl)
		return statOf(perRun(runs, meshFound), len(runs), true)
	}))
	ts = append(ts, r.steadyTargets()...)
	for _, m := range r.micro {
		if m.TargetNs == 0 {
			continue
		}
		t := target{what: m.What, goal: "≤ " + fmtNs(m.TargetNs), ours: fmt.Sprintf("%s, %.0f allocs", fmtNs(m.NsOp), m.AllocsOp),
			golib: "–", limit: m.TargetNs, value: m.NsOp}
		if m.TargetAllocs >= 0 {
			t.goal += fmt.Sprintf(", %d allocs", m.TargetAllocs)
			if m.AllocsOp > float64(m.TargetAllocs) {
				t.miss = fmt.Sprintf("%.0f allocs", m.AllocsOp)
			}
		}
		ts = append(ts, t)
	}
	var b strings.Builder
	b.WriteString("| target | goal | this project | go-libp2p | met |\n|---|---|---|---|---|\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", t.what, t.goal, t.ours, t.golib, t.met())
	}
	return b.String()
}

// steadyTargets: ≤ 0.1 packets per node per minute at N=30 in namespaces
// and at N=300 and 1000 in the simulation.
func (r *report) steadyTargets() []target {
	const limit = 0.1
	ppm := func(x *netnsRun) string {
		if x == nil || x.Steady == nil {
			return "–"
		}
		return fmt.Sprintf("%.2f", x.Steady.PacketsPerNodePerMin)
	}
	t := target{what: "N=30, namespaces: steady packets per node per minute", goal: "≤ 0.1", limit: limit, value: math.NaN(),
		ours: ppm(first(r.steady[30], "ours")), golib: ppm(first(r.steady[30], "go-libp2p"))}
	if x := first(r.steady[30], "ours"); x != nil && x.Steady != nil {
		t.value = x.Steady.PacketsPerNodePerMin
	}
	ts := []target{t}
	for _, n := range []int{300, 1000} {
		t := target{what: fmt.Sprintf("N=%d, simulation: steady packets per node per minute", n), goal: "≤ 0.1", limit: limit,
			value: math.NaN(), ours: "–", golib: "–"}
		for _, s := range r.sim {
			if s.Params.N == n && s.Params.Loss == 0 && s.Steady.PerNodePerMinute != nil {
				t.value = s.Steady.PerNodePerMinute.Mean
				t.ours = fmt.Sprintf("%.2f", t.value)
			}
		}
		ts = append(ts, t)
	}
	return ts
}
