package eval

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
)

func mustLoss(t *testing.T, kind loss.Kind, k int, cfg loss.Config) loss.Func {
	t.Helper()
	f, err := loss.New(kind, k, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// feed observes rows (z, y, w) through ObserveRow, and through Observe with
// the loss's target into a second Sums; both must agree for hard labels.
func feed(t *testing.T, l Layout, f loss.Func, zs [][]float64, ys [][]float32, ws []float64) *Sums {
	t.Helper()
	byRow, byTarget := NewSums(l), NewSums(l)
	tgt := make([]float64, f.Logits())
	for i := range zs {
		w := 1.0
		if ws != nil {
			w = ws[i]
		}
		f.Target(tgt, ys[i])
		byRow.ObserveRow(zs[i], tgt, ys[i], w)
		byTarget.Observe(zs[i], tgt, w)
	}
	if !slices.Equal(byRow.V, byTarget.V) {
		t.Errorf("sums from y and from the loss's target differ:\n%v\n%v", byRow.V, byTarget.V)
	}
	return byRow
}

const exact = 1e-15 // hand-computed ratios of small integers

func TestBinaryMetricsByHand(t *testing.T) {
	ys := [][]float32{{1}, {1}, {0}, {0}}
	// Scores 2, −1 (positives) and 0.5, −3 (negatives): 3 of 4 pairs ordered.
	for _, c := range []struct {
		kind loss.Kind
		zs   [][]float64
	}{
		{loss.KindLogistic, [][]float64{{2}, {-1}, {0.5}, {-3}}},
		{loss.KindBinarySoftmax, [][]float64{{-1, 1}, {0, -1}, {0.25, 0.75}, {1, -2}}},
	} {
		f := mustLoss(t, c.kind, 1, loss.Config{Smoothing: 0.1})
		l := NewLayout(shard.Binary, f, 1)
		s := feed(t, l, f, c.zs, ys, nil)
		m := l.Metrics(s.V, 2, 4)
		if m.Loss != 0.5 || m.Accuracy != 0.5 || m.Rows != 4 || m.Weight != 4 {
			t.Errorf("%v: %+v", c.kind, m)
		}
		if !scalar.EqualWithinAbs(m.AUC, 0.75, exact) || m.AUCBound != 0 {
			t.Errorf("%v: AUC %v ± %v, want 0.75 ± 0", c.kind, m.AUC, m.AUCBound)
		}
	}
}

func TestBinaryTiesAndThreshold(t *testing.T) {
	f := mustLoss(t, loss.KindLogistic, 1, loss.Config{})
	l := NewLayout(shard.Binary, f, 1)
	// Positives at 1 and 0, negatives at 1 and −1: pairs tie, win, lose,
	// win: AUC 2.5/4, and the tie is the only in-bin pair: bound ½·1/4.
	s := NewSums(l)
	for _, r := range []struct {
		z float64
		y float32
	}{{1, 1}, {0, 0.5}, {1, 0}, {-1, 0.25}} { // y = 0.5 is positive, 0.25 negative
		s.ObserveRow([]float64{r.z}, nil, []float32{r.y}, 1)
	}
	auc, bound := l.AUC(s.V)
	if !scalar.EqualWithinAbs(auc, 0.625, exact) || !scalar.EqualWithinAbs(bound, 0.125, exact) {
		t.Errorf("AUC %v ± %v, want 0.625 ± 0.125", auc, bound)
	}
	// Predicted positive iff σ(z) > 0.5: z = 1, 1 → positive, z = 0 → negative.
	if m := l.Metrics(s.V, 0, 4); m.Accuracy != 0.5 {
		t.Errorf("accuracy %v, want 0.5", m.Accuracy)
	}
}

func TestMulticlassMetricsByHand(t *testing.T) {
	f := mustLoss(t, loss.KindSoftmax, 3, loss.Config{Smoothing: 0.2})
	l := NewLayout(shard.Multiclass, f, 3)
	// truth 0, 1, 2, 2; predicted 0, 2, 2, 1.
	ys := [][]float32{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0, 0, 1}}
	zs := [][]float64{{3, 1, 1}, {0, 1, 2}, {-1, -1, 0}, {0, 5, 5}} // last: tie 1 vs 2 → 1
	s := feed(t, l, f, zs, ys, []float64{1, 1, 1, 1})
	m := l.Metrics(s.V, 1, 4)
	want := [][]float64{{1, 0, 0}, {0, 0, 1}, {0, 1, 1}}
	if !slices.EqualFunc(m.Confusion, want, slices.Equal) {
		t.Errorf("confusion %v, want %v", m.Confusion, want)
	}
	// F1: class 0 → 1, class 1 → 0, class 2 → 2·1/(2+1+1) = 0.5.
	if m.Accuracy != 0.5 || !scalar.EqualWithinAbs(m.MacroF1, 0.5, exact) {
		t.Errorf("accuracy %v macro-F1 %v, want 0.5 0.5", m.Accuracy, m.MacroF1)
	}
}

func TestMultilabelMetricsByHand(t *testing.T) {
	f := mustLoss(t, loss.KindSigmoid, 4, loss.Config{Smoothing: 0.1})
	l := NewLayout(shard.Multilabel, f, 4)
	ys := [][]float32{{1, 0, 1, 0}, {0, 1, 0, 0}}
	zs := [][]float64{{2, -2, -1, -5}, {-1, 3, -2, -5}}
	s := feed(t, l, f, zs, ys, nil)
	m := l.Metrics(s.V, 3, 2)
	// Label F1: 1, 1, 0 (one FN), 0 (no true, no predicted: zero_division=0).
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"loss", m.Loss, 1.5},
		{"micro-F1", m.MicroF1, 4.0 / 5}, // TP 2, FP 0, FN 1
		{"macro-F1", m.MacroF1, 0.5},
		{"hamming", m.Hamming, 1.0 / 8},
		{"subset accuracy", m.SubsetAccuracy, 0.5},
		{"accuracy", m.Accuracy, 0.5},
		{"P@1", m.P1, 1},
		{"P@3", m.P3, (2.0/3 + 1.0/3) / 2},
		{"P@5", m.P5, (2.0/5 + 1.0/5) / 2}, // only 4 labels to rank
	} {
		if !scalar.EqualWithinAbs(c.got, c.want, exact) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// randomRows returns n random rows for a task: logits, targets, weights.
func randomRows(rnd *rand.Rand, task shard.Task, logits, k, n int, weighted bool) ([][]float64, [][]float32, []float64) {
	zs, ys := make([][]float64, n), make([][]float32, n)
	var ws []float64
	if weighted {
		ws = make([]float64, n)
	}
	for i := range n {
		zs[i] = make([]float64, logits)
		for j := range zs[i] {
			zs[i][j] = 2 * rnd.NormFloat64()
		}
		ys[i] = make([]float32, k)
		switch task {
		case shard.Multiclass:
			ys[i][rnd.IntN(k)] = 1
		default:
			for j := range ys[i] {
				ys[i][j] = float32(rnd.IntN(2))
			}
		}
		if weighted {
			ws[i] = float64(rnd.IntN(4)) // small integers: sums stay exact
		}
	}
	return zs, ys, ws
}

func TestSumsMerge(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		kind loss.Kind
		task shard.Task
		k    int
	}{
		{loss.KindLogistic, shard.Binary, 1},
		{loss.KindBinarySoftmax, shard.Binary, 1},
		{loss.KindSoftmax, shard.Multiclass, 5},
		{loss.KindSigmoid, shard.Multiclass, 5},
		{loss.KindSigmoid, shard.Multilabel, 7},
		{loss.KindSoftmax, shard.Multilabel, 7},
	} {
		f := mustLoss(t, c.kind, c.k, loss.Config{})
		l := NewLayout(c.task, f, c.k)
		zs, ys, ws := randomRows(rnd, c.task, f.Logits(), c.k, 300, true)
		whole := NewSums(l)
		for i := range zs {
			whole.ObserveRow(zs[i], nil, ys[i], ws[i])
		}
		for _, parts := range []int{2, 3, 7} {
			total := NewSums(l)
			for _, r := range shard.Split(len(zs), parts) {
				part := NewSums(l)
				for i := r.Lo; i < r.Hi; i++ {
					part.ObserveRow(zs[i], nil, ys[i], ws[i])
				}
				total.Add(part.V)
			}
			for i := range whole.V {
				// Counts with integer weights are exact; precision@3 and @5
				// add thirds and fifths, exact to rounding.
				tol := 0.0
				if c.task == shard.Multilabel && i >= l.precisionAt() {
					tol = 1e-12
				}
				if !scalar.EqualWithinAbs(total.V[i], whole.V[i], tol) {
					t.Fatalf("%v/%v %d parts: sum %d = %v, whole %v", c.kind, c.task, parts, i, total.V[i], whole.V[i])
				}
			}
		}
	}
}

