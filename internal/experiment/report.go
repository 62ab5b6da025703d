package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Stat is the mean and sample standard deviation (n − 1 in the
// denominator; undefined for one seed) of a metric over seeds.
type Stat struct {
	Key  string `json:"key"`
	Mean F      `json:"mean"`
	Std  F      `json:"std"`
}

// Summary is one variant on one dataset over its seeds.
type Summary struct {
	Claim   string `json:"claim"`
	Dataset string `json:"dataset"`
	Variant string `json:"variant"`
	Seeds   int    `json:"seeds"`
	Stats   []Stat `json:"stats"`
}

// Get returns the stat with the given key.
func (s Summary) Get(key string) (Stat, bool) {
	for _, st := range s.Stats {
		if st.Key == key {
			return st, true
		}
	}
	return Stat{}, false
}

// metric is a number read off a run's final point.
type metric struct {
	key, label string
	get        func(Point) F
}

// claimMetrics lists the metrics each claim's table reports.
func claimMetrics(claim string) []metric {
	switch claim {
	case "c1":
		return []metric{
			{"train_loss", "train loss", func(p Point) F { return p.Train.Loss }},
			{"test_loss", "test loss", func(p Point) F { return p.Test.Loss }},
			{"loss_gap", "test − train loss", func(p Point) F { return p.Test.Loss - p.Train.Loss }},
			{"train_accuracy", "train acc", func(p Point) F { return p.Train.Accuracy }},
			{"test_accuracy", "test acc", func(p Point) F { return p.Test.Accuracy }},
			{"test_logit_gap", "test mean \\|s\\|", func(p Point) F { return p.Test.LogitGap }},
		}
	case "c2":
		return []metric{
			{"train_nll", "train log loss", func(p Point) F { return p.Train.NLL }},
			{"test_nll", "test log loss", func(p Point) F { return p.Test.NLL }},
			{"train_accuracy", "train acc", func(p Point) F { return p.Train.Accuracy }},
			{"test_accuracy", "test acc", func(p Point) F { return p.Test.Accuracy }},
			{"test_macro_f1", "test macro-F1", func(p Point) F { return p.Test.MacroF1 }},
		}
	}
	return []metric{
		{"test_micro_f1", "micro-F1", func(p Point) F { return p.Test.MicroF1 }},
		{"test_macro_f1", "macro-F1", func(p Point) F { return p.Test.MacroF1 }},
		{"test_hamming", "Hamming loss", func(p Point) F { return p.Test.Hamming }},
		{"test_p1", "P@1", func(p Point) F { return p.Test.P1 }},
		{"test_p3", "P@3", func(p Point) F { return p.Test.P3 }},
		{"test_p5", "P@5", func(p Point) F { return p.Test.P5 }},
		{"test_subset_accuracy", "subset acc", func(p Point) F { return p.Test.SubsetAccuracy }},
	}
}

// summarize returns one Summary per variant, in the order of variants.
func summarize(claim, dataset string, runs []*Trial, variants []string) []Summary {
	var out []Summary
	for _, v := range variants {
		var sel []*Trial
		for _, r := range runs {
			if r.Variant == v {
				sel = append(sel, r)
			}
		}
		s := Summary{Claim: claim, Dataset: dataset, Variant: v, Seeds: len(sel)}
		for _, m := range claimMetrics(claim) {
			xs := make([]float64, len(sel))
			for i, r := range sel {
				xs[i] = float64(m.get(r.Final()))
			}
			mean, std := meanStd(xs)
			s.Stats = append(s.Stats, Stat{Key: m.key, Mean: F(mean), Std: F(std)})
		}
		out = append(out, s)
	}
	return out
}

// meanStd returns the mean and the sample standard deviation of xs (NaN
// for fewer than 2 values).
func meanStd(xs []float64) (mean, std float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

// Write writes results.json, results.md and the plots into dir and
// returns the paths written.
func Write(res *Results, dir string) ([]string, error) {
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	files := []string{filepath.Join(dir, "results.json"), filepath.Join(dir, "results.md")}
	if err := os.WriteFile(files[0], append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	if err := os.WriteFile(files[1], []byte(Markdown(res)), 0o644); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	plots, err := Plots(res, dir)
	if err != nil {
		return nil, err
	}
	return append(files, plots...), nil
}

var claimTitles = map[string]string{
	"c1": "C1 — binary data: logistic regression (1 logit) vs two-logit softmax, with and without label smoothing",
	"c2": "C2 — single-label multi-class data: softmax cross-entropy vs sum of log loss",
	"c3": "C3 — multi-label data: sum of log loss vs softmax on 1/k targets vs softmax on k one-hot copies",
}

// Markdown renders the results as the tables of docs/experiments.md.
func Markdown(res *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Experiment results\n\nWritten by `coordinator experiment`: %d seed(s) per comparison (mean ± sample std), "+
		"%d local workers over an embedded NATS server, %.0f s in all. Metrics are at the final parameters.\n", res.Seeds, res.Workers, res.WallSeconds)
	for _, claim := range []string{"c1", "c2", "c3"} {
		h, ok := res.Hyper[claim]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n", claimTitles[claim])
		init := "θ₀ = 0"
		if h.Model.Kind != "linear" {
			init = "seeded initialisation"
		}
		fmt.Fprintf(&b, "Hyper-parameters (identical for every model compared): %s model (%s), optimizer %s, learning rate %g (constant), "+
			"batch %d, %d epochs, λ = %g", h.Model.Kind, init, h.Optimizer, h.LR, h.BatchSize, h.Epochs, h.L2)
		if h.Smoothing > 0 {
			fmt.Fprintf(&b, ", label smoothing ε = %g in the `+ls` variants", h.Smoothing)
		}
		b.WriteString(". Per-dataset exceptions are in the dataset table.\n\n")
		b.WriteString("| dataset | task | train rows | test rows | features | K | label card. | seeds | epochs | batch |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, d := range res.Datasets {
			if d.Claim != claim {
				continue
			}
			card := ""
			if d.Cardinality > 0 {
				card = fmt.Sprintf("%.2f", d.Cardinality)
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %s | %d | %d | %d |\n", d.Name, d.Task, d.Rows, d.TestRows, d.Features, d.K, card,
				d.Seeds, d.Epochs, d.BatchSize)
		}
		ms := claimMetrics(claim)
		b.WriteString("\n| dataset | variant |")
		for _, m := range ms {
			fmt.Fprintf(&b, " %s |", m.label)
		}
		b.WriteString("\n|---|---|" + strings.Repeat("---:|", len(ms)) + "\n")
		for _, s := range res.Summaries {
			if s.Claim != claim {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s |", s.Dataset, s.Variant)
			for _, m := range ms {
				st, _ := s.Get(m.key)
				fmt.Fprintf(&b, " %s |", pm(st))
			}
			b.WriteString("\n")
		}
		switch claim {
		case "c1":
			checks(&b, "Control: the two-logit model against logistic regression at twice the learning rate", res.Control)
		case "c3":
			cardinalityTable(&b, res)
			checks(&b, "Identity (MATH.md §4.3): softmax on 1/k targets vs on k one-hot copies of weight 1/k, full batch", res.Identity)
		}
	}
	return b.String()
}

func checks(b *strings.Builder, title string, cs []ParamCheck) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s:\n\n| dataset | seed | steps | max \\|Δθ\\| | max \\|θ\\| | train loss (a) | train loss (b) |\n|---|---:|---:|---:|---:|---:|---:|\n", title)
	for _, c := range cs {
		fmt.Fprintf(b, "| %s | %d | %d | %.3g | %.3g | %.10g | %.10g |\n", c.Dataset, c.Seed, c.Steps, float64(c.MaxAbsDiff),
			float64(c.MaxAbsTheta), float64(c.LossA), float64(c.LossB))
	}
}

// cardinalityTable writes, per C3 dataset and variant, the mean over seeds
// of the test R-precision and of the mean estimate of the true labels, by
// the rows' number of labels k.
func cardinalityTable(b *strings.Builder, res *Results) {
	b.WriteString("\nBy the test rows' number of labels k: R-precision (fraction of the k highest ŷ that are true labels) / mean ŷ of the true labels, " +
		"mean over seeds:\n\n| dataset | variant | k = 1 | k = 2 | k = 3 | k = 4 | k ≥ 5 |\n|---|---|---|---|---|---|---|\n")
	for _, s := range res.Summaries {
		if s.Claim != "c3" {
			continue
		}
		fmt.Fprintf(b, "| %s | %s |", s.Dataset, s.Variant)
		for k := 1; k <= maxCardinality; k++ {
			rp, tp, ok := cardinalityMeans(res, s.Dataset, s.Variant, k)
			if !ok {
				b.WriteString(" — |")
				continue
			}
			fmt.Fprintf(b, " %.3f / %.3f |", rp, tp)
		}
		b.WriteString("\n")
	}
}

// cardinalityMeans averages over a variant's runs the test R-precision and
// true-label estimate of the rows with k labels.
func cardinalityMeans(res *Results, dataset, variant string, k int) (rprec, trueProb float64, ok bool) {
	var n float64
	for _, r := range res.Runs {
		if r.Claim != "c3" || r.Dataset != dataset || r.Variant != variant {
			continue
		}
		for _, c := range r.Final().Test.ByCardinality {
			if c.K == k {
				rprec += float64(c.RPrecision)
				trueProb += float64(c.TrueProb)
				n++
			}
		}
	}
	if n == 0 {
		return 0, 0, false
	}
	return rprec / n, trueProb / n, true
}

// pm formats mean ± std ("mean" alone for one seed).
func pm(s Stat) string {
	m, sd := float64(s.Mean), float64(s.Std)
	if math.IsNaN(m) {
		return "—"
	}
	if math.IsNaN(sd) {
		return fmt.Sprintf("%.4f", m)
	}
	return fmt.Sprintf("%.4f ± %.4f", m, sd)
}
