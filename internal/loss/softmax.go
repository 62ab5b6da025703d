package loss

import (
	"fmt"
	"math"
)

// Softmax is softmax cross-entropy over n ≥ 2 classes (MATH.md §2). For
// logits z and a target distribution t (Σt = 1), with
// ŷ = softmax(z), ŷ_i = e^(z_i) / Σ_j e^(z_j):
//
//	L(z, t) = −Σ_i t_i·log ŷ_i = logsumexp(z) − Σ_i t_i·z_i
//	        = log Σ_j e^(z_j − m) + Σ_{i: t_i > 0} t_i·(m − z_i),  m = max_j z_j
//	∂L/∂z_k = ŷ_k − t_k,  ŷ_k = e^(z_k − m) / Σ_j e^(z_j − m)
//
// Eval evaluates the last line. Every exponent is ≤ 0 and the sum is in
// [1, n], so nothing overflows: a difference z_j − m below −MaxFloat64 (say
// z = (1e308, −1e308)) becomes −Inf and its exponential 0, and terms with
// t_i = 0 are skipped so that 0·∞ never arises. The loss is finite whenever
// its exact value is at most MaxFloat64 ≈ 1.8e308, which holds for all
// logits in [−8.9e307, 8.9e307]; beyond that (z = (1e308, −1e308) with all
// the target on the second class has loss 2e308) it is +Inf. The gradient is
// in [−1, 1] for every finite z.
//
// With class weights c the loss and gradient are multiplied by
// c(t) = Σ_k c_k·t_k, the class weight of a one-hot target and the
// target-weighted mean of the class weights for a soft one.
type Softmax struct {
	n   int       // number of classes
	eps float64   // label smoothing ε
	c   []float64 // class weights, nil for unit weights
}

var _ Rows = Softmax{}

// Logits returns the number of classes.
func (f Softmax) Logits() int { return f.n }

// Target writes t = (1 − ε)·y/Σy + ε/n into dst: the labels normalised to a
// distribution, then smoothed. A multi-label row with k labels gets 1/k on
// each (MATH.md §4.3); a row with no label at all (Σy = 0) gets the uniform
// target 1/n. It panics unless dst and y have length n.
func (f Softmax) Target(dst []float64, y []float32) {
	checkLen("Softmax.Target", f.n, len(dst), len(y))
	var s float64
	for _, v := range y {
		s += float64(v)
	}
	n := float64(f.n)
	if !(s > 0) {
		for i := range dst {
			dst[i] = 1 / n
		}
		return
	}
	for i, v := range y {
		ti := float64(v)
		if s != 1 {
			ti /= s
		}
		if f.eps != 0 {
			ti = (1-f.eps)*ti + f.eps/n
		}
		dst[i] = ti
	}
}

// Eval returns L(z, t) and, unless g is nil, writes ∂L/∂z into g. It panics
// unless z, t and a non-nil g have length n. t must be a distribution, as
// Target writes; the gradient is ŷ − t for any t, but the loss is the
// cross-entropy only when Σt = 1.
func (f Softmax) Eval(g, z, t []float64) float64 {
	checkLen("Softmax.Eval", f.n, len(z), len(t))
	if g != nil {
		checkLen("Softmax.Eval", f.n, len(g))
	}
	return softmaxEval(g, z, t, f.c)
}

// TargetRows implements [Rows].
func (f Softmax) TargetRows(dst []float64, y []float32) {
	checkLen("Softmax.TargetRows", len(dst), len(y))
	if len(dst)%f.n != 0 {
		panic(fmt.Sprintf("loss: Softmax.TargetRows: %d targets is not a multiple of %d", len(dst), f.n))
	}
	for i := 0; i < len(dst); i += f.n {
		f.Target(dst[i:i+f.n], y[i:i+f.n])
	}
}