func TestHistogramAUCWithinBound(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	f := mustLoss(t, loss.KindLogistic, 1, loss.Config{})
	l := NewLayout(shard.Binary, f, 1)
	for _, c := range []struct {
		name     string
		n        int
		quantum  float64 // scores rounded to multiples of it (ties)
		scale    float64
		weighted bool
	}{
		{"continuous", 5000, 0, 2, false},
		{"weighted", 5000, 0, 2, true},
		{"ties", 5000, 0.5, 2, false},
		{"confident", 3000, 0, 15, false},
		{"beyond range", 2000, 0, 40, true},
	} {
		scores := make([]float64, c.n)
		pos := make([]bool, c.n)
		var w []float64
		if c.weighted {
			w = make([]float64, c.n)
		}
		s := NewSums(l)
		for i := range scores {
			pos[i] = rnd.IntN(3) == 0
			z := c.scale * (rnd.NormFloat64() + 0.3)
			if pos[i] {
				z += c.scale
			}
			if c.quantum > 0 {
				z = math.Round(z/c.quantum) * c.quantum
			}
			scores[i] = z
			wi := 1.0
			if w != nil {
				wi = rnd.Float64()
				w[i] = wi
			}
			y := float32(0)
			if pos[i] {
				y = 1
			}
			s.ObserveRow([]float64{z}, nil, []float32{y}, wi)
		}
		exactAUC := ExactAUC(scores, pos, w)
		auc, bound := l.AUC(s.V)
		const rounding = 1e-12 // sums of 5000 terms
		if math.Abs(auc-exactAUC) > bound+rounding {
			t.Errorf("%s: histogram AUC %v, exact %v, |Δ| %.3g > bound %.3g", c.name, auc, exactAUC, math.Abs(auc-exactAUC), bound)
		}
		// Quantised scores fall one distinct value per bin: every in-bin
		// pair is an exact tie, which both count ½.
		if c.name == "ties" && math.Abs(auc-exactAUC) > rounding {
			t.Errorf("%s: histogram AUC %v, exact %v", c.name, auc, exactAUC)
		}
		if c.name == "continuous" && bound > 2e-3 {
			t.Errorf("%s: bound %v is loose for continuous scores", c.name, bound)
		}
	}
}

