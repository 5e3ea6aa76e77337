package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// series is one line of a plot.
type series struct {
	Name string
	X, Y []float64
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // ours
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // go-libp2p
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// linePlot writes an SVG line plot with points, one line per series; logY
// uses a logarithmic Y axis (values ≤ 0 are left out there).
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
	for i, s := range ss {
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
		c := palette[i%len(palette)]
		line.Color, points.Color = c, c
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add(s.Name, line, points)
	}
	return p.Save(7*vg.Inch, 4*vg.Inch, path)
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
