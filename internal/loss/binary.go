package loss

import "math"

// Logistic is binary log loss on one logit (MATH.md §1). For logit z and
// target t ∈ [0, 1], with ŷ = σ(z) = 1/(1 + e^(−z)):
//
//	L(z, t) = −t·log ŷ − (1 − t)·log(1 − ŷ)
//	        = max(z, 0) − z·t + log1p(e^(−|z|))
//	∂L/∂z   = ŷ − t
//
// Eval evaluates the second line as z·(1 − t) + log1p(e^(−z)) for z ≥ 0 and
// −z·t + log1p(e^z) for z < 0, which never overflows for finite z (the
// product is at most |z|) and keeps full relative accuracy, and writes the
// gradient as (1 − t) − σ(−z) for z ≥ 0 so that it, too, keeps its relative
// accuracy when ŷ is close to 1.
//
// With class weights (c0, c1) the loss and gradient are multiplied by
// c(t) = c0·(1 − t) + c1·t, the weight of the negative class mixed with that
// of the positive one in the proportion of the (possibly smoothed) target.
//
// The zero value is the plain loss: no label smoothing, unit class weights.
type Logistic struct {
	eps float64   // label smoothing ε
	c   []float64 // class weights (c0, c1), nil for unit weights
}

var _ Rows = Logistic{}

// Logits returns 1.
func (Logistic) Logits() int { return 1 }

// Target writes t = (1 − ε)·y + ε/2 into dst[0]. It panics unless len(dst)
// and len(y) are 1.
func (f Logistic) Target(dst []float64, y []float32) {
	checkLen("Logistic.Target", 1, len(dst), len(y))
	dst[0] = smoothBinary(float64(y[0]), f.eps)
}

// TargetRows implements [Rows].
func (f Logistic) TargetRows(dst []float64, y []float32) {
	checkLen("Logistic.TargetRows", len(dst), len(y))
	smoothRows(dst, y, f.eps)
}

// Eval returns L(z, t) and, unless g is nil, writes ∂L/∂z into g[0]. It
// panics unless z, t and a non-nil g have length 1.
func (f Logistic) Eval(g, z, t []float64) float64 {
	checkLen("Logistic.Eval", 1, len(z), len(t))
	l, d := logLoss(z[0], t[0])
	if f.c != nil {
		c := f.c[0]*(1-t[0]) + f.c[1]*t[0]
		l *= c
		d *= c
	}
	if g != nil {
		checkLen("Logistic.Eval", 1, len(g))
		g[0] = d
	}
	return l
}

// EvalRows implements [Rows].
func (f Logistic) EvalRows(l, g, z, t []float64) {
	checkLen("Logistic.EvalRows", len(l), len(z), len(t), len(g))
	logLosses(l, g, z, t)
	if f.c == nil {
		return
	}
	for i, ti := range t {
		c := f.c[0]*(1-ti) + f.c[1]*ti
		l[i] *= c
		g[i] *= c
	}
}

// Prob writes ŷ = σ(z) into yhat[0]. It panics unless yhat and z have
// length 1.
func (Logistic) Prob(yhat, z []float64) {
	checkLen("Logistic.Prob", 1, len(yhat), len(z))
	yhat[0] = sigmoid(z[0])
}

// BinarySoftmax is softmax cross-entropy on two logits z = (z0, z1), the
// negative and the positive class, for binary data (MATH.md §2 with n = 2).
// A data row's label y ∈ [0, 1] becomes the target t = (1 − y', y') with
// y' = (1 − ε)·y + ε/2, and
//
//	L(z, t) = logsumexp(z) − t0·z0 − t1·z1
//	∂L/∂z   = softmax(z) − t
//
// evaluated as for [Softmax]. Logistic is BinarySoftmax with z0 pinned at 0:
// the loss and ∂L/∂z1 agree (MATH.md §4.1), but a free two-logit model has
// twice the parameters and moves both logits.
//
// With class weights (c0, c1) the loss and gradient are multiplied by
// c(t) = c0·t0 + c1·t1, which is c0·(1 − y') + c1·y' as for Logistic.
//
// The zero value is the plain loss: no label smoothing, unit class weights.
type BinarySoftmax struct {
	eps float64   // label smoothing ε
	c   []float64 // class weights (c0, c1), nil for unit weights
}

var _ Func = BinarySoftmax{}

// Logits returns 2.
func (BinarySoftmax) Logits() int { return 2 }

// Target writes t = (1 − y', y'), y' = (1 − ε)·y + ε/2, into dst. It panics
// unless len(dst) is 2 and len(y) is 1.
func (f BinarySoftmax) Target(dst []float64, y []float32) {
	checkLen("BinarySoftmax.Target", 2, len(dst))
	checkLen("BinarySoftmax.Target", 1, len(y))
	p := smoothBinary(float64(y[0]), f.eps)
	dst[0], dst[1] = 1-p, p
}

// Eval returns L(z, t) and, unless g is nil, writes ∂L/∂z into g. It panics
// unless z, t and a non-nil g have length 2. t must be a distribution
// (t0 + t1 = 1), as Target writes.
func (f BinarySoftmax) Eval(g, z, t []float64) float64 {
	checkLen("BinarySoftmax.Eval", 2, len(z), len(t))
	if g != nil {
		checkLen("BinarySoftmax.Eval", 2, len(g))
	}
	return softmaxEval(g, z, t, f.c)
}

// Prob writes ŷ = softmax(z) into yhat. It panics unless yhat and z have
// length 2.
func (BinarySoftmax) Prob(yhat, z []float64) {
	checkLen("BinarySoftmax.Prob", 2, len(yhat), len(z))
	softmax(yhat, z)
}

// smoothBinary returns the smoothed binary target (1 − ε)·y + ε/2.
func smoothBinary(y, eps float64) float64 {
	if eps == 0 {
		return y
	}
	return (1-eps)*y + eps/2
}

// smoothRows writes smoothBinary(y[i], eps) into dst[i], len(dst) = len(y).
func smoothRows(dst []float64, y []float32, eps float64) {
	y = y[:len(dst)]
	if eps == 0 {
		for i, v := range y {
			dst[i] = float64(v)
		}
		return
	}
	for i, v := range y {
		dst[i] = smoothBinary(float64(v), eps)
	}
}

// sigmoid returns σ(z) = 1/(1 + e^(−z)) without overflow.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
