package loss

import "fmt"

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

var _ Rows = Sigmoid{}

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

// TargetRows implements [Rows].
func (f Sigmoid) TargetRows(dst []float64, y []float32) {
	checkLen("Sigmoid.TargetRows", len(dst), len(y))
	if len(dst)%f.n != 0 {
		panic(fmt.Sprintf("loss: Sigmoid.TargetRows: %d targets is not a multiple of %d", len(dst), f.n))
	}
	smoothRows(dst, y, f.eps)
}

// Eval returns L(z, t) and, unless g is nil, writes ∂L/∂z into g. It panics
// unless z, t and a non-nil g have length n.
func (f Sigmoid) Eval(g, z, t []float64) float64 {
	checkLen("Sigmoid.Eval", f.n, len(z), len(t))
	if g != nil {
		checkLen("Sigmoid.Eval", f.n, len(g))
	}
	var l [1]float64
	f.evalRows(l[:], g, z, t)
	return l[0]
}

// EvalRows implements [Rows].
func (f Sigmoid) EvalRows(l, g, z, t []float64) {
	checkLen("Sigmoid.EvalRows", len(l)*f.n, len(z), len(t), len(g))
	f.evalRows(l, g, z, t)
}

// evalRows is EvalRows on checked lengths; g may be nil. Row i's loss is
// Σ_k c_k·L(z_ik, t_ik), summed in k order; the binary log losses are
// evaluated in chunks of sigmoidChunk logits, across row boundaries.
func (f Sigmoid) evalRows(l, g, z, t []float64) {
	var lk, dk [sigmoidChunk]float64
	clear(l)
	for lo := 0; lo < len(z); lo += sigmoidChunk {
		m := min(sigmoidChunk, len(z)-lo)
		d := dk[:m]
		if g != nil {
			d = g[lo : lo+m]
		}
		logLosses(lk[:m], d, z[lo:lo+m], t[lo:lo+m])
		for j, v := range lk[:m] {
			i, k := (lo+j)/f.n, (lo+j)%f.n
			if f.c != nil {
				v *= f.c[k]
				d[j] *= f.c[k]
			}
			l[i] += v
		}
	}
}

// sigmoidChunk is the number of logits Sigmoid evaluates at a time.
const sigmoidChunk = 64

// Prob writes ŷ_k = σ(z_k) into yhat. It panics unless yhat and z have
// length n.
func (f Sigmoid) Prob(yhat, z []float64) {
	checkLen("Sigmoid.Prob", f.n, len(yhat), len(z))
	for k, v := range z {
		yhat[k] = sigmoid(v)
	}
}
