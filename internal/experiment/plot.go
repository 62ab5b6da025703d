package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plots writes the figures of the results into dir and returns their
// paths:
//
//   - <claim>-<dataset>.png: learning curves per epoch (mean over seeds)
//     — C1: train (dashed) and test (solid) log loss, test accuracy and the
//     test logit gap mean |s|; C2: train and test log loss, test accuracy;
//     C3: test micro-F1, P@1 and the per-label log loss;
//   - c2-classes.png: test accuracy and log loss against the number of
//     classes;
//   - c3-cardinality.png: test R-precision by the rows' number of labels
//     (pooled over datasets) and test micro-F1 against each dataset's
//     label cardinality.
func Plots(res *Results, dir string) ([]string, error) {
	var files []string
	save := func(name string, panels []*plot.Plot) error {
		path := filepath.Join(dir, name)
		if err := savePanels(path, panels); err != nil {
			return err
		}
		files = append(files, path)
		return nil
	}
	for _, d := range res.Datasets {
		var vs []string
		for _, s := range res.Summaries {
			if s.Claim == d.Claim && s.Dataset == d.Name {
				vs = append(vs, s.Variant)
			}
		}
		if len(vs) == 0 {
			continue
		}
		curve := func(title, ylabel string, get func(Point) F, train func(Point) F) *plot.Plot {
			p := newPlot(fmt.Sprintf("%s: %s", d.Name, title), "epoch", ylabel)
			for i, v := range vs {
				l := addLine(p, v, i, false, meanCurve(res, d.Claim, d.Name, v, get))
				if l != nil && strings.HasSuffix(v, "-2lr") {
					// The control coincides with the two-logit model:
					// dotted, so both stay visible.
					l.Dashes = []vg.Length{vg.Points(1.5), vg.Points(3)}
				}
				if train != nil {
					addLine(p, "", i, true, meanCurve(res, d.Claim, d.Name, v, train))
				}
			}
			return p
		}
		var panels []*plot.Plot
		switch d.Claim {
		case "c1":
			panels = []*plot.Plot{
				curve("log loss (train dashed, test solid)", "log loss", func(p Point) F { return p.Test.Loss }, func(p Point) F { return p.Train.Loss }),
				curve("test accuracy", "accuracy", func(p Point) F { return p.Test.Accuracy }, nil),
				curve("logit gap on test rows", "mean |s|", func(p Point) F { return p.Test.LogitGap }, nil),
			}
		case "c2":
			panels = []*plot.Plot{
				curve("log loss (train dashed, test solid)", "log loss", func(p Point) F { return p.Test.NLL }, func(p Point) F { return p.Train.NLL }),
				curve("test accuracy", "accuracy", func(p Point) F { return p.Test.Accuracy }, nil),
			}
		default:
			panels = []*plot.Plot{
				curve("test micro-F1", "micro-F1", func(p Point) F { return p.Test.MicroF1 }, nil),
				curve("test P@1", "precision@1", func(p Point) F { return p.Test.P1 }, nil),
				curve("per-label log loss (train dashed, test solid)", "Σ_l log loss", func(p Point) F { return p.Test.NLL }, func(p Point) F { return p.Train.NLL }),
			}
		}
		if err := save(fmt.Sprintf("%s-%s.png", d.Claim, d.Name), panels); err != nil {
			return nil, err
		}
	}
	if p, ok := classesPlots(res); ok {
		if err := save("c2-classes.png", p); err != nil {
			return nil, err
		}
	}
	if p, ok := cardinalityPlots(res); ok {
		if err := save("c3-cardinality.png", p); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// classesPlots draws C2's final test accuracy and log loss against K.
func classesPlots(res *Results) ([]*plot.Plot, bool) {
	ks := map[string]int{}
	for _, d := range res.Datasets {
		if d.Claim == "c2" {
			ks[d.Name] = d.K
		}
	}
	if len(ks) == 0 {
		return nil, false
	}
	acc := newPlot("test accuracy vs number of classes", "classes K (log scale)", "accuracy")
	nll := newPlot("test log loss vs number of classes", "classes K (log scale)", "log loss")
	for _, p := range []*plot.Plot{acc, nll} {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	for i, v := range []string{"softmax", "sigmoid"} {
		var a, l plotter.XYs
		for _, s := range res.Summaries {
			if s.Claim != "c2" || s.Variant != v {
				continue
			}
			am, _ := s.Get("test_accuracy")
			lm, _ := s.Get("test_nll")
			a = append(a, plotter.XY{X: float64(ks[s.Dataset]), Y: float64(am.Mean)})
			l = append(l, plotter.XY{X: float64(ks[s.Dataset]), Y: float64(lm.Mean)})
		}
		// Points only: several datasets share K = 10.
		addScatter(acc, v, i, a)
		addScatter(nll, v, i, l)
	}
	return []*plot.Plot{acc, nll}, true
}

// cardinalityPlots draws C3's R-precision by the rows' number of labels
// (weighted over datasets and seeds) and micro-F1 against the datasets'
// label cardinality.
func cardinalityPlots(res *Results) ([]*plot.Plot, bool) {
	card := map[string]float64{}
	for _, d := range res.Datasets {
		if d.Claim == "c3" {
			card[d.Name] = d.Cardinality
		}
	}
	if len(card) == 0 {
		return nil, false
	}
	rp := newPlot("test R-precision by the row's number of labels", "labels k of the row (5 = 5 or more)", "R-precision")
	tp := newPlot("mean ŷ of a row's true labels", "labels k of the row (5 = 5 or more)", "mean ŷ of true labels")
	f1 := newPlot("test micro-F1 vs label cardinality", "label cardinality of the dataset", "micro-F1")
	for i, v := range []string{"sigmoid", "softmax-1/k", "softmax-copies"} {
		var r, t plotter.XYs
		for k := 1; k <= maxCardinality; k++ {
			var w, sr, st float64
			for _, run := range res.Runs {
				if run.Claim != "c3" || run.Variant != v {
					continue
				}
				for _, c := range run.Final().Test.ByCardinality {
					if c.K == k {
						w += float64(c.Weight)
						sr += float64(c.Weight * c.RPrecision)
						st += float64(c.Weight * c.TrueProb)
					}
				}
			}
			if w > 0 {
				r = append(r, plotter.XY{X: float64(k), Y: sr / w})
				t = append(t, plotter.XY{X: float64(k), Y: st / w})
			}
		}
		addLine(rp, v, i, false, r)
		addLine(tp, v, i, false, t)
		var f plotter.XYs
		for _, s := range res.Summaries {
			if s.Claim == "c3" && s.Variant == v {
				m, _ := s.Get("test_micro_f1")
				f = append(f, plotter.XY{X: card[s.Dataset], Y: float64(m.Mean)})
			}
		}
		slices.SortFunc(f, func(a, b plotter.XY) int {
			switch {
			case a.X < b.X:
				return -1
			case a.X > b.X:
				return 1
			}
			return 0
		})
		addPoints(f1, v, i, f)
	}
	return []*plot.Plot{rp, tp, f1}, true
}

// meanCurve averages a variant's curves over its seeds, epoch by epoch.
func meanCurve(res *Results, claim, dataset, variant string, get func(Point) F) plotter.XYs {
	var sum []float64
	var n []int
	for _, r := range res.Runs {
		if r.Claim != claim || r.Dataset != dataset || r.Variant != variant {
			continue
		}
		for i, p := range r.Curve {
			if i >= len(sum) {
				sum, n = append(sum, 0), append(n, 0)
			}
			sum[i] += float64(get(p))
			n[i]++
		}
	}
	xy := make(plotter.XYs, len(sum))
	for i := range sum {
		xy[i] = plotter.XY{X: float64(i), Y: sum[i] / float64(n[i])}
	}
	return xy
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// addLine adds a line in the i-th colour and returns it (nil when there is
// nothing to draw); dashed lines get no legend entry.
func addLine(p *plot.Plot, name string, i int, dashed bool, xy plotter.XYs) *plotter.Line {
	if len(xy) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return nil // NaN or Inf points: leave the line out rather than fail the report
	}
	l.Color, l.Width = plotutil.Color(i), vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return l
}

// addPoints adds a line with point markers in the i-th colour.
func addPoints(p *plot.Plot, name string, i int, xy plotter.XYs) {
	if len(xy) == 0 {
		return
	}
	l, s, err := plotter.NewLinePoints(xy)
	if err != nil {
		return
	}
	l.Color, s.Color, s.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
	p.Add(l, s)
	p.Legend.Add(name, l, s)
}

// addScatter adds point markers in the i-th colour.
func addScatter(p *plot.Plot, name string, i int, xy plotter.XYs) {
	if len(xy) == 0 {
		return
	}
	s, err := plotter.NewScatter(xy)
	if err != nil {
		return
	}
	s.Color, s.Shape, s.Radius = plotutil.Color(i), plotutil.Shape(i), vg.Points(3.5)
	p.Add(s)
	p.Legend.Add(name, s)
}

// savePanels draws the plots side by side into a PNG file.
func savePanels(path string, panels []*plot.Plot) error {
	const panelWidth, height = 360, 300
	img := vgimg.NewWith(vgimg.UseWH(vg.Points(float64(panelWidth*len(panels))), vg.Points(height)), vgimg.UseDPI(110))
	dc := draw.New(img)
	t := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Points(12), PadY: vg.Points(6), PadTop: vg.Points(4), PadBottom: vg.Points(4),
		PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	cs := plot.Align([][]*plot.Plot{panels}, t, dc)
	for i, p := range panels {
		p.Draw(cs[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("experiment: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("experiment: write %s: %w", path, err)
	}
	return nil
}
