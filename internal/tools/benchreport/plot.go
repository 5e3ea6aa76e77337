package main

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// series is one line of a plot.
type series struct {
	Name   string
	X, Y   []float64
	Color  int  // index into palette
	Dashed bool // a dashed line without points (targets)
}

func (s *series) add(x, y float64) {
	if !math.IsNaN(y) && !math.IsInf(y, 0) {
		s.X, s.Y = append(s.X, x), append(s.Y, y)
	}
}

// plots draws the report's figures into the data directory.
func (r *report) plots() error {
	d := r.cfg.data
	if err := r.connectedPlot(filepath.Join(d, "connected.svg")); err != nil {
		return err
	}
	var conv, steady, total [3]series
	names := []string{"this project (namespaces)", "go-libp2p mdns (namespaces)", "this project (simulation)"}
	for i := range conv {
		conv[i] = series{Name: names[i], Color: []int{0, 1, 2}[i]}
		steady[i], total[i] = conv[i], conv[i]
	}
	for i, impl := range []string{"ours", "go-libp2p"} {
		for _, n := range r.cfg.ns {
			if runs := of(r.fast[n], impl); len(runs) > 0 {
				conv[i].add(float64(n), perRun(runs, meshFound).Median)
			}
		}
		for _, n := range r.cfg.steadyN {
			if x := first(r.steady[n], impl); x != nil && x.Steady != nil {
				steady[i].add(float64(n), x.Steady.PacketsPerNodePerMin)
				total[i].add(float64(n), x.Steady.PacketsPerNodePerMin*float64(n))
			}
		}
	}
	for _, s := range r.sim {
		if s.Params.Loss != 0 {
			continue
		}
		conv[2].add(float64(s.Params.N), s.Convergence.NodeMaxMS)
		if p := s.Steady.PerNodePerMinute; p != nil {
			steady[2].add(float64(s.Params.N), p.Mean)
			total[2].add(float64(s.Params.N), p.Mean*float64(s.Params.N))
		}
	}
	if err := linePlot(filepath.Join(d, "convergence.svg"), "Time until every node has found all others (median over runs)", "nodes N", "ms", true, conv[:]); err != nil {
		return err
	}
	if err := linePlot(filepath.Join(d, "steady.svg"), "Steady state: packets sent per node per minute", "nodes N", "packets / node / min", true, steady[:]); err != nil {
		return err
	}
	return linePlot(filepath.Join(d, "total.svg"), "Steady state: packets on the LAN per minute", "nodes N", "packets / min", true, total[:])
}

// connectedPlot draws the time until every pair is connected (the last
// pair of a run, median over runs) and the median pair against N, per
// implementation, with issue #13's targets on the last pair.
func (r *report) connectedPlot(path string) error {
	var ss []series
	for _, impl := range impls {
		all := series{Name: plotName[impl] + ": every pair", Color: implColor[impl]}
		med := series{Name: plotName[impl] + ": median pair", Color: implColor[impl], Dashed: true}
		for _, n := range r.cfg.ns {
			runs := of(r.fast[n], impl)
			if len(runs) == 0 {
				continue
			}
			all.add(float64(n), perRun(runs, meshConnected).Median)
			med.add(float64(n), pool(runs, pairConnectMS).Median)
		}
		ss = append(ss, all, med)
	}
	goal := series{Name: "target, every pair: 300 ms at N=2, 600 ms at N=10", Color: 4, Dashed: true}
	goal.add(2, 300)
	goal.add(10, 600)
	ss = append(ss, goal)
	return linePlot(path, "Time until connected, N nodes started together (median over runs)", "nodes N", "ms after the start", true, ss)
}

// plotName and implColor name and colour an implementation in the plots.
var (
	plotName  = map[string]string{"ours": "this project", "ours-dropin": "this project, drop-in", "go-libp2p": "go-libp2p mdns"}
	implColor = map[string]int{"ours": 0, "ours-dropin": 3, "go-libp2p": 1}
)

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // ours
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // go-libp2p
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // the simulation
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // ours, drop-in
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // targets
}

// linePlot writes an SVG line plot with points, one line per series; logY
// uses a logarithmic Y axis (values ≤ 0 are left out there); the X axis is
// logarithmic when it spans a factor of 50 or more.
func linePlot(path, title, xLabel, yLabel string, logY bool, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	if logY && !positive(ss) {
		logY = false // a log axis needs at least one value > 0
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if lo, hi := xRange(ss); lo > 0 && hi/lo >= 50 {
		// N from 2 to 1000: a log axis keeps the small sizes apart.
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	for _, s := range ss {
		pts := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			if logY && s.Y[j] <= 0 {
				continue
			}
			pts = append(pts, plotter.XY{X: s.X[j], Y: s.Y[j]})
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		c := palette[s.Color%len(palette)]
		line.Color, points.Color = c, c
		if s.Dashed {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(line)
			p.Legend.Add(s.Name, line)
			continue
		}
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add(s.Name, line, points)
	}
	if logY {
		// Room above the data for the legend (top left): a log axis
		// reaching ~8 times the largest value leaves its top quarter free.
		p.Y.Max = math.Max(p.Y.Max, maxY(ss)*8)
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

func xRange(ss []series) (lo, hi float64) {
	lo = math.Inf(1)
	for _, s := range ss {
		for _, x := range s.X {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	return lo, hi
}

func maxY(ss []series) float64 {
	m := 0.0
	for _, s := range ss {
		for _, y := range s.Y {
			m = math.Max(m, y)
		}
	}
	return m
}

func positive(ss []series) bool {
	for _, s := range ss {
		for _, y := range s.Y {
			if y > 0 {
				return true
			}
		}
	}
	return false
}
