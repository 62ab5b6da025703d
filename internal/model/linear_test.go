package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/shard"
)

// plainLinearPass is the linear model's pass written as plainly as
// possible: sequential float64 sums, one row at a time. It is the
// reference of the fast passes up to rounding.
func plainLinearPass(grad, theta []float64, rows shard.Rows, f loss.Func, K int) (lossSum, weightSum float64) {
	d := rows.D
	cols := d.X.Cols
	inputs := (len(theta) - K) / K
	W, b := theta[:inputs*K], theta[inputs*K:]
	z, t, g := make([]float64, K), make([]float64, K), make([]float64, K)
	x := make([]float64, cols)
	for i := range rows.Len() {
		r := rows.Row(i)
		clear(x)
		if d.X.Sparse() {
			for p := d.X.Indptr[r]; p < d.X.Indptr[r+1]; p++ {
				x[d.X.Indices[p]] = float64(d.X.Values[p])
			}
		} else {
			for j := range cols {
				x[j] = float64(d.X.Dense[r*cols+j])
			}
		}
		for k := range K {
			z[k] = b[k]
			for j := range cols {
				z[k] += x[j] * W[j*K+k]
			}
		}
		w := 1.0
		if d.Weights != nil {
			w = d.Weights[r]
		}
		f.Target(t, d.Y[r*d.K:(r+1)*d.K])
		l := f.Eval(g, z, t)
		if w == 0 {
			continue
		}
		lossSum += w * l
		weightSum += w
		if grad == nil {
			continue
		}
		for k := range K {
			grad[inputs*K+k] += w * g[k]
			for j := range cols {
				grad[j*K+k] += x[j] * w * g[k]
			}
		}
	}
	return lossSum, weightSum
}

// orderedLinearPass is the linear model's pass in its documented order of
// operations, one row at a time: each logit b_k + (lane-order dot product
// of the row with column k of W), each ∂W element updated row by row with
// fused multiply-adds. The tiled passes must give its bits exactly.
func orderedLinearPass(grad, theta []float64, rows shard.Rows, f loss.Func, K int) (lossSum, weightSum float64) {
	d := rows.D
	cols := d.X.Cols
	inputs := (len(theta) - K) / K
	W, b := theta[:inputs*K], theta[inputs*K:]
	z, t, g := make([]float64, K), make([]float64, K), make([]float64, K)
	x := make([]float32, cols)
	for i := range rows.Len() {
		r := rows.Row(i)
		clear(x)
		if d.X.Sparse() {
			for p := d.X.Indptr[r]; p < d.X.Indptr[r+1]; p++ {
				x[d.X.Indices[p]] = d.X.Values[p]
			}
		} else {
			copy(x, d.X.Dense[r*cols:(r+1)*cols])
		}
		for k := range K {
			z[k] = b[k] + dotF32StridedGo(x, W[k:], K)
		}
		w := 1.0
		if d.Weights != nil {
			w = d.Weights[r]
		}
		f.Target(t, d.Y[r*d.K:(r+1)*d.K])
		l := f.Eval(g, z, t)
		if w == 0 {
			continue
		}
		lossSum += w * l
		weightSum += w
		if grad == nil {
			continue
		}
		for k := range K {
			delta := g[k]
			if w != 1 {
				delta *= w
			}
			grad[inputs*K+k] += delta
			for j := range cols {
				if x[j] != 0 {
					grad[j*K+k] = math.FMA(delta, float64(x[j]), grad[j*K+k])
				}
			}
		}
	}
	return lossSum, weightSum
}

