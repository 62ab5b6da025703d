package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
	"github.com/dptrain/dptrain/internal/trainer"
)

// digits is the example data shipped with the repository.
func digits() trainer.DataConfig {
	dir := filepath.Join("..", "..", "examples", "digits")
	return trainer.DataConfig{Train: filepath.Join(dir, "digits-train.csv.gz"), Test: filepath.Join(dir, "digits-test.csv.gz"),
		Scale: "maxabs", Read: shard.ReadOptions{Format: shard.CSV, LabelColumn: "64", Task: shard.Multiclass}}
}

// TestVariantMatchesPrepare pins Variant to trainer.Prepare: deriving a
// job from another job's data gives the spec (job id included) that
// reading the data again would.
func TestVariantMatchesPrepare(t *testing.T) {
	dc := digits()
	base, err := trainer.Prepare(dc, trainer.JobConfig{Model: model.Config{Kind: model.KindLinear}, Seed: 1, BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	for _, jc := range []trainer.JobConfig{
		{Loss: "sigmoid", Model: model.Config{Kind: model.KindLinear}, Seed: 7, BatchSize: 32, Salt: "adam 0.01"},
		{Loss: "softmax", LossCfg: loss.Config{Smoothing: 0.1}, Model: model.Config{Kind: model.KindMLP, Hidden: []int{8}}, Seed: 2, BatchSize: 10},
	} {
		want, err := trainer.Prepare(dc, jc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Variant(base, jc)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Spec, want.Spec) {
			t.Errorf("Variant(%+v) spec\n%+v\nPrepare gives\n%+v", jc, got.Spec, want.Spec)
		}
		if got.Prob.P != want.Prob.P || got.Prob.Loss.Logits() != want.Prob.Loss.Logits() {
			t.Errorf("Variant(%+v): %d parameters, %d logits; Prepare: %d, %d", jc, got.Prob.P, got.Prob.Loss.Logits(), want.Prob.P, want.Prob.Loss.Logits())
		}
	}
	if base.Spec.Test.Bucket != "" {
		t.Fatal("setup: base spec already published")
	}
	v, _ := Variant(base, trainer.JobConfig{Loss: "softmax", Model: model.Config{Kind: model.KindLinear}, Seed: 3, BatchSize: 64})
	v.Spec.Test.Bucket = "x"
	if base.Spec.Test.Bucket != "" {
		t.Error("Variant shares the test source with its base: publishing one job's micro-shards changes the other")
	}
}

// multilabelSet returns a small multi-label dataset, dense or CSR, whose
// rows have 0 to k labels, with example weights.
func multilabelSet(rnd *rand.Rand, rows, cols, k int, sparse bool) *shard.Dataset {
	d := &shard.Dataset{Task: shard.Multilabel, K: k, Weights: make([]float64, rows)}
	d.X.Rows, d.X.Cols = rows, cols
	if sparse {
		d.X.Indptr = []int64{0}
	}
	for i := range rows {
		for j := range cols {
			v := float32(rnd.NormFloat64())
			if sparse {
				if rnd.IntN(3) == 0 {
					d.X.Indices = append(d.X.Indices, int32(j))
					d.X.Values = append(d.X.Values, v)
				}
			} else {
				d.X.Dense = append(d.X.Dense, v)
			}
		}
		if sparse {
			d.X.Indptr = append(d.X.Indptr, int64(len(d.X.Indices)))
		}
		labels := i % (k + 1) // 0..k labels, every count present
		y := make([]float32, k)
		for _, j := range rnd.Perm(k)[:labels] {
			y[j] = 1
		}
		d.Y = append(d.Y, y...)
		d.Weights[i] = 0.5 + rnd.Float64()
	}
	return d
}

// TestCopiesIdentity checks MATH.md §4.3 on the datasets Copies builds:
// for softmax cross-entropy at any θ, Σ w·L, Σ w·∇L and Σ w over the k
// copies equal those over the 1/k targets.
func TestCopiesIdentity(t *testing.T) {
	// Both sides add the same terms in different orders and groupings
	// (k copies of a row are added one by one, the 1/k target in one
	// term): the sums agree to a few ulps of their magnitudes, here
	// |Σ| ≲ 10³, so 1e-12 relative leaves a wide margin over ≈ 1e-16·rows.
	const relTol = 1e-12
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, sparse := range []bool{false, true} {
		d := multilabelSet(rnd, 60, 7, 4, sparse)
		c, err := Copies(d)
		if err != nil {
			t.Fatal(err)
		}
		wantRows := 0
		for i := range d.Rows() {
			var k int
			for _, v := range d.Y[i*d.K : (i+1)*d.K] {
				k += int(v)
			}
			wantRows += max(k, 1)
		}
		if c.Rows() != wantRows || len(c.Y) != wantRows*d.K || len(c.Weights) != wantRows {
			t.Fatalf("sparse=%v: %d copies (%d targets, %d weights), want %d rows", sparse, c.Rows(), len(c.Y), len(c.Weights), wantRows)
		}
		f, _ := loss.New(loss.KindSoftmax, d.K, loss.Config{})
		m, err := model.New(model.Config{Kind: model.KindLinear, Inputs: d.X.Cols, Outputs: d.K})
		if err != nil {
			t.Fatal(err)
		}
		theta := make([]float64, m.NumParams())
		for i := range theta {
			theta[i] = rnd.NormFloat64()
		}
		g1, g2 := make([]float64, len(theta)), make([]float64, len(theta))
		l1, w1 := m.Accumulate(g1, theta, d.View(shard.Range{Lo: 0, Hi: d.Rows()}), f, nil)
		l2, w2 := m.Accumulate(g2, theta, c.View(shard.Range{Lo: 0, Hi: c.Rows()}), f, nil)
		near := func(a, b float64) bool { return math.Abs(a-b) <= relTol*max(1, math.Abs(a)) }
		if !near(l1, l2) || !near(w1, w2) {
			t.Errorf("sparse=%v: Σw·L, Σw = %.17g, %.17g on 1/k targets; %.17g, %.17g on copies", sparse, l1, w1, l2, w2)
		}
		var worst float64
		for i := range g1 {
			worst = max(worst, math.Abs(g1[i]-g2[i]))
			if !near(g1[i], g2[i]) {
				t.Errorf("sparse=%v: ∂/∂θ[%d]: %.17g on 1/k targets, %.17g on copies (‖Δ‖∞ so far %.3g)", sparse, i, g1[i], g2[i], worst)
				break
			}
		}
	}
	soft := &shard.Dataset{Task: shard.Multilabel, K: 2, Y: []float32{0.5, 1}, X: shard.Matrix{Rows: 1, Cols: 1, Dense: []float32{1}}}
	if _, err := Copies(soft); err == nil {
		t.Error("Copies accepted a soft target")
	}
}

// writeLIBSVM writes a generated LIBSVM file: binary labels ±1 from a
// noisy linear rule, or multi-label lists.
func writeLIBSVM(t *testing.T, path string, rnd *rand.Rand, rows, cols, k int) {
	t.Helper()
	var b strings.Builder
	w := make([]float64, cols*max(k, 1))
	for i := range w {
		w[i] = rnd.NormFloat64()
	}
	for range rows {
		x := make([]float64, cols)
		for j := range x {
			x[j] = rnd.NormFloat64()
		}
		score := func(l int) float64 {
			s := rnd.NormFloat64() * 0.5
			for j, v := range x {
				s += w[l*cols+j] * v
			}
			return s
		}
		if k == 0 {
			if score(0) > 0 {
				b.WriteString("+1")
			} else {
				b.WriteString("-1")
			}
		} else {
			var ls []string
			for l := range k {
				if score(l) > 0.8 {
					ls = append(ls, fmt.Sprint(l))
				}
			}
			b.WriteString(strings.Join(ls, ","))
		}
		for j, v := range x {
			fmt.Fprintf(&b, " %d:%.4f", j+1, v)
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunSmall runs the three claims through the distributed trainer on
// generated data and the shipped digits, and checks the outputs and the
// two parameter identities.
func TestRunSmall(t *testing.T) {
	// The control and the identity compare runs whose gradients agree to
	// rounding at every step (≈ 1e-16 relative); over the few dozen steps
	// here the parameters, of size ≲ 10, drift apart by far less than
	// 1e-9. A modelling mistake (a missing 1/k weight, a wrong 2η) shows
	// up as differences of order 1e-2 or more.
	const paramTol = 1e-9
	root := t.TempDir()
	rnd := rand.New(rand.NewPCG(3, 4))
	writeLIBSVM(t, filepath.Join(root, "bin.train"), rnd, 300, 6, 0)
	writeLIBSVM(t, filepath.Join(root, "bin.test"), rnd, 100, 6, 0)
	writeLIBSVM(t, filepath.Join(root, "ml.train"), rnd, 240, 8, 5)
	writeLIBSVM(t, filepath.Join(root, "ml.test"), rnd, 80, 8, 5)
	dg := digits() // paths relative to the data root, as in a catalog
	dg.Train, dg.Test = rel(t, root, dg.Train), rel(t, root, dg.Test)
	lib := func(name, train, test string, task shard.Task, k int) Dataset {
		return Dataset{Name: name, Task: task, Source: ".", Data: trainer.DataConfig{Train: train, Test: test, Scale: "maxabs",
			Read: shard.ReadOptions{Format: shard.LIBSVM, Task: task, NumLabels: k}}}
	}
	cfg := DefaultConfig()
	cfg.DataRoot, cfg.Out, cfg.Seeds, cfg.IdentitySteps = root, filepath.Join(root, "out"), 2, 8
	cfg.Catalog = map[string][]Dataset{
		"c1": {lib("bin", "bin.train", "bin.test", shard.Binary, 0)},
		"c2": {{Name: "digits", Task: shard.Multiclass, Source: ".", Data: dg, Seeds: 1, Epochs: 1}},
		"c3": {lib("ml", "ml.train", "ml.test", shard.Multilabel, 5)},
	}
	for name, h := range cfg.Hyper {
		h.Epochs, h.BatchSize = 2, 64
		cfg.Hyper[name] = h
	}
	res, files, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"results.json", "results.md", "c1-bin.png", "c2-digits.png", "c2-classes.png", "c3-ml.png", "c3-cardinality.png"} {
		path := filepath.Join(cfg.Out, want)
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("output %s missing or empty (%v)", want, err)
		}
		found := false
		for _, f := range files {
			found = found || f == path
		}
		if !found {
			t.Errorf("Run did not report %s among %v", path, files)
		}
	}
	// 2 seeds × 5 C1 variants, 1 seed × 2 C2 variants, 2 seeds × 3 C3 variants.
	if n := len(res.Runs); n != 10+2+6 {
		t.Errorf("%d runs, want 18", n)
	}
	for _, r := range res.Runs {
		if len(r.Curve) != r.Hyper.Epochs+1 {
			t.Errorf("%s %s seed %d: %d curve points, want %d", r.Dataset, r.Variant, r.Seed, len(r.Curve), r.Hyper.Epochs+1)
		}
		if r.Workers != cfg.Workers || float64(r.CrossCheck) > crossCheckTol {
			t.Errorf("%s %s seed %d: %d workers, cross-check %g", r.Dataset, r.Variant, r.Seed, r.Workers, float64(r.CrossCheck))
		}
	}
	if len(res.Identity) != 1 || len(res.Control) != 2 {
		t.Fatalf("%d identity and %d control checks, want 1 and 2", len(res.Identity), len(res.Control))
	}
	for _, c := range append(res.Identity, res.Control...) {
		if !(float64(c.MaxAbsDiff) <= paramTol) || !(c.MaxAbsTheta > 0) {
			t.Errorf("%s seed %d (%s): max |Δθ| = %g with max |θ| = %g; want ≤ %g", c.Dataset, c.Seed, c.What, float64(c.MaxAbsDiff), float64(c.MaxAbsTheta), paramTol)
		}
	}
	var back Results
	b, err := os.ReadFile(filepath.Join(cfg.Out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Runs) != len(res.Runs) || len(back.Summaries) != len(res.Summaries) {
		t.Errorf("results.json does not read back: %v", err)
	}
	md, _ := os.ReadFile(filepath.Join(cfg.Out, "results.md"))
	for _, want := range []string{"## C1", "## C2", "## C3", "binary-softmax", "softmax-copies", "Identity"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
}

// rel returns path (relative to the working directory) relative to root.
func rel(t *testing.T, root, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := filepath.Rel(root, abs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
