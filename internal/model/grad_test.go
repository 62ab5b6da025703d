package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/floats/scalar"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/shard"
)

// Finite-difference tolerances. The objective is a weighted sum of at most
// 9 row losses of size O(1), so |J| ≲ 50; the central difference with step
// h = 1e-6 has truncation error O(h²·J”') ≈ 1e-11 and rounding error
// ≈ ε·|J|/h ≈ 1e-8. Tolerances sit two orders above the latter.
const (
	fdStep   = 1e-6
	fdAbsTol = 1e-6
	fdRelTol = 1e-6
)

// checkGradient compares Accumulate's gradient of J(θ) = Σ_i w_i·L_i with
// a central finite difference at theta.
func checkGradient(t *testing.T, name string, m Model, theta []float64, rows shard.Rows, f loss.Func) {
	t.Helper()
	grad := make([]float64, m.NumParams())
	lossSum, _ := m.Accumulate(grad, theta, rows, f, nil)
	if math.IsNaN(lossSum) || math.IsInf(lossSum, 0) {
		t.Fatalf("%s: loss %v", name, lossSum)
	}
	probe := m.Clone()
	want := fd.Gradient(nil, func(th []float64) float64 {
		l, _ := probe.Accumulate(nil, th, rows, f, nil)
		return l
	}, theta, &fd.Settings{Formula: fd.Central, Step: fdStep})
	worst, at := 0.0, -1
	for i := range grad {
		if d := math.Abs(grad[i] - want[i]); !scalar.EqualWithinAbsOrRel(grad[i], want[i], fdAbsTol, fdRelTol) && d > worst {
			worst, at = d, i
		}
	}
	if at >= 0 {
		t.Errorf("%s: ∂J/∂θ[%d] = %.10g, finite difference %.10g (|Δ| = %.3g)", name, at, grad[at], want[at], worst)
	}
}

func TestGradientMatchesFiniteDifference(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	const rows, cols = 9, 6
	for _, lk := range lossKinds {
		for _, variant := range []struct {
			name          string
			smoothing     float64
			classWeights  bool
			soft, weights bool
		}{
			{name: "plain"},
			{name: "smoothed", smoothing: 0.1},
			{name: "soft targets", soft: true},
			{name: "example weights", weights: true},
			{name: "class weights", classWeights: true},
			{name: "all", smoothing: 0.2, classWeights: true, soft: true, weights: true},
		} {
			cfg := loss.Config{Smoothing: variant.smoothing}
			if variant.classWeights {
				n := lk.k
				if lk.k == 1 {
					n = 2
				}
				for i := range n {
					cfg.ClassWeights = append(cfg.ClassWeights, 0.5+float64(i))
				}
			}
			f := mustLoss(lk.kind, lk.k, cfg)
			dense, csr := randomData(rnd, dataOpts{rows: rows, cols: cols, task: lk.task, k: lk.k,
				soft: variant.soft, weights: variant.weights, density: 0.7})
			for _, c := range models(cols, f.Logits()) {
				m := mustModel(c)
				theta := randomTheta(rnd, m, 0.3)
				for _, d := range []*shard.Dataset{dense, csr} {
					store := "dense"
					if d.X.Sparse() {
						store = "csr"
					}
					name := fmt.Sprintf("%v/%s/%s/%s", lk.kind, variant.name, name(c), store)
					checkGradient(t, name, m, theta, d.View(shard.Range{Lo: 0, Hi: rows}), f)
					// An index view in a different order visits the same rows.
					idx := []int32{3, 0, 8, 5, 5}
					checkGradient(t, name+"/index", m, theta, shard.Rows{D: d, Index: idx}, f)
				}
			}
		}
	}
}

func TestPenaltyGradient(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	const lambda = 0.37
	for _, c := range models(5, 3) {
		m := mustModel(c)
		theta := randomTheta(rnd, m, 1)
		grad := make([]float64, m.NumParams())
		for i := range grad {
			grad[i] = float64(i) // Penalty adds to what is there
		}
		p := m.Penalty(grad, theta, lambda)
		want := fd.Gradient(nil, func(th []float64) float64 {
			return lambda * m.Penalty(nil, th, 0)
		}, theta, &fd.Settings{Formula: fd.Central, Step: fdStep})
		for i := range grad {
			if got := grad[i] - float64(i); !scalar.EqualWithinAbsOrRel(got, want[i], fdAbsTol, fdRelTol) {
				t.Errorf("%s: λ·∂P/∂θ[%d] = %.10g, finite difference %.10g", name(c), i, got, want[i])
			}
		}
		// P = ½ Σ over the weights only, and biases get no gradient.
		sum := 0.0
		for _, L := range c.Layers(theta) {
			for _, w := range L.W {
				sum += w * w
			}
		}
		if !scalar.EqualWithinRel(p, sum/2, 1e-14) {
			t.Errorf("%s: Penalty = %v, ½‖W‖² = %v", name(c), p, sum/2)
		}
		for l, L := range c.Layers(grad) {
			off := &L.B[0]
			base := 0
			for i := range grad {
				if &grad[i] == off {
					base = i
				}
			}
			for k, v := range L.B {
				if v != float64(base+k) {
					t.Errorf("%s: layer %d bias %d has penalty gradient %v", name(c), l, k, v-float64(base+k))
				}
			}
		}
	}
}