// The fast linear passes (tiled dense, lane-ordered CSR) give exactly the
// bits of the documented row-by-row order, and agree with a plain float64
// pass to fastRelTol: for one and several outputs, row counts that leave
// short tiles, feature counts with and without a tail past the last full
// lane group, example weights (some zero) and index views.
func TestLinearFastPassMatchesReference(t *testing.T) {
	// Sums of ≤ 70 products of O(1) terms, in a different order: the
	// relative difference is a few ulps of the largest partial sum, ≲ 1e-14
	// here; 1e-12 leaves room for cancellation.
	const fastRelTol = 1e-12
	rnd := rand.New(rand.NewPCG(31, 32))
	for _, c := range []struct {
		kind       loss.Kind
		task       shard.Task
		k          int
		rows, cols int
		weights    bool
	}{
		{loss.KindLogistic, shard.Binary, 1, 13, 64, true},
		{loss.KindLogistic, shard.Binary, 1, 9, 37, true},
		// Several blocks of rows, the last one short; with and without
		// example weights.
		{loss.KindLogistic, shard.Binary, 1, 37, 24, true},
		{loss.KindLogistic, shard.Binary, 1, 37, 24, false},
		{loss.KindBinarySoftmax, shard.Binary, 1, 7, 19, true},
		{loss.KindSoftmax, shard.Multiclass, 3, 11, 40, true},
		{loss.KindSoftmax, shard.Multiclass, 10, 17, 70, true},
		{loss.KindSoftmax, shard.Multiclass, 4, 35, 16, false},
		{loss.KindSigmoid, shard.Multilabel, 10, 6, 32, true},
		{loss.KindSigmoid, shard.Multilabel, 5, 4, 5, true},
		{loss.KindSigmoid, shard.Multilabel, 10, 34, 17, false},
		{loss.KindSigmoid, shard.Multilabel, 4, 33, 16, false},
	} {
		f := mustLoss(c.kind, c.k, loss.Config{Smoothing: 0.05})
		K := f.Logits()
		dense, csr := randomData(rnd, dataOpts{rows: c.rows, cols: c.cols, task: c.task, k: c.k, weights: c.weights, density: 0.7})
		m := mustModel(Config{Kind: KindLinear, Inputs: c.cols + 3, Outputs: K})
		theta := randomTheta(rnd, m, 0.3)
		index := make([]int32, 2*c.rows+1)
		for i := range index {
			index[i] = int32(rnd.IntN(c.rows))
		}
		for _, d := range []*shard.Dataset{dense, csr} {
			for _, rows := range []shard.Rows{d.View(shard.Range{Lo: 0, Hi: c.rows}), d.View(shard.Range{Lo: 1, Hi: c.rows}), {D: d, Index: index}} {
				name := fmt.Sprintf("%v k=%d %d×%d weights=%v sparse=%v rows=%d", c.kind, K, c.rows, c.cols, c.weights, d.X.Sparse(), rows.Len())
				got, ordered, plain := make([]float64, m.NumParams()), make([]float64, m.NumParams()), make([]float64, m.NumParams())
				for i := range got { // Accumulate adds to what is there
					got[i] = float64(i % 3)
					ordered[i], plain[i] = got[i], got[i]
				}
				l, w := m.Accumulate(got, theta, rows, f, nil)
				lo, wo := orderedLinearPass(ordered, theta, rows, f, K)
				lp, wp := plainLinearPass(plain, theta, rows, f, K)
				if l != lo || w != wo {
					t.Errorf("%s: (loss, weight) = (%v, %v), documented order (%v, %v)", name, l, w, lo, wo)
				}
				if math.Abs(l-lp) > fastRelTol*math.Abs(lp) || w != wp {
					t.Errorf("%s: (loss, weight) = (%v, %v), plain (%v, %v)", name, l, w, lp, wp)
				}
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(ordered[i]) {
						t.Fatalf("%s: ∂θ[%d] = %v, documented order %v", name, i, got[i], ordered[i])
					}
					if math.Abs(got[i]-plain[i]) > fastRelTol*math.Max(1, math.Abs(plain[i])) {
						t.Fatalf("%s: ∂θ[%d] = %v, plain %v", name, i, got[i], plain[i])
					}
				}
				if lonly, _ := m.Accumulate(nil, theta, rows, f, nil); lonly != l {
					t.Errorf("%s: loss-only pass %v, gradient pass %v", name, lonly, l)
				}
				// The gradient in the model's own order, put back in θ's,
				// has the bits of Accumulate's (both from zero).
				want, perm := make([]float64, m.NumParams()), make([]float64, m.NumParams())
				m.Accumulate(want, theta, rows, f, nil)
				gorder := m.(GradOrder)
				lp2, wp2 := gorder.AccumulatePermuted(perm, theta, rows, f, nil)
				if gorder.Permutes(d) != (K > 1 && !d.X.Sparse()) {
					t.Errorf("%s: Permutes = %v", name, gorder.Permutes(d))
				}
				if gorder.Permutes(d) {
					gorder.Unpermute(perm, make([]float64, m.NumParams()))
				}
				if lp2 != l || wp2 != w {
					t.Errorf("%s: permuted pass (loss, weight) = (%v, %v), Accumulate (%v, %v)", name, lp2, wp2, l, w)
				}
				for i := range want {
					if math.Float64bits(perm[i]) != math.Float64bits(want[i]) {
						t.Fatalf("%s: permuted then unpermuted ∂θ[%d] = %v, Accumulate %v", name, i, perm[i], want[i])
					}
				}
			}
		}
	}
}

// A model reused across passes (as a worker reuses it for every
// micro-shard) gives the bits of a fresh one after θ changes in place, even
// by one ulp or from +0 to −0, and whatever the starting gradient holds.
func TestLinearReuseAfterThetaChanges(t *testing.T) {
	rnd := rand.New(rand.NewPCG(33, 34))
	f := mustLoss(loss.KindSoftmax, 10, loss.Config{})
	dense, _ := randomData(rnd, dataOpts{rows: 9, cols: 21, task: shard.Multiclass, k: 10, density: 0.8})
	c := Config{Kind: KindLinear, Inputs: 21, Outputs: 10}
	reused := mustModel(c)
	theta := randomTheta(rnd, reused, 0.3)
	rows := dense.View(shard.Range{Lo: 0, Hi: 9})
	for step := range 8 {
		switch step {
		case 0, 1: // unchanged
		case 2:
			theta[5] = math.Nextafter(theta[5], 1)
		case 3:
			theta[7] = 0
		case 4:
			theta[7] = math.Copysign(0, -1)
		default:
			theta[rnd.IntN(len(theta))] = rnd.NormFloat64()
		}
		got, want := make([]float64, len(theta)), make([]float64, len(theta))
		if step%2 == 1 { // a gradient that does not start at +0
			for i := range got {
				got[i] = float64(i%5) - 2
				want[i] = got[i]
			}
			got[3], want[3] = math.Copysign(0, -1), math.Copysign(0, -1)
		}
		l, w := reused.Accumulate(got, theta, rows, f, nil)
		lf, wf := mustModel(c).Accumulate(want, theta, rows, f, nil)
		if l != lf || w != wf {
			t.Fatalf("step %d: reused model (%v, %v), fresh (%v, %v)", step, l, w, lf, wf)
		}
		for i := range got {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("step %d: reused ∂θ[%d] = %v, fresh %v", step, i, got[i], want[i])
			}
		}
	}
}
