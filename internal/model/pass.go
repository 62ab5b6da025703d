package model

import (
	"fmt"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/shard"
)

// checkPass panics unless the arguments of a pass fit a model of config c:
// θ (and grad, when non-nil) of NumParams entries, a loss with Outputs
// logits and rows of at most Inputs features (a data set with fewer columns
// than the model's inputs is read as zero-padded).
func checkPass(c Config, grad, theta []float64, rows shard.Rows, f loss.Func) {
	n := c.NumParams()
	if len(theta) != n {
		panic(fmt.Sprintf("model: θ has %d parameters, model has %d", len(theta), n))
	}
	if grad != nil && len(grad) != n {
		panic(fmt.Sprintf("model: gradient has %d entries, model has %d", len(grad), n))
	}
	if f != nil && f.Logits() != c.Outputs {
		panic(fmt.Sprintf("model: loss takes %d logits, model has %d", f.Logits(), c.Outputs))
	}
	checkRows(c, rows)
}

// checkRows panics unless rows fit a model of config c.
func checkRows(c Config, rows shard.Rows) {
	if rows.Len() == 0 {
		return
	}
	if rows.D == nil {
		panic("model: rows without a dataset")
	}
	if cols := rows.D.X.Cols; cols > c.Inputs {
		panic(fmt.Sprintf("model: rows have %d features, model has %d inputs", cols, c.Inputs))
	}
}

// denseRow returns row r of a dense matrix.
func denseRow(x *shard.Matrix, r int) []float32 {
	c := x.Cols
	return x.Dense[r*c : (r+1)*c : (r+1)*c]
}

// sparseRow returns the nonzero columns and values of row r of a CSR matrix.
func sparseRow(x *shard.Matrix, r int) ([]int32, []float32) {
	lo, hi := x.Indptr[r], x.Indptr[r+1]
	return x.Indices[lo:hi:hi], x.Values[lo:hi:hi]
}

// targets returns row r's target columns.
func targets(d *shard.Dataset, r int) []float32 {
	return d.Y[r*d.K : (r+1)*d.K : (r+1)*d.K]
}

// weight returns row r's example weight (1 when the dataset has none).
func weight(d *shard.Dataset, r int) float64 {
	if d.Weights == nil {
		return 1
	}
	return d.Weights[r]
}

// observe hands one row to obs, preferring RowObserver.
func observe(obs Observer, ro RowObserver, z, t []float64, y []float32, w float64) {
	switch {
	case ro != nil:
		ro.ObserveRow(z, t, y, w)
	case obs != nil:
		obs.Observe(z, t, w)
	}
}

// penalty returns ½ Σ_l ‖W_l‖² (summed in layer, then row-major order) and
// adds λ·W_l to grad's weights when grad is non-nil.
func penalty(spans []span, grad, theta []float64, lambda float64) float64 {
	s := 0.0
	for _, sp := range spans {
		w := sp.w(theta)
		for _, v := range w {
			s += float64(v * v)
		}
		if grad != nil {
			axpy(sp.w(grad), lambda, w)
		}
	}
	return s / 2
}