// EvalRows implements [Rows]: Eval row after row, with the exponentials
// of all the rows taken at once in g.
func (f Softmax) EvalRows(l, g, z, t []float64) {
	checkLen("Softmax.EvalRows", len(l)*f.n, len(z), len(t), len(g))
	n := f.n
	for i := range l {
		softmaxShift(g[i*n:(i+1)*n], z[i*n:(i+1)*n])
	}
	expsNonPos(g)
	for i := range l {
		s := i * n
		l[i] = softmaxFinish(g[s:s+n], z[s:s+n], t[s:s+n], f.c)
	}
}

// Prob writes ŷ = softmax(z) into yhat. It panics unless yhat and z have
// length n.
func (f Softmax) Prob(yhat, z []float64) {
	checkLen("Softmax.Prob", f.n, len(yhat), len(z))
	softmax(yhat, z)
}

// maxShift returns m = max_j z_j and the first index a attaining it. NaN
// entries after the first are skipped; they make the sums NaN anyway.
func maxShift(z []float64) (m float64, a int) {
	m = z[0]
	for i, v := range z[1:] {
		if v > m {
			m, a = v, i+1
		}
	}
	return m, a
}

// softmax writes softmax(z) into yhat, using the max shift.
func softmax(yhat, z []float64) {
	m, _ := maxShift(z)
	var s float64
	for i, v := range z {
		e := math.Exp(v - m)
		yhat[i] = e
		s += e
	}
	for i := range yhat {
		yhat[i] /= s
	}
}

// softmaxEval is the softmax cross-entropy of z against t, with optional
// class weights c, in the form documented on Softmax. g may be nil. The
// caller has checked the lengths.
//
// The shifted sum is split as Σ_j e^(z_j − m) = 1 + r with r summing every
// term but the one of the first maximal logit a, so that log(1 + r) is
// evaluated as log1p(r) and 1 − ŷ_a as r/(1 + r): both keep their relative
// accuracy when the model is confident (r ≪ 1), as in Logistic. The
// exponentials are expNonPos's (every z_j − m ≤ 0), so that EvalRows,
// which takes a block's exponentials at once, gives the same bits.
func softmaxEval(g, z, t, c []float64) float64 {
	if g == nil {
		// No room for the exponentials: one at a time, the same bits.
		m, a := maxShift(z)
		var r float64
		for i, v := range z {
			if i != a {
				r += expNonPos(v - m)
			}
		}
		l, _ := softmaxLoss(z, t, c, m, r)
		return l
	}
	softmaxShift(g, z)
	expsNonPos(g)
	return softmaxFinish(g, z, t, c)
}

// softmaxShift writes z_i − m into e.
func softmaxShift(e, z []float64) {
	m, _ := maxShift(z)
	for i, v := range z {
		e[i] = v - m
	}
}

// softmaxFinish is softmaxEval given e^(z_i − m) in g, which it replaces
// by the gradient.
func softmaxFinish(g, z, t, c []float64) float64 {
	m, a := maxShift(z)
	var r float64
	for i, e := range g {
		if i != a {
			r += e
		}
	}
	l, w := softmaxLoss(z, t, c, m, r)
	s := 1 + r
	for i, e := range g {
		if i == a {
			g[i] = w * ((1 - t[i]) - r/s)
		} else {
			g[i] = w * (e/s - t[i])
		}
	}
	return l
}

// softmaxLoss returns the loss given m and r, and the row's weight w.
func softmaxLoss(z, t, c []float64, m, r float64) (l, w float64) {
	l = math.Log1p(r)
	for i, ti := range t {
		if ti == 0 {
			continue // skip 0·(m − z_i), which may be 0·∞
		}
		if d := m - z[i]; !math.IsInf(d, 1) {
			l += ti * d
		} else {
			// m − z_i exceeds MaxFloat64, but t_i·(m − z_i) may not.
			l += ti*m - ti*z[i]
		}
	}
	w = 1.0
	if c != nil {
		w = 0
		for k, ck := range c {
			w += ck * t[k]
		}
		l *= w
	}
	return l, w
}
