package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// target is one line of the targets table.
type target struct {
	what, goal, measured string
	met                  *bool // nil: not measured
}

func check(ok bool) *bool { return &ok }

// first returns the first run of impl in runs.
func first(runs []netnsRun, impl string) *netnsRun {
	for i := range runs {
		if runs[i].Impl == impl {
			return &runs[i]
		}
	}
	return nil
}

func over(v, limit float64) string {
	if v <= limit || limit == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.0f%% over)", 100*(v/limit-1))
}

func (r *report) targets() string {
	var ts []target
	n30 := first(r.steady[30], "ours")
	if n30 != nil {
		ts = append(ts, target{"N=30, simultaneous start, strict RFC probing", "every node found all 29 others ≤ 1.2 s at max, 0 missed pairs",
			fmt.Sprintf("max %s ms, %d missed%s", ms(n30.FindAll.Max), n30.MissedPairs, over(n30.FindAll.Max, 1200)),
			check(n30.FindAll.Max <= 1200 && n30.MissedPairs == 0 && n30.FindAll.N == 30)})
	}
	for _, x := range r.noconn {
		if x.Impl == "ours" && !x.ProbeHints {
			ts = append(ts, target{fmt.Sprintf("N=%d, strict probing, discovery alone (no connections)", x.N), "≤ 1.2 s at max",
				fmt.Sprintf("max %s ms, %d missed%s", ms(x.FindAll.Max), x.MissedPairs, over(x.FindAll.Max, 1200)), check(x.FindAll.Max <= 1200 && x.MissedPairs == 0 && x.FindAll.N == x.N)})
		}
		if x.Impl == "ours" && x.ProbeHints && x.ProbingAll != nil {
			ts = append(ts, target{fmt.Sprintf("N=%d with probe hints, discovery alone", x.N), "≤ 0.5 s at max",
				fmt.Sprintf("max %s ms (median %s)%s", ms(x.ProbingAll.Max), ms(x.ProbingAll.Median), over(x.ProbingAll.Max, 500)), check(x.ProbingAll.Max <= 500 && x.MissedPairs == 0)})
		}
	}
	if h := first(r.hints, "ours"); h != nil && h.ProbingAll != nil {
		ts = append(ts, target{fmt.Sprintf("N=%d with probe hints", h.N), "≤ 0.5 s at max",
			fmt.Sprintf("max %s ms%s", ms(h.ProbingAll.Max), over(h.ProbingAll.Max, 500)), check(h.ProbingAll.Max <= 500 && h.MissedPairs == 0)})
	}
	if n30 != nil && n30.Steady != nil {
		ts = append(ts, target{"steady state at N=30", "≤ 1 packet per node per minute",
			fmt.Sprintf("%.2f over %.0f s%s", n30.Steady.PacketsPerNodePerMin, n30.Steady.Seconds, over(n30.Steady.PacketsPerNodePerMin, 1)),
			check(n30.Steady.PacketsPerNodePerMin <= 1)})
		var parts []string
		for _, n := range r.cfg.ns {
			if x := first(r.steady[n], "ours"); x != nil && x.Steady != nil {
				parts = append(parts, fmt.Sprintf("N=%d: %.1f/min", n, x.Steady.PacketsPerNodePerMin*float64(n)))
			}
		}
		ts = append(ts, target{"steady traffic growth", "linear in N (total packets per minute)", strings.Join(parts, ", "), nil})
		ts = append(ts, target{"UDP receive-buffer drops at N=30", "0", fmt.Sprint(n30.RcvbufDrops), check(n30.RcvbufDrops == 0)})
		if n30.SteadyCPU != nil {
			ts = append(ts, target{"CPU at N=30", "≤ 0.1 s per node per minute", fmt.Sprintf("%.3f s (mean), %.3f s (max)%s", n30.SteadyCPU.Mean, n30.SteadyCPU.Max, over(n30.SteadyCPU.Mean, 0.1)),
				check(n30.SteadyCPU.Mean <= 0.1)})
		}
	}
	if l := first(r.loss[30], "ours"); l != nil {
		v := math.NaN()
		if l.MeshFoundMS != nil {
			v = *l.MeshFoundMS
		}
		ts = append(ts, target{fmt.Sprintf("N=%d with %.0f %% random loss", l.N, l.LossPct), "full mesh ≤ 2 s",
			fmt.Sprintf("found by all %s ms, connected %s ms%s", msp(l.MeshFoundMS), msp(l.MeshConnectedMS), over(v, 2000)), check(l.MeshFoundMS != nil && *l.MeshFoundMS <= 2000)})
	}
	for _, m := range r.micro {
		if m.TargetNs == 0 {
			continue
		}
		goal := fmtNs(m.TargetNs)
		if m.TargetAllocs >= 0 {
			goal += fmt.Sprintf(", %d allocs", m.TargetAllocs)
		}
		ts = append(ts, target{m.What, goal, fmt.Sprintf("%s, %.0f allocs%s", fmtNs(m.NsOp), m.AllocsOp, over(m.NsOp, m.TargetNs)),
			check(m.NsOp <= m.TargetNs && (m.TargetAllocs < 0 || m.AllocsOp <= float64(m.TargetAllocs)))})
	}
	for _, s := range r.sim {
		if s.Params.N != 1000 || s.Params.Loss != 0 {
			continue
		}
		tot := s.ToConvergence.PerNode["total"]
		ts = append(ts, target{"simulation N=1000", "convergence ≤ 2 s virtual, ≤ 10 packets sent per node during it",
			fmt.Sprintf("all found by %s ms; %.1f packets per node (max %.0f)%s", ms(s.Convergence.GlobalMS), tot.Mean, tot.Max, over(s.Convergence.GlobalMS, 2000)),
			check(s.Convergence.All && s.Convergence.GlobalMS <= 2000 && tot.Mean <= 10)})
	}
	var b strings.Builder
	b.WriteString("| target | goal | measured | met |\n|---|---|---|---|\n")
	for _, t := range ts {
		met := "–"
		if t.met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*t.met]
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.what, t.goal, t.measured, met)
	}
	return b.String()
}

