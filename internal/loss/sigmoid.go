package loss

// Sigmoid is the sum of log loss over n labels, one sigmoid per logit
// (MATH.md §3): one-vs-all for single-label data, the natural loss for
// multi-label data. For logits z and targets t ∈ [0, 1]^n, ŷ_k = σ(z_k):
//
//	L(z, t) = Σ_k c_k·[ −t_k·log ŷ_k − (1 − t_k)·log(1 − ŷ_k) ]
//	∂L/∂z_k = c_k·(ŷ_k − t_k)
//
// where c_k is the k-th class weight (1 without class weights). Each term is
// evaluated as in [Logistic], so the loss is finite for every finite z whose
// exact loss is at most MaxFloat64, which holds whenever n·max|z_k| does.
type Sigmoid struct {
	n   int       // number of labels
	eps float64   // label smoothing ε
	c   []float64 // per-label weights, nil for unit weights
}

var _ Func = Sigmoid{}

// Logits returns the number of labels.
func (f Sigmoid) Logits() int { return f.n }

// Target writes t_k = (1 − ε)·y_k + ε/2 into dst. It panics unless dst and
// y have length n.
func (f Sigmoid) Target(dst []float64, y []float32) {
	checkLen("Sigmoid.Target", f.n, len(dst), len(y))
	for k, v := range y {
		dst[k] = smoothBinary(float64(v), f.eps)
	}
}

// Eval returns L(z, t) and, unless g is nil, writes ∂L/∂z into g. It panics
// unless z, t and a non-nil g have length n.
func (f Sigmoid) Eval(g, z, t []float64) float64 {
	checkLen("Sigmoid.Eval", f.n, len(z), len(t))
	if g != nil {
		checkLen("Sigmoid.Eval", f.n, len(g))
	}
	var l float64
	for k, zk := range z {
		lk, dk := logLoss(zk, t[k])
		if f.c != nil {
			lk *= f.c[k]
			dk *= f.c[k]
		}
		l += lk
		if g != nil {
			g[k] = dk
		}
	}
	return l
}

// Prob writes ŷ_k = σ(z_k) into yhat. It panics unless yhat and z have
// length n.
func (f Sigmoid) Prob(yhat, z []float64) {
	checkLen("Sigmoid.Prob", f.n, len(yhat), len(z))
	for k, v := range z {
		yhat[k] = sigmoid(v)
	}
}