// A row of weight w counts as w copies of it: weights 2 equal the row twice.
func TestExampleWeightIsMultiplicity(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	dense, _ := randomData(rnd, dataOpts{rows: 4, cols: 5, task: shard.Multiclass, k: 3, density: 1})
	f := mustLoss(loss.KindSoftmax, 3, loss.Config{})
	for _, c := range models(5, 3) {
		m := mustModel(c)
		theta := randomTheta(rnd, m, 0.5)
		weighted := *dense
		weighted.Weights = []float64{2, 0, 1, 1}
		g1 := make([]float64, m.NumParams())
		l1, w1 := m.Accumulate(g1, theta, weighted.View(shard.Range{Lo: 0, Hi: 4}), f, nil)
		g2 := make([]float64, m.NumParams())
		l2, w2 := m.Accumulate(g2, theta, shard.Rows{D: dense, Index: []int32{0, 0, 2, 3}}, f, nil)
		if w1 != 4 || w2 != 4 || !scalar.EqualWithinRel(l1, l2, 1e-14) {
			t.Errorf("%s: weighted (%v, %v), repeated (%v, %v)", name(c), l1, w1, l2, w2)
		}
		for i := range g1 {
			if !scalar.EqualWithinAbsOrRel(g1[i], g2[i], 1e-14, 1e-13) {
				t.Fatalf("%s: ∂θ[%d] weighted %v, repeated %v", name(c), i, g1[i], g2[i])
			}
		}
	}
}

// Dense and CSR storage of the same rows give the same bits: a CSR row's
// dot products follow the lane order of the dense row, and the zeros a
// dense row adds change no bits.
func TestDenseEqualsCSR(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	const rows = 20
	for _, cols := range []int{37, 64} {
		for _, lk := range lossKinds {
			f := mustLoss(lk.kind, lk.k, loss.Config{})
			dense, csr := randomData(rnd, dataOpts{rows: rows, cols: cols, task: lk.task, k: lk.k, density: 0.3})
			for _, c := range append(models(cols, f.Logits()), Config{Kind: KindLinear, Inputs: cols, Outputs: 10}) {
				fc, widen := f, c.Outputs != f.Logits()
				if widen {
					fc = mustLoss(loss.KindSigmoid, c.Outputs, loss.Config{})
				}
				m := mustModel(c)
				theta := randomTheta(rnd, m, 0.3)
				gd, gc := make([]float64, m.NumParams()), make([]float64, m.NumParams())
				dv, cv := dense.View(shard.Range{Lo: 0, Hi: rows}), csr.View(shard.Range{Lo: 0, Hi: rows})
				if widen {
					dv.D, cv.D = widenTargets(dense, c.Outputs), widenTargets(csr, c.Outputs)
				}
				ld, _ := m.Accumulate(gd, theta, dv, fc, nil)
				lc, _ := m.Accumulate(gc, theta, cv, fc, nil)
				if ld != lc {
					t.Errorf("%v %s: loss dense %v, csr %v", lk.kind, name(c), ld, lc)
				}
				for i := range gd {
					if math.Float64bits(gd[i]) != math.Float64bits(gc[i]) {
						t.Fatalf("%v %s: ∂θ[%d] dense %v, csr %v", lk.kind, name(c), i, gd[i], gc[i])
					}
				}
			}
		}
	}
}

// widenTargets returns d with k multi-label targets: its first target
// column repeated.
func widenTargets(d *shard.Dataset, k int) *shard.Dataset {
	w := *d
	w.Task, w.K = shard.Multilabel, k
	w.Y = make([]float32, d.Rows()*k)
	for r := range d.Rows() {
		for c := range k {
			w.Y[r*k+c] = d.Y[r*d.K]
		}
	}
	return &w
}

// A model with fewer dataset columns than inputs reads the missing columns
// as zeros.
func TestNarrowRowsArePadded(t *testing.T) {
	rnd := rand.New(rand.NewPCG(9, 10))
	f := mustLoss(loss.KindSigmoid, 2, loss.Config{})
	narrowD, narrowC := randomData(rnd, dataOpts{rows: 5, cols: 4, task: shard.Multilabel, k: 2, density: 0.8})
	wide := *narrowD
	wide.X = shard.Matrix{Rows: 5, Cols: 6, Dense: make([]float32, 30)}
	for r := range 5 {
		copy(wide.X.Dense[r*6:], narrowD.X.Dense[r*4:(r+1)*4])
	}
	for _, c := range models(6, 2) {
		m := mustModel(c)
		theta := randomTheta(rnd, m, 0.3)
		want := make([]float64, m.NumParams())
		lw, _ := m.Accumulate(want, theta, wide.View(shard.Range{Lo: 0, Hi: 5}), f, nil)
		for _, d := range []*shard.Dataset{narrowD, narrowC} {
			got := make([]float64, m.NumParams())
			l, _ := m.Accumulate(got, theta, d.View(shard.Range{Lo: 0, Hi: 5}), f, nil)
			if !scalar.EqualWithinRel(l, lw, 1e-14) {
				t.Errorf("%s: narrow loss %v, padded %v", name(c), l, lw)
			}
			for i := range got {
				if !scalar.EqualWithinAbsOrRel(got[i], want[i], 1e-14, 1e-13) {
					t.Fatalf("%s: ∂θ[%d] narrow %v, padded %v", name(c), i, got[i], want[i])
				}
			}
		}
	}
}