func TestExactAUC(t *testing.T) {
	// sklearn: roc_auc_score([0,0,1,1], [0.1,0.4,0.35,0.8]) = 0.75.
	if got := ExactAUC([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}, nil); got != 0.75 {
		t.Errorf("ExactAUC = %v, want 0.75", got)
	}
	// A tie between a positive and a negative counts ½.
	if got := ExactAUC([]float64{1, 1}, []bool{true, false}, nil); got != 0.5 {
		t.Errorf("tied ExactAUC = %v, want 0.5", got)
	}
	// A weight of 2 counts as two copies.
	a := ExactAUC([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}, []float64{1, 2, 1, 1})
	b := ExactAUC([]float64{0.1, 0.4, 0.4, 0.35, 0.8}, []bool{false, false, false, true, true}, nil)
	if a != b {
		t.Errorf("weighted ExactAUC %v, repeated %v", a, b)
	}
	if got := ExactAUC([]float64{1, 2}, []bool{true, true}, nil); !math.IsNaN(got) {
		t.Errorf("one-class ExactAUC = %v, want NaN", got)
	}
}

func TestMetricsJSON(t *testing.T) {
	bf := mustLoss(t, loss.KindLogistic, 1, loss.Config{})
	bl := NewLayout(shard.Binary, bf, 1)
	bs := feed(t, bl, bf, [][]float64{{1}, {-1}}, [][]float32{{1}, {0}}, nil)
	mf := mustLoss(t, loss.KindSigmoid, 3, loss.Config{})
	ml := NewLayout(shard.Multilabel, mf, 3)
	ms := feed(t, ml, mf, [][]float64{{1, -1, 2}}, [][]float32{{1, 0, 0}}, nil)
	cf := mustLoss(t, loss.KindSoftmax, 2, loss.Config{})
	cl := NewLayout(shard.Multiclass, cf, 2)
	cs := feed(t, cl, cf, [][]float64{{1, -1}}, [][]float32{{1, 0}}, nil)
	oneClass := feed(t, bl, bf, [][]float64{{1}}, [][]float32{{1}}, nil)
	for _, c := range []struct {
		name      string
		m         Metrics
		has, hasn []string
	}{
		{"binary", bl.Metrics(bs.V, 1, 2), []string{`"auc":1`, `"accuracy":1`, `"loss":0.5`}, []string{"micro_f1", "confusion", "hamming"}},
		{"multilabel", ml.Metrics(ms.V, 1, 1), []string{`"micro_f1":`, `"macro_f1":`, `"hamming_loss":`, `"subset_accuracy":0`, `"precision_at_1":0`, `"precision_at_5":`}, []string{"auc", "confusion"}},
		{"multiclass", cl.Metrics(cs.V, 1, 1), []string{`"confusion":[[1,0],[0,0]]`, `"macro_f1":0.5`}, []string{"auc", "micro_f1"}},
		{"undefined", bl.Metrics(oneClass.V, 0, 0), []string{`"auc":null`, `"loss":null`}, nil},
	} {
		b, err := json.Marshal(c.m)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, s := range c.has {
			if !strings.Contains(string(b), s) {
				t.Errorf("%s: %s lacks %s", c.name, b, s)
			}
		}
		for _, s := range c.hasn {
			if strings.Contains(string(b), s) {
				t.Errorf("%s: %s has %s", c.name, b, s)
			}
		}
	}
}