// plots draws convergence time, steady packets per node and total steady
// packets against N, both implementations (and the simulation for ours).
func (r *report) plots() error {
	var conv, steady, total [3]series
	conv[0].Name, conv[1].Name, conv[2].Name = "this project (namespaces)", "go-libp2p mdns (namespaces)", "this project (simulation)"
	steady[0].Name, steady[1].Name, steady[2].Name = conv[0].Name, conv[1].Name, conv[2].Name
	total[0].Name, total[1].Name, total[2].Name = conv[0].Name, conv[1].Name, conv[2].Name
	add := func(s *series, x, y float64) {
		if !math.IsNaN(y) {
			s.X, s.Y = append(s.X, x), append(s.Y, y)
		}
	}
	for _, n := range r.cfg.ns {
		for i, impl := range []string{"ours", "go-libp2p"} {
			x := first(r.steady[n], impl)
			if x == nil {
				continue
			}
			add(&conv[i], float64(n), x.FindAll.Max)
			if x.Steady != nil {
				add(&steady[i], float64(n), x.Steady.PacketsPerNodePerMin)
				add(&total[i], float64(n), x.Steady.PacketsPerNodePerMin*float64(n))
			}
		}
	}
	for _, s := range r.sim {
		if s.Params.Loss != 0 {
			continue
		}
		add(&conv[2], float64(s.Params.N), s.Convergence.NodeMaxMS)
		if p := s.Steady.PerNodePerMinute; p != nil {
			add(&steady[2], float64(s.Params.N), p.Mean)
			add(&total[2], float64(s.Params.N), p.Mean*float64(s.Params.N))
		}
	}
	d := r.cfg.data
	if err := linePlot(filepath.Join(d, "convergence.svg"), "Time until every node has found all others (max over nodes)", "nodes N", "ms", true, conv[:]); err != nil {
		return err
	}
	if err := linePlot(filepath.Join(d, "steady.svg"), "Steady state: packets sent per node per minute", "nodes N", "packets / node / min", true, steady[:]); err != nil {
		return err
	}
	return linePlot(filepath.Join(d, "total.svg"), "Steady state: packets on the LAN per minute", "nodes N", "packets / min", true, total[:])
}