func TestNewLayoutPanicsOnMismatch(t *testing.T) {
	f := mustLoss(t, loss.KindSoftmax, 3, loss.Config{})
	for _, c := range []struct {
		task shard.Task
		k    int
	}{{shard.Binary, 1}, {shard.Multiclass, 4}, {shard.Multilabel, 2}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewLayout(%v, softmax/3, %d) did not panic", c.task, c.k)
				}
			}()
			NewLayout(c.task, f, c.k)
		}()
	}
}

// Sums plug into a model pass as its observer, see raw targets and
// allocate nothing per row.
func TestSumsAsModelObserver(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	const rows, cols, k = 64, 5, 4
	d := &shard.Dataset{Task: shard.Multilabel, K: k, X: shard.Matrix{Rows: rows, Cols: cols, Dense: make([]float32, rows*cols)}, Y: make([]float32, rows*k)}
	for i := range d.X.Dense {
		d.X.Dense[i] = float32(rnd.NormFloat64())
	}
	for i := range d.Y {
		d.Y[i] = float32(rnd.IntN(2))
	}
	f := mustLoss(t, loss.KindSoftmax, k, loss.Config{}) // a 1/k target: truth must come from y
	m, err := model.New(model.Config{Kind: model.KindLinear, Inputs: cols, Outputs: k})
	if err != nil {
		t.Fatal(err)
	}
	theta := make([]float64, m.NumParams())
	for i := range theta {
		theta[i] = rnd.NormFloat64()
	}
	l := NewLayout(shard.Multilabel, f, k)
	s := NewSums(l)
	all := d.View(shard.Range{Lo: 0, Hi: rows})
	lossSum, weightSum := m.Accumulate(nil, theta, all, f, s)
	// Truth positives counted = positives in y.
	pos := 0.0
	for _, y := range d.Y {
		pos += float64(y)
	}
	got := 0.0
	for j := range k {
		got += s.V[l.labelCounts()+4*j] + s.V[l.labelCounts()+4*j+2] // TP + FN
	}
	if got != pos {
		t.Errorf("observer counted %v true labels, data has %v", got, pos)
	}
	if mm := l.Metrics(s.V, lossSum, weightSum); mm.Rows != rows || mm.Weight != rows {
		t.Errorf("metrics %+v", mm)
	}
	if a := testing.AllocsPerRun(5, func() { m.Accumulate(nil, theta, all, f, s) }); a != 0 {
		t.Errorf("%v allocations per observed pass", a)
	}
}
